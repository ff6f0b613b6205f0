// Buf<T, M>, the growable array resident, under the exclusive leases Raw and Ptr,
// over a Pack and over a Pool: byte-exact accounting of small Bufs, growth that
// must move (and keep the contents), insert/remove, non-trivial elements, stow
// with fault injection, and differential runs against std::vector.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "support/lease_env.hpp"
#include "swim/mem.hpp"

namespace swim::mem {
namespace {

alignas(4096) std::byte g_a0[4096];
alignas(4096) std::byte g_a1[4096];
using testing::Combo;
using testing::expect_same_stats;
using testing::g_big;
using testing::PackEnv;
using testing::PoolEnv;
using testing::PtrKind;
using testing::RawKind;

template <class T>
std::vector<T> contents(const T* first, std::size_t n) {
  return std::vector<T>(first, first + n);
}


// ---- Element types that watch what the Buf does with them ------------------------

/// Counts live objects and catches use of destroyed or moved-from ones. Not
/// assignable: a Buf only ever constructs and destroys its elements.
struct Tracked {
  static constexpr std::uint32_t alive = 0x600DF00Du;
  static constexpr std::uint32_t dead = 0xDEADBEEFu;
  static inline long live = 0;
  static inline long moves = 0;

  std::uint32_t magic;
  int v;

  explicit Tracked(int x = 0) : magic(alive), v(x) { ++live; }
  Tracked(const Tracked& o) : magic(alive), v(o.v) {
    EXPECT_EQ(o.magic, alive) << "copy from a dead object";
    EXPECT_NE(o.v, moved_from) << "copy from a moved-from object";
    ++live;
  }
  Tracked(Tracked&& o) noexcept : magic(alive), v(o.v) {
    EXPECT_EQ(o.magic, alive) << "move from a dead object";
    EXPECT_NE(o.v, moved_from) << "move from a moved-from object";
    o.v = moved_from;
    ++live;
    ++moves;
  }
  Tracked& operator=(const Tracked&) = delete;
  Tracked& operator=(Tracked&&) = delete;
  ~Tracked() {
    EXPECT_EQ(magic, alive) << "double destruction";
    magic = dead;
    --live;
  }
  static constexpr int moved_from = -1000000;
};

int value_of(int x) { return x; }
int value_of(const Tracked& t) { return t.v; }

template <class B>
std::vector<int> values(const B& buf) {
  std::vector<int> out;
  for (const auto& e : buf) out.push_back(value_of(e));
  return out;
}

// ---- Byte-exact accounting of small Bufs ------------------------------------------

// Two Bufs in a Pack: growth from empty (allocate) and in place (the Buf is the
// Pack's most recent object). The Pack has no in-band header: capacity 4096, an
// object costs its size rounded to 8 plus an 8-byte tag.
TEST(BufCrate, PackWithRawBufs) {
  Pack<> pack(Block{g_a0, sizeof g_a0});
  const HoldRef h = HoldRef::of(pack);
  {
    Raw<Buf<std::size_t>> xs = Raw<Buf<std::size_t>>::try_empty(h).take();
    EXPECT_EQ(pack.stats().live, 1u) << "a zero-size object";
    EXPECT_EQ(pack.stats().bytes_in_use, 0u);
    EXPECT_EQ(pack.stats().bytes_free, 4096u);
    ASSERT_EQ(xs.try_push(5), Error::none);
    EXPECT_EQ(pack.stats().live, 1u);
    EXPECT_EQ(pack.stats().bytes_in_use, 8u);
    EXPECT_EQ(pack.stats().bytes_free, 4080u);
    ASSERT_EQ(xs.try_push(9), Error::none);
    EXPECT_EQ(pack.stats().bytes_in_use, 16u);
    EXPECT_EQ(pack.stats().bytes_free, 4072u) << "grown in place";
    EXPECT_EQ(contents(xs.data(), xs.size()), (std::vector<std::size_t>{5, 9}));
    {
      Raw<Buf<std::size_t>> ys = Raw<Buf<std::size_t>>::try_empty(h).take();
      EXPECT_EQ(pack.stats().live, 2u);
      EXPECT_EQ(pack.stats().bytes_in_use, 16u);
      ASSERT_EQ(ys.try_push(11), Error::none);
      EXPECT_EQ(pack.stats().bytes_in_use, 24u);
      ASSERT_EQ(ys.try_push(13), Error::none);
      EXPECT_EQ(pack.stats().bytes_in_use, 32u);
      EXPECT_EQ(pack.stats().bytes_free, 4096u - 48u);
      EXPECT_EQ(contents(ys.data(), ys.size()), (std::vector<std::size_t>{11, 13}));
      EXPECT_EQ(contents(xs.data(), xs.size()), (std::vector<std::size_t>{5, 9}));
    }
    EXPECT_EQ(pack.stats().live, 1u);
    EXPECT_EQ(pack.stats().bytes_in_use, 16u);
    EXPECT_EQ(pack.stats().bytes_free, 4072u) << "ys was on top: its bytes came back";
  }
  EXPECT_EQ(pack.stats().live, 0u);
  EXPECT_EQ(pack.stats().bytes_in_use, 0u);
  EXPECT_EQ(pack.stats().bytes_free, 4096u);
}

// The same through Ptr: the 16-byte metadata {len, cap} sits in the object.
TEST(BufCrate, PackWithPtrBufs) {
  static_assert(sizeof(Ptr<Buf<std::size_t>>) == sizeof(void*));
  static_assert(sizeof(BufMeta<>) == 2 * sizeof(std::size_t), "empty user metadata is free");
  Pack<> pack(Block{g_a0, sizeof g_a0});
  const HoldRef h = HoldRef::of(pack);
  {
    Ptr<Buf<std::size_t>> xs = Ptr<Buf<std::size_t>>::try_empty(h).take();
    EXPECT_EQ(pack.stats().live, 1u);
    EXPECT_EQ(pack.stats().bytes_in_use, 16u);
    ASSERT_EQ(xs.try_push(5), Error::none);
    EXPECT_EQ(pack.stats().bytes_in_use, 24u);
    ASSERT_EQ(xs.try_push(9), Error::none);
    EXPECT_EQ(pack.stats().bytes_in_use, 32u);
    {
      Ptr<Buf<std::size_t>> ys = Ptr<Buf<std::size_t>>::try_empty(h).take();
      EXPECT_EQ(pack.stats().bytes_in_use, 48u);
      ASSERT_EQ(ys.try_push(11), Error::none);
      ASSERT_EQ(ys.try_push(13), Error::none);
      EXPECT_EQ(pack.stats().bytes_in_use, 64u);
      EXPECT_EQ(contents(ys.data(), ys.size()), (std::vector<std::size_t>{11, 13}));
    }
    EXPECT_EQ(pack.stats().live, 1u);
    EXPECT_EQ(pack.stats().bytes_in_use, 32u);
    EXPECT_EQ(contents(xs.data(), xs.size()), (std::vector<std::size_t>{5, 9}));
  }
  EXPECT_EQ(pack.stats().live, 0u);
  EXPECT_EQ(pack.stats().bytes_free, 4096u);
}

// The same two Bufs over a Slab-fed Pool (live objects and bytes in use only).
TEST(BufCrate, PoolWithRawBufs) {
  Slab<concurrent, true> slab(Block{g_a1, sizeof g_a1}, 1024);
  Pool<Slab<concurrent, true>> pool(slab, 1024);
  const HoldRef h = HoldRef::of(pool);
  {
    Raw<Buf<std::size_t>> xs = Raw<Buf<std::size_t>>::try_empty(h).take();
    EXPECT_EQ(pool.stats().live, 1u);
    EXPECT_EQ(pool.stats().bytes_in_use, 0u);
    ASSERT_EQ(xs.try_push(5), Error::none);
    EXPECT_EQ(pool.stats().bytes_in_use, 8u);
    ASSERT_EQ(xs.try_push(9), Error::none);
    EXPECT_EQ(pool.stats().bytes_in_use, 16u);
    {
      Raw<Buf<std::size_t>> ys = Raw<Buf<std::size_t>>::try_empty(h).take();
      EXPECT_EQ(pool.stats().live, 2u);
      ASSERT_EQ(ys.try_push(11), Error::none);
      ASSERT_EQ(ys.try_push(13), Error::none);
      EXPECT_EQ(pool.stats().bytes_in_use, 32u);
    }
    EXPECT_EQ(pool.stats().live, 1u);
    EXPECT_EQ(pool.stats().bytes_in_use, 16u);
    EXPECT_EQ(contents(xs.data(), xs.size()), (std::vector<std::size_t>{5, 9}));
  }
  EXPECT_EQ(pool.stats().live, 0u);
  EXPECT_EQ(pool.stats().bytes_in_use, 0u);
}

// A Raw<Buf<size_t>> copied from an array {5, 9}: exactly two elements' room.
TEST(BufCrate, RawFromSlice) {
  Pack<> pack(Block{g_a0, sizeof g_a0});
  {
    const std::size_t src[] = {5, 9};
    Result<Raw<Buf<std::size_t>>> x = Raw<Buf<std::size_t>>::try_from(HoldRef::of(pack), src, 2);
    ASSERT_TRUE(x.ok());
    EXPECT_EQ(pack.stats().bytes_in_use, 16u);
    EXPECT_EQ(pack.stats().bytes_free, 4072u);
    EXPECT_EQ(x->size(), 2u);
    EXPECT_EQ(x->capacity(), 2u);
    EXPECT_EQ(contents(x->data(), x->size()), (std::vector<std::size_t>{5, 9}));
  }
  EXPECT_EQ(pack.stats().live, 0u);
}

// A Raw<Buf<size_t>> made with capacity 2: pushing two elements allocates nothing.
TEST(BufCrate, RawWithCapacity) {
  Pack<> pack(Block{g_a0, sizeof g_a0});
  {
    Raw<Buf<std::size_t>> x = Raw<Buf<std::size_t>>::try_with_capacity(HoldRef::of(pack), 2).take();
    EXPECT_EQ(pack.stats().bytes_in_use, 16u);
    EXPECT_EQ(pack.stats().bytes_free, 4072u);
    EXPECT_EQ(x.size(), 0u);
    EXPECT_EQ(x.capacity(), 2u);
    ASSERT_EQ(x.try_push(5), Error::none);
    ASSERT_EQ(x.try_push(9), Error::none);
    EXPECT_EQ(pack.stats().bytes_in_use, 16u) << "no reallocation";
    EXPECT_EQ(pack.stats().bytes_free, 4072u);
    EXPECT_EQ(x.capacity(), 2u);
    EXPECT_EQ(x.size(), 2u);
    EXPECT_EQ(contents(x.data(), x.size()), (std::vector<std::size_t>{5, 9}));
  }
  EXPECT_EQ(pack.stats().live, 0u);
}

// ---- Basic interface --------------------------------------------------------------

TEST(Buf, FactoriesAccessAndIterators) {
  Pack<> pack(Block{g_a0, sizeof g_a0});
  const HoldRef h = HoldRef::of(pack);
  {
    Raw<Buf<int>> f = Raw<Buf<int>>::try_filled(h, 4, 7).take();
    EXPECT_EQ(values(f), (std::vector<int>{7, 7, 7, 7}));
    f[1] = 1;
    f.back() = 3;
    f.front() = 0;
    const Raw<Buf<int>>& cf = f;
    EXPECT_EQ(cf[1], 1);
    EXPECT_EQ(cf.front(), 0);
    EXPECT_EQ(cf.back(), 3);
    int sum = 0;
    for (int v : cf) sum += v;
    EXPECT_EQ(sum, 0 + 1 + 7 + 3);
    for (int& v : f) v *= 2;
    EXPECT_EQ(values(f), (std::vector<int>{0, 2, 14, 6}));
    EXPECT_EQ(cf.end() - cf.begin(), 4);
    EXPECT_FALSE(cf.empty());

    Raw<Buf<int>> e = Raw<Buf<int>>::try_from(h, nullptr, 0).take();
    EXPECT_TRUE(e.empty());
    EXPECT_EQ(e.capacity(), 0u);
    EXPECT_EQ(e.begin(), e.end());
    EXPECT_EQ(Raw<Buf<int>>::try_from(h, nullptr, 3).error(), Error::invalid_argument);
  }
  EXPECT_EQ(pack.stats().live, 0u);
}

struct Pair {
  int a;
  long b;
  Pair(int x, long y) : a(x), b(y) {}
};

TEST(Buf, EmplaceConstructsFromArguments) {
  Pack<> pack(Block{g_a0, sizeof g_a0});
  auto b = Raw<Buf<Pair>>::try_empty(HoldRef::of(pack)).take();
  for (int i = 0; i < 20; ++i) ASSERT_EQ(b.try_emplace(i, 10L * i), Error::none);
  ASSERT_EQ(b.size(), 20u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(b[i].a, i);
    EXPECT_EQ(b[i].b, 10L * i);
  }
}

TEST(Buf, UserMetadataAndSizes) {
  static_assert(sizeof(Raw<Buf<int>>) == 3 * sizeof(void*));
  static_assert(sizeof(Ptr<Buf<int, double>>) == sizeof(void*));
  static_assert(std::is_trivially_copyable_v<BufMeta<int>>);
  Pack<> pack(Block{g_a0, sizeof g_a0});
  {
    auto p = Ptr<Buf<int, double>>::try_with_capacity(HoldRef::of(pack), 3, 2.5).take();
    EXPECT_EQ(p.metadata(), 2.5);
    p.metadata() = 4.0;
    for (int i = 0; i < 10; ++i) ASSERT_EQ(p.try_push(i), Error::none);  // grows (in place)
    EXPECT_EQ(p.metadata(), 4.0);
    auto blocker = Raw<Box<int>>::try_new(HoldRef::of(pack), 1);
    for (int i = 10; i < 40; ++i) ASSERT_EQ(p.try_push(i), Error::none);  // must move
    EXPECT_EQ(p.metadata(), 4.0) << "the metadata moves with the object";
    EXPECT_EQ(p.size(), 40u);
    for (int i = 0; i < 40; ++i) EXPECT_EQ(p[i], i);

    auto r = Raw<Buf<int, int>>::try_empty(HoldRef::of(pack), 17).take();
    EXPECT_EQ(r.metadata(), 17);
  }
  EXPECT_EQ(pack.stats().live, 0u);
}

struct alignas(32) Wide {
  std::uint64_t w[4];
};

TEST(Buf, OverAlignedElementsStayAligned) {
  Pack<> pack(Block{g_a0, sizeof g_a0});
  {
    auto r = Raw<Buf<Wide>>::try_empty(HoldRef::of(pack)).take();
    auto p = Ptr<Buf<Wide>>::try_empty(HoldRef::of(pack)).take();
    for (std::uint64_t i = 0; i < 12; ++i) {
      ASSERT_EQ(r.try_push(Wide{{i, i, i, i}}), Error::none);
      ASSERT_EQ(p.try_push(Wide{{i, i, i, i}}), Error::none);
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(r.data()) % 32, 0u);
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p.data()) % 32, 0u);
    }
    for (std::uint64_t i = 0; i < 12; ++i) {
      EXPECT_EQ(r[i].w[3], i);
      EXPECT_EQ(p[i].w[3], i);
    }
  }
  EXPECT_EQ(pack.stats().live, 0u);
}

TEST(Buf, NullLeaseIsEmptyAndRefusesChanges) {
  Pack<> pack(Block{g_a0, sizeof g_a0});
  auto a = Raw<Buf<int>>::try_filled(HoldRef::of(pack), 3, 1).take();
  Raw<Buf<int>> b = detail::move(a);
  EXPECT_EQ(a.size(), 0u);
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.try_push(1), Error::invalid_argument);
  EXPECT_EQ(a.try_reserve(4), Error::invalid_argument);
  EXPECT_EQ(a.pop().error(), Error::invalid_argument);
  EXPECT_EQ(a.try_insert(0, 1), Error::invalid_argument);
  EXPECT_EQ(a.try_resize(2, 0), Error::invalid_argument);
  a.clear();  // harmless
  EXPECT_EQ(b.size(), 3u);
  Ptr<Buf<int>> p;
  EXPECT_EQ(p.size(), 0u);
  EXPECT_EQ(p.try_push(1), Error::invalid_argument);
}

// ---- Insert and remove: shift from the index, take exactly one element -------------

TEST(Buf, InsertShiftsFromTheIndex) {
  Pack<> pack(Block{g_a0, sizeof g_a0});
  auto b = Raw<Buf<int>>::try_empty(HoldRef::of(pack)).take();
  for (int i = 0; i < 5; ++i) ASSERT_EQ(b.try_push(i), Error::none);
  ASSERT_EQ(b.try_insert(2, 42), Error::none);
  EXPECT_EQ(values(b), (std::vector<int>{0, 1, 42, 2, 3, 4}));
  ASSERT_EQ(b.try_insert(0, -1), Error::none);
  ASSERT_EQ(b.try_insert(b.size(), 99), Error::none);
  EXPECT_EQ(values(b), (std::vector<int>{-1, 0, 1, 42, 2, 3, 4, 99}));
  const std::size_t cap = b.capacity();
  EXPECT_EQ(b.try_insert(b.size() + 1, 7), Error::invalid_argument);
  EXPECT_EQ(values(b), (std::vector<int>{-1, 0, 1, 42, 2, 3, 4, 99}));
  EXPECT_EQ(b.capacity(), cap);
}

TEST(Buf, RemoveTakesExactlyOneElement) {
  Pack<> pack(Block{g_a0, sizeof g_a0});
  auto b = Raw<Buf<int>>::try_empty(HoldRef::of(pack)).take();
  for (int i = 0; i < 6; ++i) ASSERT_EQ(b.try_push(i), Error::none);
  EXPECT_EQ(b.remove(6).error(), Error::invalid_argument) << "index == size() is out of range";
  EXPECT_EQ(b.size(), 6u);
  Result<int> r = b.remove(2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 2);
  EXPECT_EQ(values(b), (std::vector<int>{0, 1, 3, 4, 5}));
  EXPECT_EQ(b.remove(4).take(), 5);
  EXPECT_EQ(b.remove(0).take(), 0);
  EXPECT_EQ(values(b), (std::vector<int>{1, 3, 4}));
  Result<int> p = b.pop();
  EXPECT_EQ(*p, 4);
  EXPECT_EQ(values(b), (std::vector<int>{1, 3}));
}

TEST(Buf, ArgumentsThatAliasTheBufSurviveGrowthAndShifts) {
  Pack<> pack(Block{g_a0, sizeof g_a0});
  auto b = Raw<Buf<Tracked>>::try_empty(HoldRef::of(pack)).take();
  for (int i = 0; i < 4; ++i) ASSERT_EQ(b.try_emplace(i), Error::none);
  auto blocker = Raw<Box<int>>::try_new(HoldRef::of(pack), 0);  // growth must move
  ASSERT_EQ(b.size(), b.capacity());
  ASSERT_EQ(b.try_push(b[1]), Error::none);  // full: moves, then copies b[1]
  ASSERT_EQ(b.try_insert(0, b[3]), Error::none);
  ASSERT_EQ(b.try_insert(2, b[5]), Error::none);
  EXPECT_EQ(values(b), (std::vector<int>{3, 0, 1, 1, 2, 3, 1}));
  ASSERT_EQ(b.try_resize(10, b[0]), Error::none);
  EXPECT_EQ(values(b), (std::vector<int>{3, 0, 1, 1, 2, 3, 1, 3, 3, 3}));
  ASSERT_EQ(b.try_resize(2), Error::none);
  EXPECT_EQ(values(b), (std::vector<int>{3, 0}));
  b = Raw<Buf<Tracked>>{};
  EXPECT_EQ(Tracked::live, 0);
}

// ---- Growth that must move, exhaustion, overflow (typed over lease and hold) -------

template <class C>
class BufGrowing : public ::testing::Test {};
using Combos = ::testing::Types<Combo<RawKind, PackEnv>, Combo<PtrKind, PackEnv>,
                                Combo<RawKind, PoolEnv>, Combo<PtrKind, PoolEnv>>;
TYPED_TEST_SUITE(BufGrowing, Combos);

// Growth that cannot happen in place moves the contents to the new object.
TYPED_TEST(BufGrowing, GrowthNotOnTopMovesTheContents) {
  using B = typename TypeParam::template Lease<Buf<int>>;
  typename TypeParam::Env env;
  {
    B b = B::try_empty(env.hold()).take();
    for (int i = 0; i < 8; ++i) ASSERT_EQ(b.try_push(i), Error::none);
    ASSERT_EQ(b.capacity(), 8u);
    const int* before = b.data();
    // Another object after the Buf: in-place growth is impossible now.
    auto blocker = Raw<Box<std::uint64_t>>::try_new(env.hold(), 77u);
    ASSERT_TRUE(blocker.ok());
    ASSERT_EQ(b.try_push(8), Error::none);
    EXPECT_NE(b.data(), before) << "the Buf moved";
    EXPECT_EQ(b.capacity(), 16u);
    std::vector<int> expect;
    for (int i = 0; i < 9; ++i) expect.push_back(i);
    EXPECT_EQ(values(b), expect);
    EXPECT_EQ(**blocker, 77u);
    EXPECT_EQ(env.hold().stats().live, 2u) << "the old object was freed";
  }
  EXPECT_EQ(env.hold().stats().live, 0u);
}

TYPED_TEST(BufGrowing, NonTrivialElementsMoveAndDieExactlyOnce) {
  using B = typename TypeParam::template Lease<Buf<Tracked>>;
  typename TypeParam::Env env;
  Tracked::live = 0;
  {
    B b = B::try_empty(env.hold()).take();
    std::vector<Raw<Box<int>>> blockers;
    for (int i = 0; i < 200; ++i) {
      ASSERT_EQ(b.try_emplace(i), Error::none);
      if (i % 7 == 0) blockers.push_back(Raw<Box<int>>::try_new(env.hold(), i).take());
    }
    EXPECT_EQ(Tracked::live, 200);
    for (int i = 0; i < 200; ++i) ASSERT_EQ(b[i].v, i);
    ASSERT_EQ(b.try_insert(100, Tracked(-5)), Error::none);
    EXPECT_EQ(b.remove(0)->v, 0);
    b.truncate(150);
    EXPECT_EQ(Tracked::live, 150);
    ASSERT_EQ(b.try_shrink_to_fit(), Error::none);
    EXPECT_EQ(b.capacity(), 150u);
    EXPECT_EQ(b[99].v, -5);
    EXPECT_EQ(b[98].v, 99);
    EXPECT_EQ(b[100].v, 100);
  }
  EXPECT_EQ(Tracked::live, 0);
  EXPECT_EQ(env.hold().stats().live, 0u);
}

TYPED_TEST(BufGrowing, BufsOfLeasesFreeTheirChildren) {
  using B = typename TypeParam::template Lease<Buf<Raw<Box<int>>>>;
  typename TypeParam::Env env;
  {
    B b = B::try_empty(env.hold()).take();
    for (int i = 0; i < 50; ++i) {
      ASSERT_EQ(b.try_push(Raw<Box<int>>::try_new(env.hold(), i).take()), Error::none);
    }
    EXPECT_EQ(env.hold().stats().live, 51u);
    for (int i = 0; i < 50; ++i) ASSERT_EQ(*b[i], i);
    Result<Raw<Box<int>>> r = b.remove(10);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(**r, 10);
    b.truncate(20);
    EXPECT_EQ(*b[19], 20);
  }
  EXPECT_EQ(env.hold().stats().live, 0u);
}

TYPED_TEST(BufGrowing, OverflowIsAnErrorAndChangesNothing) {
  using B = typename TypeParam::template Lease<Buf<std::uint64_t>>;
  typename TypeParam::Env env;
  EXPECT_EQ(B::try_with_capacity(env.hold(), ~std::size_t(0) / 4).error(), Error::oversized);
  B b = B::try_filled(env.hold(), 3, 1u).take();
  const Stats before = env.hold().stats();
  EXPECT_EQ(b.try_reserve(~std::size_t(0)), Error::oversized);
  EXPECT_EQ(b.try_reserve(~std::size_t(0) / 8), Error::oversized);
  EXPECT_EQ(b.try_reserve_exact(~std::size_t(0) - 1), Error::oversized);
  EXPECT_EQ(b.try_resize(~std::size_t(0) / 2, 0u), Error::oversized);
  EXPECT_EQ(b.size(), 3u);
  EXPECT_EQ(b.capacity(), 3u);
  expect_same_stats(env.hold().stats(), before);
}

// A hold that runs out: the failed growth leaves Buf and hold as they were.
template <class L>
void exhaust_and_check(HoldRef hold) {
  L b = L::try_empty(hold).take();
  std::vector<Raw<Box<std::uint64_t>>> blockers;
  int pushed = 0;
  Error e = Error::none;
  // Keep pushing, with a blocker after each growth so that growth must move.
  for (int i = 0; i < 1 << 20 && e == Error::none; ++i) {
    const std::size_t cap = b.capacity();
    e = b.try_push(i);
    if (e == Error::none) {
      ++pushed;
      if (b.capacity() != cap) {
        Result<Raw<Box<std::uint64_t>>> blk = Raw<Box<std::uint64_t>>::try_new(hold, 1u);
        if (blk) blockers.push_back(blk.take());
      }
    }
  }
  ASSERT_NE(e, Error::none);
  EXPECT_TRUE(e == Error::out_of_memory || e == Error::oversized) << to_string(e);
  const Stats before = hold.stats();
  const std::size_t cap = b.capacity();
  const int* data = b.data();
  EXPECT_EQ(b.try_push(-1), e);
  EXPECT_EQ(b.try_insert(0, -1), e);
  EXPECT_EQ(b.try_reserve(cap), e);
  EXPECT_EQ(b.try_resize(cap * 2, 3), e);
  expect_same_stats(hold.stats(), before);
  EXPECT_EQ(b.capacity(), cap);
  EXPECT_EQ(b.data(), data);
  ASSERT_EQ(b.size(), static_cast<std::size_t>(pushed));
  for (int i = 0; i < pushed; ++i) ASSERT_EQ(b[i], i);
  // Room that is there still works.
  b.truncate(0);
  EXPECT_EQ(b.try_push(5), Error::none);
}

TYPED_TEST(BufGrowing, ExhaustedHoldLeavesTheBufUnchanged) {
  using B = typename TypeParam::template Lease<Buf<int>>;
  if constexpr (std::is_same_v<typename TypeParam::Env, PackEnv>) {
    Pack<> pack(Block{g_a0, sizeof g_a0});
    exhaust_and_check<B>(HoldRef::of(pack));
    EXPECT_EQ(pack.stats().live, 0u);
  } else {
    Slab<concurrent, true> slab(Block{g_a0, sizeof g_a0}, 1024);
    Pool<Slab<concurrent, true>> pool(slab, 1024);
    exhaust_and_check<B>(HoldRef::of(pool));
    EXPECT_EQ(pool.stats().live, 0u);
  }
}

// ---- Stow ----------------------------------------------------------------------------

using BoxBuf = Raw<Buf<Raw<Box<int>>>>;

BoxBuf make_box_buf(HoldRef hold, int n) {
  BoxBuf b = BoxBuf::try_empty(hold).take();
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(b.try_push(Raw<Box<int>>::try_new(hold, 100 + i).take()), Error::none);
  }
  return b;
}

void expect_box_buf(const BoxBuf& b, int n) {
  ASSERT_EQ(b.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) EXPECT_EQ(*b[i], 100 + i);
}

TEST(BufStow, RawBufOfBoxesMovesWholeAndShrinksToFit) {
  Pack<> p0(Block{g_a0, sizeof g_a0});
  Pack<> p1(Block{g_a1, sizeof g_a1});
  {
    BoxBuf src = make_box_buf(HoldRef::of(p1), 10);
    EXPECT_EQ(src.capacity(), 16u);
    EXPECT_EQ(p1.stats().live, 11u);
    Result<BoxBuf> dst = try_stow(src, HoldRef::of(p0));
    ASSERT_TRUE(dst.ok());
    expect_box_buf(*dst, 10);
    EXPECT_EQ(dst->capacity(), 10u) << "shrunk to fit";
    EXPECT_FALSE(src) << "the source is consumed";
    EXPECT_EQ(p1.stats().live, 0u);
    EXPECT_EQ(p1.stats().bytes_in_use, 0u);
    EXPECT_EQ(p1.stats().bytes_free, 4096u) << "the source Pack reset";
    EXPECT_EQ(p0.stats().live, 11u);
    EXPECT_EQ(p0.stats().bytes_in_use, 10u * 8 + 10u * 8);
    for (const Raw<Box<int>>& child : *dst) EXPECT_TRUE(p0.owns(&*child));
  }
  EXPECT_EQ(p0.stats().live, 0u);
}

TEST(BufStow, EmptyAndTrivialBufs) {
  Pack<> p0(Block{g_a0, sizeof g_a0});
  Pack<> p1(Block{g_a1, sizeof g_a1});
  {
    auto e = Raw<Buf<int>>::try_with_capacity(HoldRef::of(p1), 8).take();
    Result<Raw<Buf<int>>> e0 = try_stow(e, HoldRef::of(p0));
    ASSERT_TRUE(e0.ok());
    EXPECT_EQ(e0->size(), 0u);
    EXPECT_EQ(e0->capacity(), 0u);
    EXPECT_EQ(p0.stats().live, 1u);
    EXPECT_EQ(p0.stats().bytes_in_use, 0u);
    auto p = Ptr<Buf<std::uint16_t, int>>::try_empty(HoldRef::of(p1), 9).take();
    for (std::uint16_t i = 0; i < 33; ++i) ASSERT_EQ(p.try_push(i), Error::none);
    Result<Ptr<Buf<std::uint16_t, int>>> p0b = try_stow(p, HoldRef::of(p0));
    ASSERT_TRUE(p0b.ok());
    EXPECT_EQ(p0b->metadata(), 9);
    EXPECT_EQ(p0b->capacity(), 33u);
    for (std::uint16_t i = 0; i < 33; ++i) EXPECT_EQ((*p0b)[i], i);
    EXPECT_EQ(p1.stats().live, 0u);
  }
  EXPECT_EQ(p0.stats().live, 0u);
}

// Fault injection: a target just too small for the N-th allocation of the stow
// (the buffer first, then each child), for every N.
TEST(BufStow, IsTransactionalAtEveryFailurePoint) {
  constexpr int n = 10;
  Pack<> source(Block{g_a1, sizeof g_a1});
  BoxBuf src = make_box_buf(HoldRef::of(source), n);
  const Stats src_before = source.stats();
  std::vector<std::size_t> costs;
  costs.push_back(8 + n * sizeof(Raw<Box<int>>));  // the buffer, shrunk to fit
  for (int i = 0; i < n; ++i) costs.push_back(8 + 8);  // tag + int rounded to 8
  std::size_t room = 0;
  for (std::size_t fail_at = 0; fail_at < costs.size(); ++fail_at) {
    Pack<> target(Block{g_a0, room + costs[fail_at] - 8});
    Result<BoxBuf> r = try_stow(src, HoldRef::of(target));
    ASSERT_FALSE(r.ok()) << "fail_at " << fail_at;
    EXPECT_EQ(r.error(), Error::out_of_memory);
    EXPECT_EQ(target.stats().live, 0u) << "fail_at " << fail_at;
    EXPECT_EQ(target.stats().bytes_in_use, 0u);
    expect_same_stats(source.stats(), src_before);
    expect_box_buf(src, n);
    room += costs[fail_at];
  }
  Pack<> target(Block{g_a0, room});
  Result<BoxBuf> r = try_stow(src, HoldRef::of(target));
  ASSERT_TRUE(r.ok());
  expect_box_buf(*r, n);
  EXPECT_EQ(target.stats().bytes_free, 0u) << "exactly the room it needed";
  EXPECT_EQ(source.stats().live, 0u);
  *r = BoxBuf{};
  EXPECT_EQ(target.stats().live, 0u);
}

// Unstow: a Buf already stowed is rolled back when a later sibling fails.
struct TwoParts {
  BoxBuf items;
  Raw<Box<std::uint64_t>> tail;
};

}  // namespace
}  // namespace swim::mem

template <>
struct swim::mem::stow_traits<swim::mem::TwoParts>
    : swim::mem::stow_members<swim::mem::TwoParts, &swim::mem::TwoParts::items,
                              &swim::mem::TwoParts::tail> {};

namespace swim::mem {
namespace {

TEST(BufStow, AStowedBufIsUnstowedWhenASiblingFails) {
  constexpr int n = 6;
  Pack<> source(Block{g_a1, sizeof g_a1});
  auto whole = Raw<Box<TwoParts>>::try_new(HoldRef::of(source)).take();
  whole->items = make_box_buf(HoldRef::of(source), n);
  whole->tail = Raw<Box<std::uint64_t>>::try_new(HoldRef::of(source), 5u).take();
  const Stats src_before = source.stats();
  // Room for the outer box, the buffer and its children, but not the tail.
  const std::size_t need = (8 + sizeof(TwoParts)) + (8 + n * 8) + n * 16;
  {
    Pack<> target(Block{g_a0, need + 8});
    Result<Raw<Box<TwoParts>>> r = try_stow(whole, HoldRef::of(target));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(target.stats().live, 0u);
    expect_same_stats(source.stats(), src_before);
    expect_box_buf(whole->items, n);
    EXPECT_EQ(*whole->tail, 5u);
  }
  Pack<> target(Block{g_a0, need + 16});
  Result<Raw<Box<TwoParts>>> r = try_stow(whole, HoldRef::of(target));
  ASSERT_TRUE(r.ok());
  expect_box_buf((*r)->items, n);
  EXPECT_EQ(*(*r)->tail, 5u);
  EXPECT_EQ(source.stats().live, 0u);
  *r = Raw<Box<TwoParts>>{};
  EXPECT_EQ(target.stats().live, 0u);
}

// ---- Differential runs against std::vector --------------------------------------------

enum class Op { push, push_self, emplace, pop, insert, insert_bad, remove, remove_bad, reserve,
                reserve_exact, resize, truncate, clear, shrink, block, unblock };

/// The capacity policy: the next power of two of the length needed.
std::size_t pow2_at_least(std::size_t n) {
  std::size_t p = 1;
  while (p < n) p *= 2;
  return p;
}

template <class B, class Elem, class Env>
void differential(Env& env, unsigned seed, int ops) {
  std::mt19937 rng(seed);
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  std::vector<int> model;
  std::size_t model_cap = 0;
  std::vector<Raw<Box<std::uint64_t>>> blockers;
  B b = B::try_empty(env.hold()).take();
  int moved = 0;
  std::size_t max_len = 0;
  auto grow_model = [&](std::size_t extra, bool exact) {
    if (model_cap - model.size() >= extra) return;
    model_cap = exact ? model.size() + extra : pow2_at_least(model.size() + extra);
  };
  for (int step = 0; step < ops; ++step) {
    // Keep the length in a few hundreds: shrink harder when it is long.
    const bool long_buf = model.size() > 300;
    const unsigned roll = static_cast<unsigned>(pick(100));
    Op op;
    if (roll < 22) op = long_buf ? Op::pop : Op::push;
    else if (roll < 27) op = Op::push_self;
    else if (roll < 32) op = Op::emplace;
    else if (roll < 42) op = Op::pop;
    else if (roll < 54) op = Op::insert;
    else if (roll < 56) op = Op::insert_bad;
    else if (roll < 68) op = Op::remove;
    else if (roll < 70) op = Op::remove_bad;
    else if (roll < 74) op = Op::reserve;
    else if (roll < 77) op = Op::reserve_exact;
    else if (roll < 82) op = Op::resize;
    else if (roll < 85) op = long_buf ? Op::truncate : Op::push;
    else if (roll < 86) op = pick(8) == 0 ? Op::clear : Op::push;  // rare: it resets the run
    else if (roll < 88) op = Op::shrink;
    else if (roll < 95) op = Op::block;
    else op = Op::unblock;

    const int v = static_cast<int>(rng() % 100000);
    const void* data_before = b.data();
    const std::size_t len_before = model.size();
    switch (op) {
      case Op::push:
        ASSERT_EQ(b.try_push(Elem(v)), Error::none);
        grow_model(1, false);
        model.push_back(v);
        break;
      case Op::push_self:
        if (model.empty()) break;
        {
          const std::size_t i = pick(model.size());
          ASSERT_EQ(b.try_push(b[i]), Error::none);
          grow_model(1, false);
          model.push_back(model[i]);
        }
        break;
      case Op::emplace:
        ASSERT_EQ(b.try_emplace(v), Error::none);
        grow_model(1, false);
        model.push_back(v);
        break;
      case Op::pop: {
        Result<Elem> r = b.pop();
        if (model.empty()) {
          ASSERT_EQ(r.error(), Error::invalid_argument);
        } else {
          ASSERT_TRUE(r.ok());
          ASSERT_EQ(value_of(*r), model.back());
          model.pop_back();
        }
        break;
      }
      case Op::insert: {
        const std::size_t i = pick(model.size() + 1);
        ASSERT_EQ(b.try_insert(i, Elem(v)), Error::none);
        grow_model(1, false);
        model.insert(model.begin() + static_cast<std::ptrdiff_t>(i), v);
        break;
      }
      case Op::insert_bad:
        ASSERT_EQ(b.try_insert(model.size() + 1 + pick(3), Elem(v)), Error::invalid_argument);
        break;
      case Op::remove: {
        if (model.empty()) break;
        const std::size_t i = pick(model.size());
        Result<Elem> r = b.remove(i);
        ASSERT_TRUE(r.ok());
        ASSERT_EQ(value_of(*r), model[i]);
        model.erase(model.begin() + static_cast<std::ptrdiff_t>(i));
        break;
      }
      case Op::remove_bad:
        ASSERT_EQ(b.remove(model.size() + pick(3)).error(), Error::invalid_argument);
        break;
      case Op::reserve: {
        const std::size_t extra = pick(64);
        ASSERT_EQ(b.try_reserve(extra), Error::none);
        grow_model(extra, false);
        break;
      }
      case Op::reserve_exact: {
        const std::size_t extra = pick(64);
        ASSERT_EQ(b.try_reserve_exact(extra), Error::none);
        grow_model(extra, true);
        break;
      }
      case Op::resize: {
        const std::size_t n = (model.size() > 20 ? model.size() - 20 : 0) + pick(50);
        ASSERT_EQ(b.try_resize(n, Elem(v)), Error::none);
        if (n > model.size()) grow_model(n - model.size(), false);
        model.resize(n, v);
        break;
      }
      case Op::truncate: {
        const std::size_t n = pick(model.size() + 1);
        b.truncate(n);
        model.resize(n);
        break;
      }
      case Op::clear:
        b.clear();
        model.clear();
        break;
      case Op::shrink:
        ASSERT_EQ(b.try_shrink_to_fit(), Error::none);
        model_cap = model.size();
        break;
      case Op::block:  // something after the Buf: its next growth must move
        blockers.push_back(Raw<Box<std::uint64_t>>::try_new(env.hold(), 1u).take());
        break;
      case Op::unblock:
        if (!blockers.empty()) {
          const std::size_t i = pick(blockers.size());
          blockers.erase(blockers.begin() + static_cast<std::ptrdiff_t>(i));
        }
        break;
    }
    if (b.data() != data_before && len_before != 0 && op != Op::shrink) ++moved;
    max_len = std::max(max_len, model.size());
    ASSERT_EQ(b.size(), model.size()) << "step " << step;
    ASSERT_EQ(b.capacity(), model_cap) << "step " << step;
    ASSERT_EQ(b.empty(), model.empty());
    if (step % 16 == 0 || b.size() < 32) {
      ASSERT_EQ(values(b), model) << "step " << step;
    }
  }
  ASSERT_EQ(values(b), model);
  EXPECT_GT(moved, ops / 200) << "growth that had to move the contents";
  EXPECT_GT(max_len, 200u);
  // Everything goes back: the Buf, its elements, the blockers.
  b = B{};
  blockers.clear();
  EXPECT_EQ(env.hold().stats().live, 0u);
}

template <class C>
class BufDifferential : public ::testing::Test {};
TYPED_TEST_SUITE(BufDifferential, Combos);

TYPED_TEST(BufDifferential, IntsAgainstStdVector) {
  using B = typename TypeParam::template Lease<Buf<int>>;
  for (unsigned seed : {1u, 2u, 3u}) {
    typename TypeParam::Env env;
    SCOPED_TRACE(seed);
    differential<B, int>(env, seed, 6000);
  }
}

TYPED_TEST(BufDifferential, NonTrivialElementsAgainstStdVector) {
  using B = typename TypeParam::template Lease<Buf<Tracked>>;
  Tracked::live = 0;
  for (unsigned seed : {11u, 12u}) {
    typename TypeParam::Env env;
    SCOPED_TRACE(seed);
    differential<B, Tracked>(env, seed, 3000);
    EXPECT_EQ(Tracked::live, 0);
  }
}

}  // namespace
}  // namespace swim::mem
