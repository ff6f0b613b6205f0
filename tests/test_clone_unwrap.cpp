// Clone and unwrap of the exclusive leases Raw and Ptr (try_clone, try_clone_into,
// try_unwrap; the resident's optional clone_meta and clone, whose element copies
// read from the source, never from the destination), over Box, Buf and String.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>

#include "support/lease_env.hpp"
#include "swim/mem.hpp"

namespace swim::mem {
namespace {

using testing::expect_same_stats;
using testing::PtrKind;
using testing::RawKind;

alignas(4096) std::byte g_a0[4096];
alignas(4096) std::byte g_a1[4096];

/// A Pack over `mem` whose free memory is garbage: a clone that read its
/// destination instead of its source would see no live object there.
template <std::size_t N>
Pack<> dirty_pack(std::byte (&mem)[N], std::size_t size = N) {
  std::memset(mem, 0xA5, N);
  return Pack<>(Block{mem, size});
}

/// What a Pack counts in bytes_in_use for an object of `size` bytes.
std::size_t round8(std::size_t size) { return (size + 7) / 8 * 8; }

/// A string-like value that counts live instances, copies and moves, and catches
/// copies from anything that is not a live instance.
struct Name {
  static constexpr std::uint32_t alive = 0x600DF00Du;
  static inline long live = 0;
  static inline long copies = 0;
  static inline long moves = 0;

  std::uint32_t magic = alive;
  std::string text;

  explicit Name(std::string t) : text(std::move(t)) { ++live; }
  Name(const Name& o) : text((check(o), o.text)) {
    ++live;
    ++copies;
  }
  Name(Name&& o) noexcept : text((check(o), std::move(o.text))) {
    ++live;
    ++moves;
  }
  Name& operator=(const Name&) = delete;
  ~Name() {
    EXPECT_EQ(magic, alive) << "destroyed twice or never constructed";
    magic = 0;
    --live;
  }
  static void check(const Name& o) { EXPECT_EQ(o.magic, alive) << "copy from a dead object"; }
  static void reset_counts() { copies = moves = 0; }
};

/// Move-only: owns a lease of its own (and so must not be cloneable).
struct Holder {
  int tag = 0;
  Raw<Box<int>> inner;
};

/// Recursive: the Box is instantiated while Node is incomplete.
struct Node {
  int value = 0;
  Raw<Box<Node>> next;
};

// ---- What is offered where (compile time) -------------------------------------------

static_assert(cloneable_resident<Box<int>>);
static_assert(cloneable_resident<Box<Name, int>>);
static_assert(cloneable_resident<Buf<int>>);
static_assert(cloneable_resident<Buf<Name>>);
static_assert(cloneable_resident<String<>>);
static_assert(!cloneable_resident<Box<Holder>>);
static_assert(!cloneable_resident<Buf<Holder>>);
static_assert(!cloneable_resident<Box<Node>>);

template <class L>
concept can_clone = requires(const L& l, HoldRef h) {
  l.try_clone();
  l.try_clone_into(h);
};
template <class L>
concept can_unwrap = requires(L&& l) { static_cast<L&&>(l).try_unwrap(); };
template <class L>
concept can_unwrap_lvalue = requires(L& l) { l.try_unwrap(); };

static_assert(can_clone<Raw<Box<int>>> && can_clone<Ptr<Box<int, int>>>);
static_assert(can_clone<Raw<Buf<Name>>> && can_clone<Ptr<String<int>>>);
static_assert(!can_clone<Raw<Box<Holder>>> && !can_clone<Ptr<Box<Holder>>>);
static_assert(can_unwrap<Raw<Box<int>>> && can_unwrap<Ptr<Box<Name, int>>>);
static_assert(can_unwrap<Raw<Box<Holder>>> && can_unwrap<Raw<Box<Node>>>);
static_assert(!can_unwrap_lvalue<Raw<Box<int>>>);  // consumes the lease: std::move
static_assert(!can_unwrap<Raw<Buf<int>>> && !can_unwrap<Raw<String<>>>);
// The arc leases unwrap too (tests/test_arc_unique.cpp), except a Soft (no owner).
static_assert(can_unwrap<Mut<Box<int>>> && can_unwrap<Hard<Box<int>>>);
static_assert(!can_unwrap<Soft<Box<int>>>);
static_assert(Raw<Box<int>>::is_exclusive && Ptr<Buf<int>>::is_exclusive);

// ---- Clone, typed over Raw and Ptr ------------------------------------------------------

template <class Kind>
class CloneTest : public ::testing::Test {
 protected:
  template <class R>
  using Lease = typename Kind::template Lease<R>;
  void SetUp() override {
    Name::live = 0;
    Name::reset_counts();
  }
  void TearDown() override { EXPECT_EQ(Name::live, 0); }
};
using Kinds = ::testing::Types<RawKind, PtrKind>;
TYPED_TEST_SUITE(CloneTest, Kinds);

TYPED_TEST(CloneTest, BoxOfIntIsADeepCopyInTheSameHold) {
  using L = typename TestFixture::template Lease<Box<int, int>>;
  Pack<> pack = dirty_pack(g_a0);
  auto src = L::try_new_with_meta(HoldRef::of(pack), 77, 41);
  ASSERT_TRUE(src.ok());
  const Stats before = pack.stats();
  auto copy = src->try_clone();
  ASSERT_TRUE(copy.ok()) << to_string(copy.error());
  EXPECT_EQ(**copy, 41);
  EXPECT_EQ(copy->metadata(), 77);
  EXPECT_NE(copy->data(), src->data());
  EXPECT_EQ(copy->hold(), HoldRef::of(pack));
  EXPECT_EQ(pack.stats().live, before.live + 1);
  EXPECT_EQ(pack.stats().bytes_in_use, before.bytes_in_use + round8(src->block().size));
  **copy = 5;
  copy->metadata() = 6;
  EXPECT_EQ(**src, 41);
  EXPECT_EQ(src->metadata(), 77);
  copy->reset();
  expect_same_stats(pack.stats(), before);
}

TYPED_TEST(CloneTest, BoxOfNonTrivialValueCopiesOnce) {
  using L = typename TestFixture::template Lease<Box<Name>>;
  Pack<> pack = dirty_pack(g_a0);
  {
    auto src = L::try_new(HoldRef::of(pack), std::string(40, 'x'));
    ASSERT_TRUE(src.ok());
    Name::reset_counts();
    auto copy = src->try_clone();
    ASSERT_TRUE(copy.ok());
    EXPECT_EQ(Name::live, 2);
    EXPECT_EQ(Name::copies, 1);
    EXPECT_EQ(Name::moves, 0);
    EXPECT_EQ((*copy)->text, std::string(40, 'x'));
    (*copy)->text = "changed";
    EXPECT_EQ((*src)->text, std::string(40, 'x'));
  }
  EXPECT_EQ(Name::live, 0);
  EXPECT_EQ(pack.stats().live, 0u);
}

TYPED_TEST(CloneTest, BufOfIntIsShrunkToItsLength) {
  using L = typename TestFixture::template Lease<Buf<int, int>>;
  Pack<> pack = dirty_pack(g_a0);
  auto src = L::try_with_capacity(HoldRef::of(pack), 16, 9);
  ASSERT_TRUE(src.ok());
  for (int v = 1; v <= 5; ++v) ASSERT_EQ(src->try_push(v * 10), Error::none);
  const Stats before = pack.stats();
  auto copy = src->try_clone();
  ASSERT_TRUE(copy.ok());
  EXPECT_EQ(copy->size(), 5u);
  EXPECT_EQ(copy->capacity(), 5u);
  EXPECT_EQ(copy->metadata(), 9);
  EXPECT_EQ(src->capacity(), 16u);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ((*copy)[i], static_cast<int>(i + 1) * 10);
  EXPECT_NE(copy->data(), src->data());
  EXPECT_LT(copy->block().size, src->block().size);
  EXPECT_EQ(pack.stats().live, before.live + 1);
  EXPECT_EQ(pack.stats().bytes_in_use - before.bytes_in_use, round8(copy->block().size));
  (*copy)[0] = -1;
  ASSERT_EQ(copy->try_push(60), Error::none);
  EXPECT_EQ((*src)[0], 10);
  EXPECT_EQ(src->size(), 5u);
}

TYPED_TEST(CloneTest, BufOfNonTrivialCopiesFromTheSource) {
  using L = typename TestFixture::template Lease<Buf<Name>>;
  Pack<> pack = dirty_pack(g_a0);
  {
    auto src = L::try_with_capacity(HoldRef::of(pack), 8);
    ASSERT_TRUE(src.ok());
    const char* words[] = {"alpha", "beta", "a rather longer gamma that allocates", "delta"};
    for (const char* w : words) ASSERT_EQ(src->try_emplace(std::string(w)), Error::none);
    ASSERT_EQ(Name::live, 4);
    Name::reset_counts();
    auto copy = src->try_clone();
    ASSERT_TRUE(copy.ok());
    EXPECT_EQ(Name::live, 8);
    EXPECT_EQ(Name::copies, 4);
    EXPECT_EQ(Name::moves, 0);
    ASSERT_EQ(copy->size(), 4u);
    EXPECT_EQ(copy->capacity(), 4u);
    for (std::size_t i = 0; i < 4; ++i) {
      EXPECT_EQ((*copy)[i].magic, Name::alive);
      EXPECT_EQ((*copy)[i].text, words[i]);
      EXPECT_NE(&(*copy)[i], &(*src)[i]);
    }
    (*copy)[2].text = "mutated";
    ASSERT_TRUE(copy->pop().ok());
    EXPECT_EQ(Name::live, 7);
    EXPECT_EQ((*src)[2].text, words[2]);
    EXPECT_EQ(src->size(), 4u);
  }
  EXPECT_EQ(pack.stats().live, 0u);
}

TYPED_TEST(CloneTest, StringBytesAndUserMetadata) {
  using L = typename TestFixture::template Lease<String<int>>;
  Pack<> pack = dirty_pack(g_a0);
  auto src = L::try_with_capacity(HoldRef::of(pack), 64, 3);
  ASSERT_TRUE(src.ok());
  ASSERT_EQ(src->try_append("h\xC3\xA9llo w\xC3\xB6rld"), Error::none);
  auto copy = src->try_clone();
  ASSERT_TRUE(copy.ok());
  EXPECT_TRUE(*copy == "h\xC3\xA9llo w\xC3\xB6rld");
  EXPECT_EQ(copy->size(), src->size());
  EXPECT_EQ(copy->capacity(), src->size());
  EXPECT_EQ(copy->metadata(), 3);
  EXPECT_NE(copy->view().data(), src->view().data());
  ASSERT_EQ(copy->try_append("!"), Error::none);
  EXPECT_TRUE(*src == "h\xC3\xA9llo w\xC3\xB6rld");
  EXPECT_TRUE(*copy == "h\xC3\xA9llo w\xC3\xB6rld!");
}

TYPED_TEST(CloneTest, EmptyBufClonesToAnEmptyBuf) {
  using L = typename TestFixture::template Lease<Buf<Name>>;
  Pack<> pack = dirty_pack(g_a0);
  auto src = L::try_with_capacity(HoldRef::of(pack), 4);
  ASSERT_TRUE(src.ok());
  auto copy = src->try_clone();
  ASSERT_TRUE(copy.ok());
  EXPECT_TRUE(static_cast<bool>(*copy));
  EXPECT_EQ(copy->size(), 0u);
  EXPECT_EQ(copy->capacity(), 0u);
  EXPECT_EQ(Name::live, 0);
}

TYPED_TEST(CloneTest, CloneIntoAnotherHold) {
  using L = typename TestFixture::template Lease<Buf<Name>>;
  Pack<> p0 = dirty_pack(g_a0);
  Pack<> p1 = dirty_pack(g_a1);
  {
    auto src = L::try_with_capacity(HoldRef::of(p0), 2);
    ASSERT_TRUE(src.ok());
    ASSERT_EQ(src->try_emplace(std::string("one")), Error::none);
    ASSERT_EQ(src->try_emplace(std::string("two")), Error::none);
    const Stats s0 = p0.stats();
    const Stats s1 = p1.stats();
    auto copy = src->try_clone_into(HoldRef::of(p1));
    ASSERT_TRUE(copy.ok());
    EXPECT_EQ(copy->hold(), HoldRef::of(p1));
    expect_same_stats(p0.stats(), s0);
    EXPECT_EQ(p1.stats().live, s1.live + 1);
    EXPECT_EQ(p1.stats().bytes_in_use, s1.bytes_in_use + round8(copy->block().size));
    EXPECT_EQ((*copy)[1].text, "two");
    EXPECT_EQ(Name::live, 4);
    copy->reset();
    expect_same_stats(p1.stats(), s1);
    EXPECT_EQ(Name::live, 2);
  }
  EXPECT_EQ(p0.stats().live, 0u);
}

TYPED_TEST(CloneTest, OutOfMemoryLeavesEverythingAsItWas) {
  using LB = typename TestFixture::template Lease<Buf<Name>>;
  using LI = typename TestFixture::template Lease<Box<int>>;
  // Room for the source (a tag and 4 Names, plus a Ptr's metadata) and not much more.
  Pack<> small = dirty_pack(g_a0, 8 + 16 + 4 * sizeof(Name) + 32);
  {
    auto src = LB::try_with_capacity(HoldRef::of(small), 4);
    ASSERT_TRUE(src.ok()) << to_string(src.error());
    for (int i = 0; i < 4; ++i) ASSERT_EQ(src->try_emplace(std::to_string(i)), Error::none);
    const Stats before = small.stats();
    Name::reset_counts();
    auto copy = src->try_clone();
    ASSERT_FALSE(copy.ok());
    EXPECT_EQ(copy.error(), Error::out_of_memory);
    expect_same_stats(small.stats(), before);
    EXPECT_EQ(Name::live, 4);
    EXPECT_EQ(Name::copies, 0);
    ASSERT_EQ(src->size(), 4u);
    for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ((*src)[i].text, std::to_string(i));

    // Into a hold big enough for the copy but nearly full: the same, and the
    // source's hold untouched too.
    Pack<> full = dirty_pack(g_a1, 256);
    auto filler = Raw<Buf<char>>::try_with_capacity(HoldRef::of(full), 200);
    ASSERT_TRUE(filler.ok());
    const Stats full_before = full.stats();
    ASSERT_LT(full_before.bytes_free, src->block().size);
    auto other = src->try_clone_into(HoldRef::of(full));
    EXPECT_EQ(other.error(), Error::out_of_memory);
    expect_same_stats(full.stats(), full_before);
    expect_same_stats(small.stats(), before);
    EXPECT_EQ(Name::live, 4);
  }
  Pack<> tiny = dirty_pack(g_a1, 16);
  auto one = LI::try_new(HoldRef::of(tiny), 12);
  ASSERT_TRUE(one.ok());
  const Stats before = tiny.stats();
  auto two = one->try_clone();
  EXPECT_EQ(two.error(), Error::out_of_memory);
  expect_same_stats(tiny.stats(), before);
  EXPECT_EQ(**one, 12);
}

TYPED_TEST(CloneTest, NullLeaseIsAnInvalidArgument) {
  using L = typename TestFixture::template Lease<Buf<int>>;
  Pack<> pack = dirty_pack(g_a0);
  const L null;
  EXPECT_EQ(null.try_clone().error(), Error::invalid_argument);
  EXPECT_EQ(null.try_clone_into(HoldRef::of(pack)).error(), Error::invalid_argument);
  EXPECT_EQ(pack.stats().live, 0u);
}

// ---- Unwrap ----------------------------------------------------------------------------

template <class Kind>
class UnwrapTest : public CloneTest<Kind> {};
TYPED_TEST_SUITE(UnwrapTest, Kinds);

TYPED_TEST(UnwrapTest, MovesTheValueOutAndFreesTheObject) {
  using L = typename TestFixture::template Lease<Box<Name, int>>;
  Pack<> pack = dirty_pack(g_a0);
  auto keep = L::try_new(HoldRef::of(pack), std::string("kept"));  // not on top of the pack
  ASSERT_TRUE(keep.ok());
  const Stats before = pack.stats();
  auto box = L::try_new_with_meta(HoldRef::of(pack), 8, std::string(50, 'q'));
  ASSERT_TRUE(box.ok());
  L lease = box.take();
  ASSERT_EQ(Name::live, 2);
  Name::reset_counts();
  {
    Result<Name> value = std::move(lease).try_unwrap();
    ASSERT_TRUE(value.ok());
    EXPECT_EQ(value->text, std::string(50, 'q'));
    EXPECT_EQ(value->magic, Name::alive);
    EXPECT_FALSE(lease);
    EXPECT_EQ(Name::live, 2);  // the moved-from Name in the object was destroyed
    EXPECT_EQ(Name::copies, 0);
    expect_same_stats(pack.stats(), before);
    Name out = value.take();
    EXPECT_EQ(out.text, std::string(50, 'q'));
  }
  EXPECT_EQ(Name::live, 1);
  EXPECT_EQ((*keep)->text, "kept");
  // A null lease, also the one just unwrapped: an error, nothing changes.
  Result<Name> again = std::move(lease).try_unwrap();
  EXPECT_EQ(again.error(), Error::invalid_argument);
  expect_same_stats(pack.stats(), before);
}

TYPED_TEST(UnwrapTest, IntValue) {
  using L = typename TestFixture::template Lease<Box<std::uint64_t>>;
  Pack<> pack = dirty_pack(g_a0);
  auto box = L::try_new(HoldRef::of(pack), std::uint64_t{0xFEEDFACECAFEBEEFull});
  ASSERT_TRUE(box.ok());
  EXPECT_EQ(pack.stats().live, 1u);
  Result<std::uint64_t> v = std::move(*box).try_unwrap();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 0xFEEDFACECAFEBEEFull);
  EXPECT_FALSE(*box);
  EXPECT_EQ(pack.stats().live, 0u);
  EXPECT_EQ(pack.stats().bytes_in_use, 0u);
  EXPECT_EQ(pack.stats().bytes_free, sizeof g_a0);
}

TYPED_TEST(UnwrapTest, MoveOnlyValueCanBeUnwrappedButNotCloned) {
  using L = typename TestFixture::template Lease<Box<Holder>>;
  static_assert(!can_clone<L>);
  Pack<> pack = dirty_pack(g_a0);
  auto inner = Raw<Box<int>>::try_new(HoldRef::of(pack), 99);
  ASSERT_TRUE(inner.ok());
  int* const at = inner->data();
  auto outer = L::try_new(HoldRef::of(pack), Holder{3, inner.take()});
  ASSERT_TRUE(outer.ok());
  EXPECT_EQ(pack.stats().live, 2u);
  Result<Holder> h = std::move(*outer).try_unwrap();
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(pack.stats().live, 1u);  // the outer object only
  EXPECT_EQ(h->tag, 3);
  EXPECT_EQ(h->inner.data(), at);  // the child moved along, not copied
  EXPECT_EQ(*h->inner, 99);
  h->inner.reset();
  EXPECT_EQ(pack.stats().live, 0u);
}

TEST(Unwrap, RecursiveNode) {
  Pack<> pack = dirty_pack(g_a0);
  auto tail = Raw<Box<Node>>::try_new(HoldRef::of(pack), Node{2, {}});
  ASSERT_TRUE(tail.ok());
  auto head = Raw<Box<Node>>::try_new(HoldRef::of(pack), Node{1, tail.take()});
  ASSERT_TRUE(head.ok());
  Result<Node> n = std::move(*head).try_unwrap();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->value, 1);
  EXPECT_EQ(pack.stats().live, 1u);
  Result<Node> m = std::move(n->next).try_unwrap();
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->value, 2);
  EXPECT_FALSE(n->next);
  EXPECT_EQ(pack.stats().live, 0u);
}

TEST(Clone, PoolHoldAndCloneOfACloneAreIndependent) {
  testing::PoolEnv env;
  auto a = Ptr<Buf<std::uint32_t>>::try_with_capacity(env.hold(), 1000);
  ASSERT_TRUE(a.ok());
  for (std::uint32_t i = 0; i < 1000; ++i) ASSERT_EQ(a->try_push(i * 3u), Error::none);
  auto b = a->try_clone();
  ASSERT_TRUE(b.ok());
  auto c = b->try_clone();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->hold(), env.hold());
  (*b)[500] = 7;
  for (std::uint32_t i = 0; i < 1000; ++i) {
    EXPECT_EQ((*a)[i], i * 3u);
    EXPECT_EQ((*c)[i], i * 3u);
  }
  EXPECT_EQ(env.pool.stats().live, 3u);
}

}  // namespace
}  // namespace swim::mem
