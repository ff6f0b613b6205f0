// A Slab with relative addresses (physical/address.hpp) placed with its hunk in
// one memfd mapped twice at different addresses, and shared with a forked child
// that maps it at yet another: built through one mapping, used, freed and checked
// through the others, by threads and processes at once. This is what an MPI shared
// window needs (integrations/mpi/node_slab.hpp), proved without MPI.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <new>
#include <set>
#include <thread>
#include <vector>

#include "support/two_mappings.hpp"
#include "swim/mem.hpp"

namespace swim::mem {
namespace {

constexpr std::size_t map_bytes = testing::TwoMappings::bytes;
constexpr std::size_t unit = 64;

using testing::TwoMappings;

// The Slab at the front of the mapping, its hunk after it; the rest of the file
// (the last 4 KiB) is a scratch area for the tests' own bookkeeping.
template <class S>
constexpr std::size_t slab_room = (sizeof(S) + 63) / 64 * 64;
constexpr std::size_t scratch = 4096;

template <class S>
S* place(std::byte* base) {
  return new (base) S(Block{base + slab_room<S>, map_bytes - slab_room<S> - scratch}, unit);
}

template <class S>
inline constexpr bool checked_v = false;
template <concurrency_mode M, class A>
inline constexpr bool checked_v<Slab<M, true, A>> = true;

template <class S>
class RelativeSlab : public ::testing::Test {};
using Kinds = ::testing::Types<Slab<concurrent, true, relative_address>,
                               Slab<concurrent, false, relative_address>,
                               Slab<single_owner, true, relative_address>>;
TYPED_TEST_SUITE(RelativeSlab, Kinds);

TEST(RelativeAddress, CopiesKeepTheTargetAndNullIsNull) {
  relative_address::pointer<int> p;
  EXPECT_EQ(p.get(), nullptr);
  int x = 0;
  p.set(&x);
  EXPECT_EQ(p.get(), &x);
  relative_address::pointer<int> q = p;  // another location, the same target
  EXPECT_EQ(q.get(), &x);
  EXPECT_NE(q.d, p.d);
  relative_address::pointer<int> r;
  r = q;
  EXPECT_EQ(r.get(), &x);
  r.set(nullptr);
  EXPECT_EQ(r.get(), nullptr);
  // A pointer to the object it is the first member of (a Soft back to its own node).
  struct Self {
    relative_address::pointer<Self> me;
  } s;
  s.me.set(&s);
  EXPECT_EQ(s.me.get(), &s) << "distance 0 is not null";
  Self t;
  t.me = s.me;
  EXPECT_EQ(t.me.get(), &s);
  t.me.set(&t);
  s.me = t.me;
  EXPECT_EQ(s.me.get(), &t);
  static_assert(sizeof(relative_address::pointer<int>) == sizeof(void*));
  static_assert(address_policy<relative_address> && address_policy<direct_address>);
}

TYPED_TEST(RelativeSlab, BuiltThroughOneMappingUsedThroughTheOther) {
  TwoMappings m;
  ASSERT_TRUE(m.ok()) << "memfd_create/mmap failed";
  TypeParam* sa = place<TypeParam>(m.a);
  auto* sb = reinterpret_cast<TypeParam*>(m.b);  // the same Slab, seen through b
  ASSERT_EQ(sa->init_error(), Error::none);
  EXPECT_EQ(sb->block_count(), sa->block_count());
  EXPECT_GT(sb->block_count(), 1000u);

  // Allocated through b: an address in b, the same unit as seen from a.
  const Result<Block> x = sb->try_allocate(Layout{unit, 8});
  ASSERT_TRUE(x.ok());
  auto* xb = static_cast<std::byte*>(x->ptr);
  EXPECT_TRUE(xb > m.b && xb < m.b + map_bytes) << "an address of mapping b";
  EXPECT_TRUE(sb->owns(xb));
  EXPECT_FALSE(sa->owns(xb)) << "a's view knows only a's addresses";
  EXPECT_TRUE(sa->owns(m.in_a(xb)));
  std::memcpy(xb, "written through b", 18);
  EXPECT_STREQ(static_cast<const char*>(m.in_a(xb)), "written through b");
  EXPECT_EQ(sa->stats().live, 1u);

  // Through a, the next unit is not the one b holds, and b's unit is freed
  // through a at a's address of it.
  const Result<Block> y = sa->try_allocate(Layout{unit, 8});
  ASSERT_TRUE(y.ok());
  EXPECT_NE(m.in_b(y->ptr), x->ptr);
  EXPECT_EQ(sa->try_deallocate(Block{m.in_a(xb), unit}), Error::none);
  EXPECT_EQ(sb->try_deallocate(Block{m.in_b(y->ptr), unit}), Error::none);
  EXPECT_EQ(sb->stats().live, 0u);
  if constexpr (checked_v<TypeParam>) {
    // A second free through either mapping is seen; an address of the other
    // mapping is foreign to a view.
    EXPECT_EQ(sb->try_deallocate(Block{xb, unit}), Error::double_free);
    EXPECT_EQ(sa->try_deallocate(Block{xb, unit}), Error::foreign_pointer);
    // The walk of either view reports the same occupancy.
    std::size_t free_a = 0, free_b = 0;
    sa->walk([&](const Region& r) { free_a += r.kind == RegionKind::free ? r.size : 0; });
    sb->walk([&](const Region& r) { free_b += r.kind == RegionKind::free ? r.size : 0; });
    EXPECT_EQ(free_a, sa->block_count() * unit);
    EXPECT_EQ(free_b, free_a);
  }
  sa->~TypeParam();
}

TYPED_TEST(RelativeSlab, EveryUnitOnceAcrossBothMappingsThenExhaustionRecovers) {
  TwoMappings m;
  ASSERT_TRUE(m.ok());
  TypeParam* sa = place<TypeParam>(m.a);
  auto* sb = reinterpret_cast<TypeParam*>(m.b);
  std::set<std::ptrdiff_t> offsets;
  std::vector<Block> held;  // as addresses of a
  for (std::size_t i = 0; i < sa->block_count(); ++i) {
    TypeParam* s = i % 2 == 0 ? sa : sb;
    std::byte* base = i % 2 == 0 ? m.a : m.b;
    const Result<Block> r = s->try_allocate(Layout{unit, 8});
    ASSERT_TRUE(r.ok()) << i;
    const std::ptrdiff_t off = static_cast<std::byte*>(r->ptr) - base;
    EXPECT_TRUE(offsets.insert(off).second) << "unit at " << off << " handed out twice";
    held.push_back(Block{m.a + off, unit});
  }
  EXPECT_EQ(sb->try_allocate(Layout{unit, 8}).error(), Error::out_of_memory);
  EXPECT_EQ(sa->try_allocate(Layout{unit, 8}).error(), Error::out_of_memory);
  for (std::size_t i = 0; i < held.size(); ++i) {
    const Block blk = i % 3 == 0 ? held[i] : Block{m.in_b(held[i].ptr), unit};
    ASSERT_EQ((i % 3 == 0 ? sa : sb)->try_deallocate(blk), Error::none) << i;
  }
  EXPECT_EQ(sa->stats().live, 0u);
  const Result<Block> again = sb->try_allocate(Layout{unit, 8});
  ASSERT_TRUE(again.ok()) << "exhaustion is recoverable";
  EXPECT_EQ(sa->stats().live, 1u);
  EXPECT_EQ(sb->try_deallocate(*again), Error::none);
  sa->~TypeParam();
}

// Threads on both mappings at once; blocks cross between them as offsets.
template <class S>
void storm_two_mappings(bool checked) {
  TwoMappings m;
  ASSERT_TRUE(m.ok());
  S* sa = place<S>(m.a);
  S* views[2] = {sa, reinterpret_cast<S*>(m.b)};
  std::byte* bases[2] = {m.a, m.b};
  constexpr int threads = 4;
  constexpr int rounds = 4000;
  // A hand-off slot per thread pair: offsets published by one, freed by the next.
  std::atomic<std::ptrdiff_t> slots[threads];
  for (auto& s : slots) s.store(-1);
  std::atomic<int> errors{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      S* s = views[t % 2];
      std::byte* base = bases[t % 2];
      for (int i = 0; i < rounds; ++i) {
        const Result<Block> r = s->try_allocate(Layout{unit, 8});
        if (!r) {
          if (r.error() != Error::out_of_memory && r.error() != Error::contended) ++errors;
          continue;
        }
        auto* p = static_cast<std::uint64_t*>(r->ptr);
        const std::uint64_t stamp = (std::uint64_t(t) << 32) | std::uint64_t(i);
        for (std::size_t w = 0; w < unit / 8; ++w) p[w] = stamp;
        const std::ptrdiff_t mine = static_cast<std::byte*>(r->ptr) - base;
        // Give it to the neighbour (another mapping for odd/even neighbours) and
        // free what the other neighbour gave us, through our mapping.
        const std::ptrdiff_t theirs = slots[(t + 1) % threads].exchange(mine);
        if (theirs >= 0) {
          auto* q = reinterpret_cast<std::uint64_t*>(base + theirs);
          for (std::size_t w = 1; w < unit / 8; ++w) {
            if (q[w] != q[0]) ++errors;  // torn: somebody else wrote it
          }
          Error e = Error::contended;
          while (e == Error::contended) e = s->try_deallocate(Block{q, unit});
          if (e != Error::none) ++errors;
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(errors.load(), 0);
  for (auto& slot : slots) {
    const std::ptrdiff_t off = slot.load();
    if (off >= 0) {
      ASSERT_EQ(sa->try_deallocate(Block{m.a + off, unit}), Error::none);
    }
  }
  // Ownership at the end: nothing live, and every unit comes back exactly once.
  EXPECT_EQ(sa->stats().live, 0u);
  std::set<void*> all;
  for (std::size_t i = 0; i < sa->block_count(); ++i) {
    const Result<Block> r = views[i % 2]->try_allocate(Layout{unit, 8});
    ASSERT_TRUE(r.ok()) << "unit " << i << " lost";
    EXPECT_TRUE(all.insert(i % 2 == 0 ? r->ptr : m.in_a(r->ptr)).second);
  }
  EXPECT_FALSE(views[1]->try_allocate(Layout{unit, 8}).ok());
  for (void* p : all) ASSERT_EQ(sa->try_deallocate(Block{p, unit}), Error::none);
  (void)checked;
  sa->~S();
}

TEST(RelativeSlabStorm, ThreadsOnTwoMappingsChecked) {
  storm_two_mappings<Slab<concurrent, true, relative_address>>(true);
}
TEST(RelativeSlabStorm, ThreadsOnTwoMappingsUnchecked) {
  storm_two_mappings<Slab<concurrent, false, relative_address>>(false);
}

// A cache over a relative Slab poisons (in this process) the units it holds, and
// gives them back with only their links open; the Slab then hands them out
// directly, through the same mapping, and the caller may write every byte. Under
// ASan this failed as a use-after-poison in the CI's 4-rank NodeSlab storm.
template <class S>
void units_from_a_cache_open_whole() {
  TwoMappings m;
  ASSERT_TRUE(m.ok());
  S* sa = place<S>(m.a);
  std::vector<Block> got;
  {
    SlabCache<S, 8> cache(*sa);
    for (std::size_t i = 0; i < sa->block_count(); ++i) {
      const Result<Block> r = cache.try_allocate(Layout{unit, 8});
      ASSERT_TRUE(r.ok()) << i;
      got.push_back(*r);
    }
    for (const Block& b : got) ASSERT_EQ(cache.try_deallocate(b), Error::none);
  }  // the cache gives its units back
  got.clear();
  for (std::size_t i = 0; i < sa->block_count(); ++i) {
    const Result<Block> r = sa->try_allocate(Layout{unit, 8});
    ASSERT_TRUE(r.ok()) << i;
    std::memset(r->ptr, int(i & 0xFF), unit);  // every byte is the caller's
    got.push_back(*r);
  }
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(static_cast<unsigned char*>(got[i].ptr)[unit - 1], i & 0xFF);
    ASSERT_EQ(sa->try_deallocate(got[i]), Error::none);
  }
  EXPECT_EQ(sa->stats().live, 0u);
  // A cache through mapping a frees units (cached, then given back); the Slab hands
  // them out through mapping b, and a reads what b wrote: its units are not poisoned
  // in a's view (they are b's now). Then a cache through a frees b's units.
  {
    SlabCache<S, 8> cache(*sa);
    got.clear();
    for (std::size_t i = 0; i < 16; ++i) got.push_back(*cache.try_allocate(Layout{unit, 8}));
    for (const Block& b : got) ASSERT_EQ(cache.try_deallocate(b), Error::none);
  }
  auto* sb = reinterpret_cast<S*>(m.b);
  std::vector<Block> in_b;
  for (std::size_t i = 0; i < sa->block_count(); ++i) {
    const Result<Block> r = sb->try_allocate(Layout{unit, 8});
    ASSERT_TRUE(r.ok()) << i;
    std::memset(r->ptr, 0x5A, unit);
    in_b.push_back(*r);
  }
  unsigned sum = 0;
  for (const Block& b : in_b) sum += static_cast<const unsigned char*>(m.in_a(b.ptr))[unit / 2];
  EXPECT_EQ(sum, 0x5Au * in_b.size());
  {
    SlabCache<S, 8> cache(*sa);
    for (const Block& b : in_b) ASSERT_EQ(cache.try_deallocate(Block{m.in_a(b.ptr), unit}), Error::none);
  }
  EXPECT_EQ(sa->stats().live, 0u);
  sa->~S();
}

TEST(RelativeSlab, UnitsACacheGaveBackAreOpenWholeChecked) {
  units_from_a_cache_open_whole<Slab<concurrent, true, relative_address>>();
}
TEST(RelativeSlab, UnitsACacheGaveBackAreOpenWholeUnchecked) {
  units_from_a_cache_open_whole<Slab<concurrent, false, relative_address>>();
}

// A forked child maps the file at an address of its own and storms with the
// parent; at the end the parent checks that every unit is free exactly once.
TEST(RelativeSlabStorm, ParentAndForkedChild) {
  using S = Slab<concurrent, true, relative_address>;
  TwoMappings m;
  ASSERT_TRUE(m.ok());
  S* sa = place<S>(m.a);
  // Scratch at the end of the file: the child's verdict.
  auto* verdict = reinterpret_cast<std::uint64_t*>(m.a + map_bytes - scratch);
  *verdict = 0;
  constexpr int rounds = 20000;
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The child: a third mapping, and the parent's two unmapped, so that only
    // this one can be what it uses.
    std::byte* c = m.map();
    munmap(m.a, map_bytes);
    munmap(m.b, map_bytes);
    if (c == nullptr) _exit(2);
    auto* s = reinterpret_cast<S*>(c);
    std::uint64_t bad = 0;
    std::vector<Block> mine;
    for (int i = 0; i < rounds; ++i) {
      const Result<Block> r = s->try_allocate(Layout{unit, 8});
      if (r) {
        std::memset(r->ptr, 0xC1, unit);
        mine.push_back(*r);
      } else if (r.error() != Error::out_of_memory && r.error() != Error::contended) {
        ++bad;
      }
      if (mine.size() > 8 || (!r && !mine.empty())) {
        const Block b = mine.front();
        mine.erase(mine.begin());
        const auto* bytes = static_cast<const unsigned char*>(b.ptr);
        for (std::size_t k = 0; k < unit; ++k) bad += bytes[k] != 0xC1;
        Error e = Error::contended;
        while (e == Error::contended) e = s->try_deallocate(b);
        bad += e != Error::none;
      }
    }
    for (const Block& b : mine) bad += s->try_deallocate(b) != Error::none;
    reinterpret_cast<std::atomic<std::uint64_t>*>(c + map_bytes - scratch)->store(bad + 1);
    _exit(0);
  }
  std::uint64_t bad = 0;
  std::vector<Block> mine;
  auto* sb = reinterpret_cast<S*>(m.b);
  for (int i = 0; i < rounds; ++i) {
    S* s = i % 2 == 0 ? sa : sb;
    const Result<Block> r = s->try_allocate(Layout{unit, 8});
    if (r) {
      std::memset(r->ptr, 0x7E, unit);
      mine.push_back(i % 2 == 0 ? *r : Block{m.in_a(r->ptr), unit});
    }
    if (mine.size() > 8) {
      const Block b = mine.front();
      mine.erase(mine.begin());
      const auto* bytes = static_cast<const unsigned char*>(b.ptr);
      for (std::size_t k = 0; k < unit; ++k) bad += bytes[k] != 0x7E;
      Error e = Error::contended;
      while (e == Error::contended) e = sa->try_deallocate(b);
      bad += e != Error::none;
    }
  }
  for (const Block& b : mine) bad += sa->try_deallocate(b) != Error::none;
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(reinterpret_cast<std::atomic<std::uint64_t>*>(verdict)->load(), 1u)
      << "the child saw errors or torn units";
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(sa->stats().live, 0u);
  std::size_t live = 0, free_bytes = 0;
  sa->walk([&](const Region& r) {
    live += r.kind == RegionKind::live;
    free_bytes += r.kind == RegionKind::free ? r.size : 0;
  });
  EXPECT_EQ(live, 0u);
  EXPECT_EQ(free_bytes, sa->block_count() * unit);
  sa->~S();
}

}  // namespace
}  // namespace swim::mem
