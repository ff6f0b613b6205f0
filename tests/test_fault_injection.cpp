// Fault injection over every public operation that can allocate.
//
// This program is built with SWIM_MEM_FAULT_INJECTION (tests/CMakeLists.txt; the
// library's sources are compiled into it with the macro too), so every heap's and
// hold's allocation first asks the hook defined below. For each operation, the
// harness (tests/support/fault_injection.hpp) runs it once counting the fault
// points it passes (K, printed as "[  faults  ] name: K = ..."), then once more for
// every n in 1..K with the n-th point failing, and checks that
//  - the operation answers its documented error (Error::out_of_memory, or
//    OutOfMemory, a std::bad_alloc, from the std adapters) exactly when a fault
//    was injected into it;
//  - a failed operation changed nothing: contents, sizes, the data pointer, the
//    hold's live objects and bytes in use, the source structure of a stow;
//  - the operation succeeds when tried again;
//  - nothing leaks: once everything is destroyed the holds count nothing live and
//    no leak report fires (LeakCapture).
//
// What the points cannot reach: an allocation that no heap or hold serves (the
// device-only paths, a Scope's bookkeeping) never fails this way; try_malloc's
// per-thread caches answer most requests without asking the hold (see
// ProcessHold below).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <list>
#include <map>
#include <memory_resource>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "support/arena.hpp"
#include "support/fault_injection.hpp"
#include "support/leak_capture.hpp"
#include "swim/mem.hpp"
#include "swim/mem/integrations.hpp"

SWIM_MEM_TEST_DEFINE_FAULT_POINT()

namespace swim::mem {
namespace {

using testing::Arena;
using testing::attempt;
using testing::attempt_and_retry;
using testing::Expect;
using testing::FaultPlan;
using testing::FaultScope;
using testing::LeakCapture;
using testing::sweep_faults;
using testing::sweep_faults_from;

// ---- Snapshots ------------------------------------------------------------------------

std::string text(const Stats& s) {
  return "live " + std::to_string(s.live) + ", in use " + std::to_string(s.bytes_in_use);
}
/// Everything a heap or hold counts (for failures that must not touch it at all).
std::string full_text(const Stats& s) {
  return text(s) + ", free " + std::to_string(s.bytes_free) + ", peak " +
         std::to_string(s.peak_bytes);
}

/// FNV-1a over 64-bit words: contents digests.
struct Digest {
  std::uint64_t h = 14695981039346656037ull;
  void add(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xFF;
      h *= 1099511628211ull;
    }
  }
  void add(const char* s, std::size_t n) {
    add(n);
    for (std::size_t i = 0; i < n; ++i) add(static_cast<unsigned char>(s[i]));
  }
};

/// A non-trivial element: counts live instances, and catches a copy or move from
/// anything that is not a live instance, and a double destruction.
struct Tracked {
  static constexpr std::uint32_t alive = 0x7A11C0DEu;
  static inline long live = 0;
  std::uint64_t v = 0;
  std::uint32_t magic = alive;

  Tracked() { ++live; }
  explicit Tracked(std::uint64_t x) : v(x) { ++live; }
  Tracked(const Tracked& o) : v(o.v) {
    check(o);
    ++live;
  }
  Tracked(Tracked&& o) noexcept : v(o.v) {
    check(o);
    ++live;
  }
  Tracked& operator=(const Tracked& o) {
    check(o);
    v = o.v;
    return *this;
  }
  ~Tracked() {
    EXPECT_EQ(magic, alive) << "destroyed twice, or never constructed";
    magic = 0;
    --live;
  }
  static void check(const Tracked& o) { EXPECT_EQ(o.magic, alive) << "copied from a dead value"; }
};

std::uint64_t value_of(std::uint64_t i) {
  return 0x5EED000000000000ull ^ (i * 0x9E3779B97F4A7C15ull);
}

// ---- The hook itself ------------------------------------------------------------------------

TEST(FaultHarness, PlansFailExactlyThePointsTheyName) {
  std::vector<bool> seen;
  FaultPlan counting = FaultPlan::count_only();
  {
    FaultScope armed(counting);
    for (int i = 0; i < 5; ++i) seen.push_back(detail::fault_point());
  }
  EXPECT_EQ(seen, std::vector<bool>(5, false));
  EXPECT_EQ(counting.passed(), 5u);
  EXPECT_FALSE(counting.fired());

  seen.clear();
  FaultPlan third = FaultPlan::fail_nth(3);
  {
    FaultScope armed(third);
    for (int i = 0; i < 5; ++i) seen.push_back(detail::fault_point());
  }
  EXPECT_EQ(seen, (std::vector<bool>{false, false, true, false, false}));
  EXPECT_EQ(third.failed(), 1u);

  seen.clear();
  FaultPlan from = FaultPlan::fail_from(2);
  {
    FaultScope armed(from);
    for (int i = 0; i < 4; ++i) seen.push_back(detail::fault_point());
  }
  EXPECT_EQ(seen, (std::vector<bool>{false, true, true, true}));

  // Unarmed: every point passes and nothing is counted.
  EXPECT_FALSE(detail::fault_point());
  EXPECT_EQ(third.passed(), 5u);
}

// The library's own points reach the hook (the macro is on for the headers and the
// library's sources alike).
TEST(FaultHarness, TheLibraryAsksTheHook) {
  alignas(64) static std::byte mem[4096];
  Pack<> pack(Block{mem, sizeof mem});
  FaultPlan first = FaultPlan::fail_nth(1);
  {
    FaultScope armed(first);
    EXPECT_EQ(pack.try_allocate(Layout{64, 8}).error(), Error::out_of_memory);
    Result<Block> b = pack.try_allocate(Layout{64, 8});
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(pack.try_deallocate(*b), Error::none);
  }
  EXPECT_EQ(first.passed(), 2u);
  // try_malloc of a large object asks the process hold (compiled in src/).
  FaultPlan big = FaultPlan::fail_nth(1);
  {
    FaultScope armed(big);
    EXPECT_EQ(try_malloc(1 << 20).error(), Error::out_of_memory);
  }
  EXPECT_EQ(big.failed(), 1u);
}

// ---- Heaps ----------------------------------------------------------------------------------

/// Whether the n bytes at p all hold the low byte of `v`.
bool filled_with(const void* p, std::size_t n, std::size_t v) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (std::size_t j = 0; j < n; ++j) {
    if (b[j] != (v & 0xFF)) return false;
  }
  return true;
}

/// Allocate every layout of `layouts` from `heap`, one attempt each (retried after
/// an injected fault); fill each block with its index, check that none was
/// overwritten by another, free them all.
template <class H>
void allocate_fill_free(FaultPlan& plan, H& heap, const std::vector<Layout>& layouts,
                        Expect expect = {}) {
  std::vector<Block> blocks;
  auto snap = [&] { return full_text(heap.stats()); };
  for (const Layout& l : layouts) {
    Result<Block> r = attempt_and_retry(
        plan, [&] { return heap.try_allocate(l); }, snap, expect);
    ASSERT_TRUE(r.ok()) << to_string(r.error());
    ASSERT_GE(r->size, l.size);
    std::memset(r->ptr, static_cast<int>(blocks.size() & 0xFF), l.size);
    blocks.push_back(Block{r->ptr, r->size});
  }
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    ASSERT_TRUE(filled_with(blocks[i].ptr, layouts[i].size, i)) << "block " << i << " overwritten";
  }
  for (const Block& b : blocks) ASSERT_EQ(heap.try_deallocate(b), Error::none);
  EXPECT_EQ(heap.stats().live, 0u);
  EXPECT_EQ(heap.stats().bytes_in_use, 0u);
}

std::vector<Layout> layouts(std::size_t n, std::size_t lo, std::size_t hi, std::size_t align = 8) {
  std::vector<Layout> v;
  for (std::size_t i = 0; i < n; ++i) v.push_back(Layout{lo + (i * 7919) % (hi - lo + 1), align});
  return v;
}

TEST(FaultHeaps, Slab) {
  Arena mem(64 * 1024);
  const auto k =
      sweep_faults("Slab<concurrent, checked>::try_allocate x 200", [&](FaultPlan& plan) {
        Slab<concurrent, true> slab(mem.block(), 256);
        allocate_fill_free(plan, slab, layouts(200, 1, 256));
      });
  EXPECT_EQ(k, 200u);
  const auto k1 =
      sweep_faults("Slab<single_owner, unchecked>::try_allocate x 200", [&](FaultPlan& plan) {
        Slab<single_owner, false> slab(mem.block(), 256);
        allocate_fill_free(plan, slab, layouts(200, 1, 256));
      });
  EXPECT_EQ(k1, 200u);
}

TEST(FaultHeaps, SlabCache) {
  Arena mem(64 * 1024);
  const auto k = sweep_faults("SlabCache::try_allocate x 200", [&](FaultPlan& plan) {
    Slab<> slab(mem.block(), 256);
    {
      SlabCache<Slab<>> cache(slab);
      allocate_fill_free(plan, cache, layouts(200, 1, 256));
      ASSERT_EQ(cache.flush(), Error::none);
    }
    EXPECT_EQ(slab.stats().live, 0u);
  });
  EXPECT_EQ(k, 200u);
}

TEST(FaultHeaps, AddrSpace) {
  Arena mem(8 << 20);
  const auto k = sweep_faults("AddrSpace::try_allocate x 100", [&](FaultPlan& plan) {
    AddrSpace<> pages(mem.block());
    allocate_fill_free(plan, pages, layouts(100, 1, 40000));
  });
  EXPECT_EQ(k, 100u);
}

TEST(FaultHeaps, ExtentHeapInBandAndApart) {
  Arena mem(4 << 20);
  const auto k = sweep_faults("ExtentHeap (in band)::try_allocate x 100", [&](FaultPlan& plan) {
    ExtentHeap<> heap(mem.block(), 256);
    allocate_fill_free(plan, heap, layouts(100, 1, 20000));
  });
  EXPECT_EQ(k, 100u);
  std::vector<std::byte> records(ExtentHeap<>::metadata_bytes(mem.size, 256) + 64);
  const auto k1 =
      sweep_faults("ExtentHeap (records apart)::try_allocate x 100", [&](FaultPlan& plan) {
        auto* at = reinterpret_cast<std::byte*>(
            (reinterpret_cast<std::uintptr_t>(records.data()) + 63) & ~std::uintptr_t(63));
        ExtentHeap<> heap(mem.block(), 256, Block{at, records.size() - 64});
        ASSERT_EQ(heap.init_error(), Error::none);
        allocate_fill_free(plan, heap, layouts(100, 1, 20000));
      });
  EXPECT_EQ(k1, 100u);
}

TEST(FaultHeaps, SourceHeapOverOsPages) {
  const auto k = sweep_faults("SourceHeap<OsPages>::try_allocate x 32", [&](FaultPlan& plan) {
    SourceHeap<OsPages> heap;
    allocate_fill_free(plan, heap, layouts(32, 1, 100000, 4096));
  });
  EXPECT_EQ(k, 32u);
}

// An ExtentArena that finds its range failing grows a new one and serves from it, so
// one fault alone may be absorbed (its contract is "Error values, nothing changed");
// here every point from the n-th on fails, and then so must the allocation.
TEST(FaultHeaps, ExtentArenaGrowsOrFailsCleanly) {
  ArenaOptions o;
  o.granule = 256;
  o.initial_bytes = 1 << 20;
  o.growth_bytes = 1 << 20;
  const auto k =
      sweep_faults_from("ExtentArena<OsPages>::try_allocate x 100", [&](FaultPlan& plan) {
        ExtentArena<OsPages> arena(OsPages{}, o);
        std::vector<Block> blocks;
        auto snap = [&] { return text(arena.stats()); };
        for (const Layout& l : layouts(100, 1, 30000)) {
          Result<Block> r = attempt(
              plan, [&] { return arena.try_allocate(l); }, snap);
          if (!r) break;  // every later point fails too
          blocks.push_back(*r);
        }
        for (const Block& b : blocks) ASSERT_EQ(arena.try_deallocate(b), Error::none);
        EXPECT_EQ(arena.stats().live, 0u);
      });
  EXPECT_GE(k, 100u);
}

// ---- Holds ------------------------------------------------------------------------------------

TEST(FaultHolds, Pack) {
  Arena mem(64 * 1024);
  const auto k = sweep_faults("Pack::try_allocate x 200", [&](FaultPlan& plan) {
    Pack<> pack(mem.block());
    std::vector<Layout> ls = layouts(200, 0, 200);  // (zero-size requests pass no point)
    allocate_fill_free(plan, pack, ls);
  });
  EXPECT_GE(k, 190u);
}

TEST(FaultHolds, PoolGrowingFromItsHeap) {
  Arena mem(8 << 20);
  const auto k =
      sweep_faults("Pool<AddrSpace>::try_allocate x 300 (growing)", [&](FaultPlan& plan) {
        AddrSpace<> pages(mem.block());
        {
          Pool<AddrSpace<>> pool(pages, 4096);
          allocate_fill_free(plan, pool, layouts(300, 1, 3000));
          EXPECT_GT(pool.hunk_count(), 10u);
        }
        EXPECT_EQ(pages.stats().live, 0u);
      });
  EXPECT_GT(k, 310u) << "the Pool's point and its heap's, for every new hunk";
}

TEST(FaultHolds, SizeClassesSmallAndLarge) {
  Arena mem(32 << 20);
  const auto k = sweep_faults("SizeClasses<AddrSpace>::try_allocate x 300", [&](FaultPlan& plan) {
    AddrSpace<> pages(mem.block());
    {
      SizeClasses<AddrSpace<>> hold(pages);
      // Small objects of many classes, and every 10th one large (its own block).
      std::vector<Layout> ls = layouts(300, 1, 9000);
      for (std::size_t i = 0; i < ls.size(); i += 10) ls[i].size = 40000 + i * 100;
      // A heap that runs dry is asked once more after the kept large blocks went
      // back; nothing is freed during this sequence, so nothing is kept, and every
      // fault must fail its allocation.
      allocate_fill_free(plan, hold, ls);
      (void)hold.trim();
    }
    EXPECT_EQ(pages.stats().live, 0u);
  });
  EXPECT_GT(k, 330u);
}

// HoldRef::try_reallocate of objects that cannot grow in place: a new object, a
// copy, the old one freed; a failure leaves the old object as it was.
TEST(FaultHolds, HoldRefReallocate) {
  Arena mem(8 << 20);
  const auto k = sweep_faults("HoldRef::try_reallocate x 100 (Pool)", [&](FaultPlan& plan) {
    AddrSpace<> pages(mem.block());
    {
      Pool<AddrSpace<>> pool(pages, 4096);
      const HoldRef hold = HoldRef::of(pool);
      std::vector<Block> blocks;
      for (std::size_t i = 0; i < 100; ++i) {
        Result<Block> b = hold.try_allocate(Layout{64, 8});
        ASSERT_TRUE(b.ok());
        std::memset(b->ptr, static_cast<int>(i), 64);
        blocks.push_back(*b);
      }
      auto snap = [&] { return text(pool.stats()); };
      for (std::size_t i = 0; i < blocks.size(); ++i) {
        const Layout bigger{256 + i * 8, 8};
        Result<Block> r = attempt(
            plan, [&] { return hold.try_reallocate(blocks[i], bigger); }, snap);
        if (!r) {
          const auto* p = static_cast<const unsigned char*>(blocks[i].ptr);
          for (int j = 0; j < 64; ++j) ASSERT_EQ(p[j], i) << "the old object was touched";
          r = attempt(
              plan, [&] { return hold.try_reallocate(blocks[i], bigger); }, snap);
          ASSERT_TRUE(r.ok());
        }
        const auto* p = static_cast<const unsigned char*>(r->ptr);
        for (int j = 0; j < 64; ++j) ASSERT_EQ(p[j], i);
        blocks[i] = *r;
      }
      for (const Block& b : blocks) ASSERT_EQ(hold_deallocate(b), Error::none);
      EXPECT_EQ(pool.stats().live, 0u);
    }
    EXPECT_EQ(pages.stats().live, 0u);
  });
  EXPECT_GT(k, 100u);
}

// ---- Leases and residents: a Pool over pages, small hunks --------------------------------

/// A Pool that grows often (16 KiB hunks) over 64 MiB of pages.
struct Env {
  static Arena& memory() {
    static Arena mem(64 << 20);
    return mem;
  }
  AddrSpace<> pages{memory().block()};
  std::optional<Pool<AddrSpace<>>> pool{std::in_place, pages, 16 * 1024};
  HoldRef hold() { return HoldRef::of(*pool); }
  Stats stats() const { return pool->stats(); }
  /// Everything freed: the pool holds nothing live, its hunks go back.
  void expect_empty() {
    EXPECT_EQ(pool->stats().live, 0u);
    EXPECT_EQ(pool->stats().bytes_in_use, 0u);
    pool.reset();
    EXPECT_EQ(pages.stats().live, 0u);
  }
};

/// A snapshot: a few words, compared and printed by gtest.
using State = std::array<std::uint64_t, 8>;

std::uint64_t addr(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

// The lease kinds a resident is tried under. A shared Mut has another Hard and a
// Soft on its arc, so that its growth is a relocation (leases/arc_lease.hpp).
struct RawKind {
  template <class T>
  using BufL = Raw<Buf<T>>;
  using StrL = Raw<String<>>;
  template <class T>
  using BoxL = Raw<Box<T>>;
  static constexpr bool shared = false;
};
struct PtrKind {
  template <class T>
  using BufL = Ptr<Buf<T, std::uint64_t>>;
  using StrL = Ptr<String<std::uint64_t>>;
  template <class T>
  using BoxL = Ptr<Box<T, std::uint64_t>>;
  static constexpr bool shared = false;
};
struct MutKind {
  template <class T>
  using BufL = Mut<Buf<T>>;
  using StrL = Mut<String<>>;
  template <class T>
  using BoxL = Mut<Box<T>>;
  static constexpr bool shared = false;
};
struct SharedMutKind : MutKind {
  static constexpr bool shared = true;
};

/// The other leases of a shared Mut's arc (none for the other kinds).
template <class L, bool Shared>
struct Others {
  explicit Others(L&) {}
  std::uint64_t status() const { return 0; }
  const void* data() const { return nullptr; }
};
template <class L>
struct Others<L, true> {
  using R = typename L::resident_type;
  explicit Others(L& m) : hard(m.to_hard().take()), soft(m.to_soft().take()) {}
  std::uint64_t status() const { return hard.status(); }
  const void* data() const { return hard.data(); }
  Hard<R> hard;
  Soft<R> soft;
};

template <class L>
State buf_state(const L& b, const Env& env, std::uint64_t other_status = 0,
                const void* other_data = nullptr) {
  const Stats s = env.stats();
  std::uint64_t status = 0;
  if constexpr (requires { b.status(); }) status = b.status();
  return State{b.size(),
               b.capacity(),
               addr(b.data()),
               s.live,
               s.bytes_in_use,
               static_cast<std::uint64_t>(Tracked::live),
               status ^ (other_status << 1),
               addr(other_data)};
}

template <class L>
void expect_contents(const L& b, const std::vector<std::uint64_t>& model) {
  ASSERT_EQ(b.size(), model.size());
  for (std::size_t i = 0; i < model.size(); ++i) ASSERT_EQ(b[i].v, model[i]) << "element " << i;
}

/// A shared Mut's arc, read through its other Hard once the Mut is gone.
template <class L, class O>
void finish_shared(L& lease, O& others, const std::vector<std::uint64_t>& model) {
  if constexpr (requires { others.hard; }) {
    lease.reset();
    {
      auto r = others.hard.poll_ref();
      ASSERT_TRUE(r.ok());
      expect_contents(*r, model);
    }
    others.hard.reset();
    others.soft.reset();
  } else {
    (void)others;
  }
}

template <class Kind>
class FaultBuf : public ::testing::Test {};
using Kinds = ::testing::Types<RawKind, PtrKind, MutKind, SharedMutKind>;
TYPED_TEST_SUITE(FaultBuf, Kinds);

// Two Bufs grown to 10,000 and 2,500 elements, interleaved so that neither grows in
// place: try_push (by value and by reference), try_emplace, try_insert.
TYPED_TEST(FaultBuf, PushEmplaceInsertTo10000) {
  using L = typename TypeParam::template BufL<Tracked>;
  constexpr std::size_t n = 10000;
  const auto k = sweep_faults("Buf push/emplace/insert to 10,000", [&](FaultPlan& plan) {
    Env env;
    {
      L a = L::try_empty(env.hold()).take();
      L b = L::try_empty(env.hold()).take();
      Others<L, TypeParam::shared> oa(a);
      std::vector<std::uint64_t> ma, mb;
      auto snap_a = [&] { return buf_state(a, env, oa.status(), oa.data()); };
      auto snap_b = [&] { return buf_state(b, env); };
      for (std::size_t i = 0; i < n && !::testing::Test::HasFailure(); ++i) {
        const std::uint64_t v = value_of(i);
        Error e = Error::none;
        if (i % 997 == 500) {
          const std::size_t at = a.size() / 2;
          e = attempt(
              plan, [&] { return a.try_insert(at, Tracked(v)); }, snap_a);
          if (e != Error::none) {
            expect_contents(a, ma);
            e = attempt(
                plan, [&] { return a.try_insert(at, Tracked(v)); }, snap_a);
          }
          ma.insert(ma.begin() + static_cast<std::ptrdiff_t>(at), v);
        } else if (i % 4 == 3) {
          e = attempt_and_retry(
              plan, [&] { return b.try_push(Tracked(v)); }, snap_b);
          mb.push_back(v);
        } else {
          const Tracked t(v);
          auto op = [&] {
            switch (i % 4) {
              case 0:
                return a.try_push(Tracked(v));
              case 1:
                return a.try_push(t);
              default:
                return a.try_emplace(v);
            }
          };
          e = attempt(plan, op, snap_a);
          if (e != Error::none) {
            expect_contents(a, ma);
            e = attempt(plan, op, snap_a);
          }
          ma.push_back(v);
        }
        ASSERT_EQ(e, Error::none) << "step " << i;
      }
      expect_contents(a, ma);
      expect_contents(b, mb);
      finish_shared(a, oa, ma);
    }
    EXPECT_EQ(Tracked::live, 0);
    env.expect_empty();
  });
  EXPECT_GT(k, 20u);
}

// try_reserve, try_reserve_exact, try_resize (both forms), try_shrink_to_fit and
// try_insert, each past the capacity and not on top of the hold.
TYPED_TEST(FaultBuf, ReserveResizeShrink) {
  using L = typename TypeParam::template BufL<Tracked>;
  const auto k = sweep_faults("Buf reserve/resize/shrink", [&](FaultPlan& plan) {
    Env env;
    {
      L a = L::try_with_capacity(env.hold(), 10).take();
      Others<L, TypeParam::shared> oa(a);
      std::vector<std::uint64_t> m;
      for (std::uint64_t i = 0; i < 10; ++i) {
        ASSERT_EQ(a.try_push(Tracked(i)), Error::none);
        m.push_back(i);
      }
      std::vector<Raw<Box<int>>> blockers;  // keep every growth off the top of the hunk
      auto block = [&] { blockers.push_back(Raw<Box<int>>::try_new(env.hold(), 1).take()); };
      auto snap = [&] { return buf_state(a, env, oa.status(), oa.data()); };
      auto step = [&](auto op) {
        block();
        const Error e = attempt_and_retry(plan, op, snap);
        ASSERT_EQ(e, Error::none);
      };
      step([&] { return a.try_reserve(5000); });
      EXPECT_GE(a.capacity(), 5010u);
      step([&] { return a.try_reserve_exact(a.capacity() + 1 - a.size()); });
      step([&] { return a.try_resize(12000); });
      m.resize(12000, 0);
      step([&] { return a.try_resize(30000, Tracked(7)); });
      m.resize(30000, 7);
      a.truncate(100);
      m.resize(100);
      step([&] { return a.try_shrink_to_fit(); });
      EXPECT_EQ(a.capacity(), 100u);
      step([&] { return a.try_insert(50, Tracked(99)); });
      m.insert(m.begin() + 50, 99);
      expect_contents(a, m);
      blockers.clear();
      finish_shared(a, oa, m);
    }
    EXPECT_EQ(Tracked::live, 0);
    env.expect_empty();
  });
  EXPECT_GE(k, 5u);
}

// The factories: try_with_capacity, try_from, try_filled, try_empty (a Raw's empty
// Buf is a zero-size object: no point).
TYPED_TEST(FaultBuf, Factories) {
  using L = typename TypeParam::template BufL<Tracked>;
  std::vector<Tracked> source;
  for (std::uint64_t i = 0; i < 300; ++i) source.emplace_back(value_of(i));
  const auto k = sweep_faults("Buf factories x 4 x 50", [&](FaultPlan& plan) {
    Env env;
    {
      std::vector<L> made;
      auto snap = [&] {
        const Stats s = env.stats();
        return State{made.size(), s.live, s.bytes_in_use,
                     static_cast<std::uint64_t>(Tracked::live)};
      };
      for (std::size_t i = 0; i < 50; ++i) {
        const std::size_t len = 50 + i * 5;
        Result<L> c = attempt_and_retry(
            plan, [&] { return L::try_with_capacity(env.hold(), len); }, snap);
        ASSERT_TRUE(c.ok());
        EXPECT_EQ(c->capacity(), len);
        made.push_back(c.take());
        Result<L> f = attempt_and_retry(
            plan, [&] { return L::try_from(env.hold(), source.data(), len); }, snap);
        ASSERT_TRUE(f.ok());
        ASSERT_EQ(f->size(), len);
        EXPECT_EQ((*f)[len - 1].v, value_of(len - 1));
        made.push_back(f.take());
        Result<L> fl = attempt_and_retry(
            plan, [&] { return L::try_filled(env.hold(), len, source[i]); }, snap);
        ASSERT_TRUE(fl.ok());
        EXPECT_EQ((*fl)[len / 2].v, value_of(i));
        made.push_back(fl.take());
        Result<L> e = attempt_and_retry(
            plan, [&] { return L::try_empty(env.hold()); }, snap);
        ASSERT_TRUE(e.ok());
        made.push_back(e.take());
      }
    }
    EXPECT_EQ(Tracked::live, 300);
    env.expect_empty();
  });
  EXPECT_GE(k, 150u);
}

// Text grown past 10,000 bytes: try_append (text and views), try_push (a code
// point), try_insert at a character boundary.
TYPED_TEST(FaultBuf, StringAppendPushInsert) {
  using L = typename TypeParam::StrL;
  const auto k = sweep_faults("String append/push/insert past 10,000 bytes", [&](FaultPlan& plan) {
    Env env;
    {
      L a = L::try_from(env.hold(), "début ").take();
      L b = L::try_empty(env.hold()).take();
      Others<L, TypeParam::shared> oa(a);
      std::string ma = "début ", mb;
      auto state = [&](const L& s, std::uint64_t os, const void* od) {
        const Stats st = env.stats();
        std::uint64_t status = 0;
        if constexpr (requires { s.status(); }) status = s.status();
        return State{s.size(), s.capacity(),    addr(s.view().data()),
                     st.live,  st.bytes_in_use, status ^ (os << 1),
                     addr(od)};
      };
      auto snap_a = [&] { return state(a, oa.status(), oa.data()); };
      auto snap_b = [&] { return state(b, 0, nullptr); };
      // One operation: on failure the text must be the model's still, and a retry
      // succeeds.
      auto step = [&](const L& s, const std::string& model, auto snap, auto op) {
        Error e = attempt(plan, op, snap);
        if (e != Error::none) {
          EXPECT_EQ(std::string(s.view().data(), s.size()), model);
          e = attempt(plan, op, snap);
        }
        return e;
      };
      for (int i = 0; a.size() < 10000 && !::testing::Test::HasFailure(); ++i) {
        Error e = Error::none;
        switch (i % 5) {
          case 0:
            e = step(a, ma, snap_a, [&] { return a.try_append("héllo wörld "); });
            ma += "héllo wörld ";
            break;
          case 1:
            e = step(a, ma, snap_a, [&] { return a.try_push(U'€'); });
            ma += "€";
            break;
          case 2:
            e = step(a, ma, snap_a, [&] { return a.try_insert(0, "ß"); });
            ma.insert(0, "ß");
            break;
          case 3:
            e = step(b, mb, snap_b, [&] { return b.try_append(StringView::of("日本語")); });
            mb += "日本語";
            break;
          default: {
            // The text's first characters appended to itself (the source moves if
            // the text does).
            std::size_t cut = 6;
            while (!a.is_char_boundary(cut)) --cut;
            e = step(a, ma, snap_a, [&] { return a.try_append(a.view().data(), cut); });
            ma += ma.substr(0, cut);
            break;
          }
        }
        ASSERT_EQ(e, Error::none) << "step " << i;
      }
      ASSERT_EQ(std::string(a.view().data(), a.size()), ma);
      ASSERT_EQ(std::string(b.view().data(), b.size()), mb);
      if constexpr (TypeParam::shared) {
        a.reset();
        auto r = oa.hard.poll_ref();
        ASSERT_TRUE(r.ok());
        EXPECT_EQ(std::string(r->view().data(), r->size()), ma);
        r->reset();
        oa.hard.reset();
        oa.soft.reset();
      }
    }
    env.expect_empty();
  });
  EXPECT_GE(k, 15u);
}

// Box creation: try_new (and try_new_with_meta) of 300 boxes.
TYPED_TEST(FaultBuf, BoxTryNew) {
  using L = typename TypeParam::template BoxL<Tracked>;
  const auto k = sweep_faults("Box try_new x 300", [&](FaultPlan& plan) {
    Env env;
    {
      std::vector<L> made;
      auto snap = [&] {
        const Stats s = env.stats();
        return State{made.size(), s.live, s.bytes_in_use,
                     static_cast<std::uint64_t>(Tracked::live)};
      };
      for (std::uint64_t i = 0; i < 300; ++i) {
        Result<L> r = attempt_and_retry(
            plan,
            [&] {
              if constexpr (std::is_same_v<TypeParam, PtrKind>) {
                return L::try_new_with_meta(env.hold(), i, value_of(i));
              } else {
                return L::try_new(env.hold(), value_of(i));
              }
            },
            snap);
        ASSERT_TRUE(r.ok());
        EXPECT_EQ((*r)->v, value_of(i));
        made.push_back(r.take());
      }
      if constexpr (std::is_same_v<TypeParam, PtrKind>) {
        EXPECT_EQ(made[7].metadata(), 7u);
      }
    }
    EXPECT_EQ(Tracked::live, 0);
    env.expect_empty();
  });
  EXPECT_GT(k, 300u);
}

// The shared leases that try_new makes directly: a Hard, a Ref.
TEST(FaultBox, HardAndRefTryNew) {
  const auto k = sweep_faults("Hard / Ref try_new x 150 each", [&](FaultPlan& plan) {
    Env env;
    {
      std::vector<Hard<Box<Tracked>>> hards;
      std::vector<Ref<Box<Tracked>>> refs;
      auto snap = [&] {
        const Stats s = env.stats();
        return State{hards.size(), refs.size(), s.live, s.bytes_in_use,
                     static_cast<std::uint64_t>(Tracked::live)};
      };
      for (std::uint64_t i = 0; i < 150; ++i) {
        Result<Hard<Box<Tracked>>> h = attempt_and_retry(
            plan, [&] { return Hard<Box<Tracked>>::try_new(env.hold(), value_of(i)); }, snap);
        ASSERT_TRUE(h.ok());
        EXPECT_EQ(h->status(), ArcStatus::hard_status_init);
        hards.push_back(h.take());
        Result<Ref<Box<Tracked>>> r = attempt_and_retry(
            plan, [&] { return Ref<Box<Tracked>>::try_new(env.hold(), value_of(i)); }, snap);
        ASSERT_TRUE(r.ok());
        EXPECT_EQ((*r)->v, value_of(i));
        refs.push_back(r.take());
      }
    }
    EXPECT_EQ(Tracked::live, 0);
    env.expect_empty();
  });
  EXPECT_GT(k, 300u);
}

// ---- Clone ----------------------------------------------------------------------------------

template <class Kind>
class FaultClone : public ::testing::Test {};
using ExclusiveKinds = ::testing::Types<RawKind, PtrKind>;
TYPED_TEST_SUITE(FaultClone, ExclusiveKinds);

// try_clone (into the lease's own hold) and try_clone_into (another hold) of 100
// Bufs, Boxes and Strings.
TYPED_TEST(FaultClone, BufBoxStringIntoTheirHoldAndAnother) {
  using B = typename TypeParam::template BufL<Tracked>;
  using X = typename TypeParam::template BoxL<Tracked>;
  using S = typename TypeParam::StrL;
  static Arena other_mem(16 << 20);
  const auto k = sweep_faults("try_clone / try_clone_into x 100 x 3", [&](FaultPlan& plan) {
    Env env;
    AddrSpace<> other_pages(other_mem.block());
    {
      Pool<AddrSpace<>> other(other_pages, 16 * 1024);
      std::vector<B> bufs;
      std::vector<X> boxes;
      std::vector<S> strs;
      for (std::uint64_t i = 0; i < 100; ++i) {
        B b = B::try_with_capacity(env.hold(), 2 * i + 1).take();
        for (std::uint64_t j = 0; j < i; ++j)
          ASSERT_EQ(b.try_push(Tracked(value_of(i + j))), Error::none);
        bufs.push_back(std::move(b));
        boxes.push_back(X::try_new(env.hold(), value_of(i)).take());
        strs.push_back(S::try_from(env.hold(), ("clone nº " + std::to_string(i)).c_str()).take());
      }
      std::vector<B> buf_clones;
      std::vector<X> box_clones;
      std::vector<S> str_clones;
      auto snap = [&] {
        const Stats s = env.stats(), o = other.stats();
        return State{s.live,
                     s.bytes_in_use,
                     o.live,
                     o.bytes_in_use,
                     static_cast<std::uint64_t>(Tracked::live),
                     buf_clones.size() + box_clones.size() + str_clones.size()};
      };
      for (std::size_t i = 0; i < 100; ++i) {
        const bool into_other = i % 2 == 1;
        const HoldRef to = into_other ? HoldRef::of(other) : env.hold();
        Result<B> cb = attempt_and_retry(
            plan, [&] { return into_other ? bufs[i].try_clone_into(to) : bufs[i].try_clone(); },
            snap);
        ASSERT_TRUE(cb.ok());
        ASSERT_EQ(cb->size(), i);
        EXPECT_EQ(cb->capacity(), i) << "shrunk to fit";
        for (std::size_t j = 0; j < i; ++j) ASSERT_EQ((*cb)[j].v, value_of(i + j));
        EXPECT_EQ(cb->hold(), to);
        buf_clones.push_back(cb.take());
        Result<X> cx = attempt_and_retry(
            plan, [&] { return into_other ? boxes[i].try_clone_into(to) : boxes[i].try_clone(); },
            snap);
        ASSERT_TRUE(cx.ok());
        EXPECT_EQ((*cx)->v, value_of(i));
        box_clones.push_back(cx.take());
        Result<S> cs = attempt_and_retry(
            plan, [&] { return into_other ? strs[i].try_clone_into(to) : strs[i].try_clone(); },
            snap);
        ASSERT_TRUE(cs.ok());
        EXPECT_TRUE(*cs == strs[i].view());
        str_clones.push_back(cs.take());
      }
      buf_clones.clear();
      box_clones.clear();
      str_clones.clear();
      EXPECT_EQ(other.stats().live, 0u);
    }
    EXPECT_EQ(other_pages.stats().live, 0u);
  });
  EXPECT_GT(k, 300u);
}

// The shared leases' copies: Ref::try_to_unique, Ref::try_into_unique and
// Hard::try_to_unique / try_into_unique while another Hard exists (so each is a
// copy). A consuming form that fails keeps its lease.
TEST(FaultClone, SharedLeasesCopyOnUnique) {
  using HB = Hard<Buf<Tracked>>;
  const auto k =
      sweep_faults("Ref/Hard try_to_unique / try_into_unique x 50 x 4", [&](FaultPlan& plan) {
        Env env;
        {
          std::vector<HB> originals, seconds;
          for (std::uint64_t i = 0; i < 50; ++i) {
            Mut<Buf<Tracked>> m = Mut<Buf<Tracked>>::try_with_capacity(env.hold(), i + 1).take();
            for (std::uint64_t j = 0; j <= i; ++j)
              ASSERT_EQ(m.try_push(Tracked(value_of(j))), Error::none);
            HB h = std::move(m).into_hard();
            seconds.push_back(h.try_clone().take());
            originals.push_back(std::move(h));
          }
          std::vector<Mut<Buf<Tracked>>> copies;
          auto check = [&](const Mut<Buf<Tracked>>& c, std::size_t i) {
            ASSERT_EQ(c.size(), i + 1);
            for (std::size_t j = 0; j <= i; ++j) ASSERT_EQ(c[j].v, value_of(j));
            EXPECT_FALSE(c.same_arc(originals[i])) << "a copy";
          };
          for (std::size_t i = 0; i < 50; ++i) {
            auto snap = [&] {
              const Stats s = env.stats();
              return State{s.live,
                           s.bytes_in_use,
                           static_cast<std::uint64_t>(Tracked::live),
                           originals[i].status(),
                           addr(originals[i].data()),
                           copies.size()};
            };
            {
              Ref<Buf<Tracked>> r = originals[i].poll_ref().take();
              Result<Mut<Buf<Tracked>>> c = attempt_and_retry(
                  plan, [&] { return r.try_to_unique(); }, snap);
              ASSERT_TRUE(c.ok());
              check(*c, i);
              copies.push_back(c.take());
              // Consuming: a failure must leave `r` as it was.
              Result<Mut<Buf<Tracked>>> c2 = attempt(
                  plan, [&] { return std::move(r).try_into_unique(); }, snap);
              if (!c2) {
                ASSERT_TRUE(r) << "a failed try_into_unique gave its Ref up";
                c2 = attempt(
                    plan, [&] { return std::move(r).try_into_unique(); }, snap);
              }
              ASSERT_TRUE(c2.ok());
              EXPECT_FALSE(r);
              check(*c2, i);
              copies.push_back(c2.take());
            }
            Result<Mut<Buf<Tracked>>> c3 = attempt_and_retry(
                plan, [&] { return originals[i].try_to_unique(); }, snap);
            ASSERT_TRUE(c3.ok());
            check(*c3, i);
            copies.push_back(c3.take());
            HB spare = originals[i].try_clone().take();
            auto snap2 = [&] {
              const Stats s = env.stats();
              return State{s.live,
                           s.bytes_in_use,
                           static_cast<std::uint64_t>(Tracked::live),
                           originals[i].status(),
                           addr(spare.data()),
                           copies.size()};
            };
            Result<Mut<Buf<Tracked>>> c4 = attempt(
                plan, [&] { return std::move(spare).try_into_unique(); }, snap2);
            if (!c4) {
              ASSERT_TRUE(spare) << "a failed try_into_unique gave its Hard up";
              c4 = attempt(
                  plan, [&] { return std::move(spare).try_into_unique(); }, snap2);
            }
            ASSERT_TRUE(c4.ok());
            check(*c4, i);
            copies.push_back(c4.take());
          }
          copies.clear();
          originals.clear();
          seconds.clear();
        }
        EXPECT_EQ(Tracked::live, 0);
        env.expect_empty();
      });
  EXPECT_GE(k, 200u);
}

// ---- Structures to stow ---------------------------------------------------------------------

/// A document tree of exclusive leases: a Box, a String and a Buf of Boxes each.
struct Doc {
  std::uint64_t id = 0;
  Raw<String<>> title;
  Raw<Buf<Raw<Box<Doc>>>> kids;
};

/// A tree of shared leases; some nodes also hold a Hard to one shared node (a DAG).
struct TNode {
  std::uint64_t v = 0;
  Hard<Box<TNode>> a, b, shared;
};

}  // namespace
}  // namespace swim::mem

template <>
struct swim::mem::stow_traits<swim::mem::Doc>
    : swim::mem::stow_members<swim::mem::Doc, &swim::mem::Doc::id, &swim::mem::Doc::title,
                              &swim::mem::Doc::kids> {};
template <>
struct swim::mem::stow_traits<swim::mem::TNode>
    : swim::mem::stow_members<swim::mem::TNode, &swim::mem::TNode::v, &swim::mem::TNode::a,
                              &swim::mem::TNode::b, &swim::mem::TNode::shared> {};

namespace swim::mem {
namespace {

using DocL = Raw<Box<Doc>>;
using HardNode = Hard<Box<TNode>>;

/// n documents in a 3-ary tree (document k's children are 3k+1..3k+3), each with a
/// title and a Buf of its children (with one spare slot for every other one, so
/// that a stowed copy is smaller). `garbage`, if given, gets a Box between documents.
DocL make_docs(HoldRef hold, std::uint64_t n,
               std::vector<Raw<Box<std::uint64_t>>>* garbage = nullptr) {
  std::vector<DocL> nodes(n);
  for (std::uint64_t k = n; k-- > 0;) {
    DocL d = DocL::try_new(hold).take();
    EXPECT_TRUE(d);
    d->id = value_of(k);
    d->title = Raw<String<>>::try_from(hold, ("document nº " + std::to_string(k)).c_str()).take();
    const std::uint64_t first = 3 * k + 1;
    const std::uint64_t count = first >= n ? 0 : std::min<std::uint64_t>(3, n - first);
    d->kids = Raw<Buf<DocL>>::try_with_capacity(hold, count == 0 ? 0 : count + k % 2).take();
    for (std::uint64_t c = first; c < first + count; ++c) {
      EXPECT_EQ(d->kids.try_push(std::move(nodes[c])), Error::none);
    }
    nodes[k] = std::move(d);
    if (garbage != nullptr) garbage->push_back(Raw<Box<std::uint64_t>>::try_new(hold, k).take());
  }
  return std::move(nodes[0]);
}

void digest_docs(const DocL& d, Digest& h, std::uint64_t& count) {
  if (!d) return;
  ++count;
  h.add(d->id);
  h.add(d->title.view().data(), d->title.size());
  h.add(d->kids.size());
  for (const DocL& c : d->kids) digest_docs(c, h, count);
}
/// The tree's contents, and its number of documents in the high bits.
std::uint64_t docs_digest(const DocL& d) {
  Digest h;
  std::uint64_t count = 0;
  digest_docs(d, h, count);
  return h.h ^ (count << 48);
}

HardNode make_node(HoldRef hold, std::uint64_t v, HardNode a, HardNode b, const HardNode* shared) {
  Result<HardNode> n = HardNode::try_new(hold);
  EXPECT_TRUE(n.ok());
  {
    Result<Mut<Box<TNode>>> m = n->poll_mut();
    (*m)->v = v;
    (*m)->a = std::move(a);
    (*m)->b = std::move(b);
    if (shared != nullptr) (*m)->shared = shared->try_clone().take();
  }
  return n.take();
}

/// Nodes i..n of a heap-ordered binary tree (children 2i, 2i+1); every 10th node
/// also holds a Hard to `shared`.
HardNode make_tree(HoldRef hold, std::uint64_t i, std::uint64_t n, const HardNode& shared) {
  if (i > n) return {};
  HardNode a = make_tree(hold, 2 * i, n, shared);
  HardNode b = make_tree(hold, 2 * i + 1, n, shared);
  return make_node(hold, value_of(i), std::move(a), std::move(b), i % 10 == 0 ? &shared : nullptr);
}

void digest_tree(const HardNode& h, Digest& d, std::uint64_t& count) {
  if (!h) return;
  d.add(h.status());  // before the borrow below
  Result<Ref<Box<TNode>>> r = h.poll_ref();
  if (!r.ok()) {
    ADD_FAILURE() << "a node cannot be borrowed: " << to_string(r.error());
    return;
  }
  ++count;
  d.add((*r)->v);
  if ((*r)->shared) d.add((*r)->shared.status());
  digest_tree((*r)->a, d, count);
  digest_tree((*r)->b, d, count);
}
/// The tree's values and every node's status word, and its size in the high bits.
std::uint64_t tree_digest(const HardNode& h) {
  Digest d;
  std::uint64_t count = 0;
  digest_tree(h, d, count);
  return d.h ^ (count << 48);
}

/// A 200-node shared tree with its shared node (whose own Hard is dropped: the
/// tree's 20 Hards keep it).
HardNode make_shared_tree(HoldRef hold) {
  HardNode shared = make_node(hold, 7, {}, {}, nullptr);
  HardNode root = make_tree(hold, 1, 200, shared);
  return root;
}

Raw<Buf<std::uint64_t>> make_ints(HoldRef hold, std::size_t n) {
  Raw<Buf<std::uint64_t>> b = Raw<Buf<std::uint64_t>>::try_with_capacity(hold, n + 100).take();
  for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(b.try_push(value_of(i)), Error::none);
  return b;
}
std::uint64_t ints_digest(const Raw<Buf<std::uint64_t>>& b) {
  Digest d;
  for (std::uint64_t v : b) d.add(v);
  return d.h ^ b.size();
}
/// ints_digest of what make_ints(hold, n) makes.
std::uint64_t made_ints_digest(std::size_t n) {
  Digest d;
  for (std::size_t i = 0; i < n; ++i) d.add(value_of(i));
  return d.h ^ n;
}

// ---- Stow -----------------------------------------------------------------------------------

TEST(FaultStow, DocumentTreeIntoAPack) {
  static Arena target_mem(4 << 20);
  const auto k = sweep_faults("try_stow: 200-document tree into a Pack", [&](FaultPlan& plan) {
    Env env;
    DocL root = make_docs(env.hold(), 200);
    const std::uint64_t want = docs_digest(root);
    {
      Pack<> target(target_mem.block());
      auto snap = [&] {
        const Stats s = env.stats(), t = target.stats();
        return State{docs_digest(root), addr(root.data()), s.live, s.bytes_in_use, t.live,
                     t.bytes_in_use};
      };
      Result<DocL> moved = attempt_and_retry(
          plan, [&] { return try_stow(root, HoldRef::of(target)); }, snap);
      ASSERT_TRUE(moved.ok());
      EXPECT_FALSE(root) << "the source is reset";
      EXPECT_EQ(env.stats().live, 0u) << "the source's memory was freed";
      EXPECT_EQ(docs_digest(*moved), want);
      moved->reset();
      EXPECT_EQ(target.stats().live, 0u);
    }
    env.expect_empty();
  });
  EXPECT_GT(k, 450u);
}

TEST(FaultStow, SharedTreeIntoAGrowingPool) {
  static Arena target_mem(8 << 20);
  const auto k =
      sweep_faults("try_stow: 200-node Hard tree (a DAG) into a Pool", [&](FaultPlan& plan) {
        Env env;
        AddrSpace<> target_pages(target_mem.block());
        HardNode root = make_shared_tree(env.hold());
        const std::uint64_t want = tree_digest(root);
        {
          Pool<AddrSpace<>> target(target_pages, 4096);
          auto snap = [&] {
            const Stats s = env.stats(), t = target.stats();
            return State{tree_digest(root), addr(root.data()), s.live, s.bytes_in_use, t.live,
                         t.bytes_in_use};
          };
          Result<HardNode> moved = attempt_and_retry(
              plan, [&] { return try_stow(root, HoldRef::of(target)); }, snap);
          ASSERT_TRUE(moved.ok());
          EXPECT_EQ(env.stats().live, 0u);
          EXPECT_EQ(target.stats().live, 201u) << "the shared node once";
          EXPECT_EQ(tree_digest(*moved), want);
          moved->reset();
          EXPECT_EQ(target.stats().live, 0u);
        }
        EXPECT_EQ(target_pages.stats().live, 0u);
        env.expect_empty();
      });
  EXPECT_GT(k, 201u);
}

// Four roots of every kind in one transaction: all move or none does.
TEST(FaultStow, StowAllIsOneTransaction) {
  static Arena target_mem(8 << 20);
  const auto k = sweep_faults(
      "try_stow_all: documents, Hard tree, Buf of 10,000, String", [&](FaultPlan& plan) {
        Env env;
        AddrSpace<> target_pages(target_mem.block());
        DocL docs = make_docs(env.hold(), 200);
        HardNode tree = make_shared_tree(env.hold());
        Raw<Buf<std::uint64_t>> ints = make_ints(env.hold(), 10000);
        Raw<String<>> str = Raw<String<>>::try_from(env.hold(), "a string that survives").take();
        const State want{docs_digest(docs), tree_digest(tree), ints_digest(ints)};
        {
          Pool<AddrSpace<>> target(target_pages, 16 * 1024);
          auto snap = [&] {
            const Stats s = env.stats(), t = target.stats();
            return State{docs_digest(docs),
                         tree_digest(tree),
                         ints_digest(ints),
                         addr(str.data()),
                         s.live,
                         s.bytes_in_use,
                         t.live,
                         t.bytes_in_use};
          };
          const Error e = attempt_and_retry(
              plan, [&] { return try_stow_all(HoldRef::of(target), docs, tree, ints, str); }, snap);
          ASSERT_EQ(e, Error::none);
          EXPECT_EQ(env.stats().live, 0u);
          EXPECT_EQ((State{docs_digest(docs), tree_digest(tree), ints_digest(ints)}), want);
          EXPECT_TRUE(str == "a string that survives");
          EXPECT_EQ(ints.capacity(), 10000u) << "stowed copies are shrunk to fit";
          docs.reset();
          tree.reset();
          ints.reset();
          str.reset();
          EXPECT_EQ(target.stats().live, 0u);
        }
        EXPECT_EQ(target_pages.stats().live, 0u);
        env.expect_empty();
      });
  EXPECT_GT(k, 650u);
}

// The same over a SizeClasses hold: a Buf grows in place within its unit, then
// moves to a larger class, then to large blocks; a stow fills class hunks. A large
// block the Buf left behind is kept for reuse, and a heap that refuses a large
// block is answered from a kept block of a larger bin, or asked again once the
// kept blocks went back: a fault at the heap's point may then be absorbed.
TEST(FaultStow, BufGrowthAndStowOverSizeClasses) {
  static Arena mem(32 << 20);
  const auto k =
      sweep_faults("SizeClasses: Buf to 10,000, then stowed with documents", [&](FaultPlan& plan) {
        AddrSpace<> pages(mem.block());
        {
          SizeClasses<AddrSpace<>> source(pages), target(pages);
          const HoldRef src = HoldRef::of(source);
          Raw<Buf<Tracked>> a = Raw<Buf<Tracked>>::try_empty(src).take();
          std::vector<std::uint64_t> model;
          const Expect absorbs{Error::out_of_memory, true};
          auto snap = [&] {
            const Stats s = source.stats();
            return State{a.size(), a.capacity(),   addr(a.data()),
                         s.live,   s.bytes_in_use, static_cast<std::uint64_t>(Tracked::live)};
          };
          for (std::uint64_t i = 0; i < 10000; ++i) {
            ASSERT_EQ(attempt_and_retry(
                          plan, [&] { return a.try_push(Tracked(value_of(i))); }, snap, absorbs),
                      Error::none);
            model.push_back(value_of(i));
          }
          expect_contents(a, model);
          DocL docs = make_docs(src, 200);
          const std::uint64_t want = docs_digest(docs);
          auto snap2 = [&] {
            const Stats s = source.stats(), t = target.stats();
            return State{docs_digest(docs), s.live, s.bytes_in_use, t.live, t.bytes_in_use};
          };
          ASSERT_EQ(attempt_and_retry(
                        plan, [&] { return try_stow_all(HoldRef::of(target), docs); }, snap2),
                    Error::none);
          EXPECT_EQ(docs_digest(docs), want);
          EXPECT_EQ(docs.hold(), HoldRef::of(target));
          docs.reset();
          a.reset();
          EXPECT_EQ(source.stats().live, 0u);
          EXPECT_EQ(target.stats().live, 0u);
        }
        EXPECT_EQ(Tracked::live, 0);
        EXPECT_EQ(pages.stats().live, 0u);
      });
  EXPECT_GT(k, 450u);
}

// ---- Compaction -----------------------------------------------------------------------------

TEST(FaultCompact, PoolAroundItsRoots) {
  const auto k =
      sweep_faults("try_compact: Pool around documents and a Hard tree", [&](FaultPlan& plan) {
        Env env;
        std::vector<Raw<Box<std::uint64_t>>> garbage;
        DocL docs = make_docs(env.hold(), 200, &garbage);
        HardNode tree = make_shared_tree(env.hold());
        garbage.clear();  // holes between the documents
        const std::uint64_t want_docs = docs_digest(docs), want_tree = tree_digest(tree);
        const Stats before = env.stats();
        auto snap = [&] {
          const Stats s = env.stats();
          return State{
              docs_digest(docs), tree_digest(tree), addr(docs.data()), addr(tree.data()), s.live,
              s.bytes_in_use};
        };
        Result<CompactionReport> r = attempt_and_retry(
            plan, [&] { return try_compact(*env.pool, docs, tree); }, snap);
        ASSERT_TRUE(r.ok());
        EXPECT_EQ(docs_digest(docs), want_docs);
        EXPECT_EQ(tree_digest(tree), want_tree);
        EXPECT_EQ(env.stats().live, before.live);
        EXPECT_LT(r->fragmentation_after, r->fragmentation_before);
        docs.reset();
        tree.reset();
        env.expect_empty();
      });
  EXPECT_GT(k, 650u);
}

// A share of a parallel compaction is not one transaction: it stops at its first
// failure, with the leases before it moved and every other one intact where it was;
// a second round moves the rest.
template <class Hold>
void compact_share_trial(FaultPlan& plan, Arena& from_mem, Arena& to_mem) {
  AddrSpace<> from_pages(from_mem.block()), to_pages(to_mem.block());
  {
    std::optional<Hold> from, to;
    if constexpr (std::is_same_v<Hold, Pool<AddrSpace<>>>) {
      from.emplace(from_pages, 4096);
      to.emplace(to_pages, 4096);
    } else {
      from.emplace(from_pages);
      to.emplace(to_pages);
    }
    const HoldRef f = HoldRef::of(*from), t = HoldRef::of(*to);
    constexpr std::size_t n = 100;
    std::vector<Raw<Buf<std::uint64_t>>> bufs;
    std::vector<HardNode> hards;
    for (std::size_t i = 0; i < n; ++i) {
      bufs.push_back(make_ints(f, 20 + i));
      hards.push_back(make_node(f, value_of(i), {}, {}, nullptr));
    }
    // (Bytes in use are not kept: a stowed Buf is shrunk to fit.)
    const std::size_t live = from->stats().live;
    auto share = [&](auto& leases) {
      FaultScope armed(plan);
      return try_compact_share(leases.data(), leases.size(), 0, 1, f, t);
    };
    auto check = [&](const CompactShareReport& r, auto& leases, bool hard) {
      EXPECT_EQ(r.moved + r.stayed + r.skipped, n);
      for (std::size_t i = 0; i < n; ++i) {
        ASSERT_TRUE(leases[i]);
        if constexpr (requires { leases[i].size(); }) {
          ASSERT_EQ(ints_digest(leases[i]), made_ints_digest(20 + i));
        } else {
          ASSERT_EQ(leases[i].poll_ref().take()->v, value_of(i));
        }
        (void)hard;
      }
    };
    for (int round = 0; round < 2; ++round) {
      const std::uint64_t fired = plan.failed();
      const CompactShareReport rb = share(bufs);
      const bool bufs_fault = plan.failed() != fired;
      const CompactShareReport rh = share(hards);
      const bool hards_fault = plan.failed() != fired + bufs_fault;
      for (const auto& [r, fault] : {std::pair{rb, bufs_fault}, std::pair{rh, hards_fault}}) {
        if (fault) {
          EXPECT_EQ(r.error, Error::out_of_memory);
          EXPECT_GT(r.stayed, 0u);
        } else {
          EXPECT_EQ(r.error, Error::none);
          EXPECT_EQ(r.stayed, 0u);
        }
      }
      check(rb, bufs, false);
      check(rh, hards, true);
      // Every lease is in exactly one of the holds, the moved ones first.
      std::size_t in_to = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const bool moved = bufs[i].hold() == t;
        EXPECT_TRUE(moved || bufs[i].hold() == f);
        if (moved) {
          EXPECT_EQ(i, in_to++) << "a share moves its leases in order";
        }
      }
      EXPECT_EQ(from->stats().live + to->stats().live, live);
    }
    EXPECT_EQ(from->stats().live, 0u) << "the second round moved the rest";
    const CompactRelease rel = release_compacted(*from);
    EXPECT_EQ(rel.live, 0u);
    bufs.clear();
    hards.clear();
    EXPECT_EQ(to->stats().live, 0u);
  }
  EXPECT_EQ(from_pages.stats().live, 0u);
  EXPECT_EQ(to_pages.stats().live, 0u);
}

TEST(FaultCompact, ShareFromSizeClassesAndFromAPool) {
  static Arena from_mem(16 << 20), to_mem(16 << 20);
  const auto k =
      sweep_faults("try_compact_share: 100 Bufs + 100 Hards (SizeClasses)", [&](FaultPlan& plan) {
        compact_share_trial<SizeClasses<AddrSpace<>>>(plan, from_mem, to_mem);
      });
  EXPECT_GT(k, 200u);
  const auto k1 = sweep_faults(
      "try_compact_share: 100 Bufs + 100 Hards (Pool)",
      [&](FaultPlan& plan) { compact_share_trial<Pool<AddrSpace<>>>(plan, from_mem, to_mem); });
  EXPECT_GT(k1, 200u);
}

// ---- Scopes ---------------------------------------------------------------------------------

TEST(FaultScopes, KeepSurvivorsIntoTheOuterHold) {
  static Arena scratch_mem(8 << 20);
  const auto k = sweep_faults("Scope::try_keep: documents and a Hard tree", [&](FaultPlan& plan) {
    Env env;
    AddrSpace<> scratch_pages(scratch_mem.block());
    const HoldRef previous = set_default_hold(env.hold());
    DocL docs;
    HardNode tree;
    std::uint64_t want_docs = 0, want_tree = 0;
    {
      Scope<Pool<AddrSpace<>>> scratch(scratch_pages, 16 * 1024);
      std::vector<Raw<Box<std::uint64_t>>> garbage;
      docs = make_docs(current_hold(), 200, &garbage);
      tree = make_shared_tree(current_hold());
      garbage.clear();
      want_docs = docs_digest(docs);
      want_tree = tree_digest(tree);
      auto snap = [&] {
        const Stats s = scratch.hold().stats(), o = env.stats();
        return State{docs_digest(docs), tree_digest(tree), s.live, s.bytes_in_use, o.live,
                     o.bytes_in_use};
      };
      const Error e = attempt_and_retry(
          plan, [&] { return scratch.try_keep(docs, tree); }, snap);
      ASSERT_EQ(e, Error::none);
      EXPECT_EQ(docs.hold(), env.hold());
      EXPECT_EQ(scratch.hold().stats().live, 0u);
    }
    set_default_hold(previous);
    EXPECT_EQ(docs_digest(docs), want_docs);
    EXPECT_EQ(tree_digest(tree), want_tree);
    docs.reset();
    tree.reset();
    EXPECT_EQ(scratch_pages.stats().live, 0u);
    env.expect_empty();
  });
  EXPECT_GT(k, 650u);
}

TEST(FaultScopes, LocalScopeKeep) {
  static Arena scratch_mem(1 << 20);
  const auto k = sweep_faults("LocalScope<Pack>::try_keep: 200 documents", [&](FaultPlan& plan) {
    Env env;
    DocL docs;
    unsigned long long leaks = 0;
    std::uint64_t want = 0;
    {
      LocalScope<Pack<single_owner>> scratch(env.hold(), &leaks, scratch_mem.block());
      docs = make_docs(scratch.ref(), 200);
      want = docs_digest(docs);
      auto snap = [&] {
        const Stats s = scratch.hold().stats(), o = env.stats();
        return State{docs_digest(docs), s.live, s.bytes_in_use, o.live, o.bytes_in_use};
      };
      ASSERT_EQ(attempt_and_retry(
                    plan, [&] { return scratch.try_keep(docs); }, snap),
                Error::none);
    }
    EXPECT_EQ(leaks, 0u);
    EXPECT_EQ(docs_digest(docs), want);
    docs.reset();
    env.expect_empty();
  });
  EXPECT_GT(k, 450u);
}

// ---- The std adapters: OutOfMemory (a std::bad_alloc) from their throwing forms -------------

/// Run a std container operation that allocates; OutOfMemory becomes
/// Error::out_of_memory; any other exception is a failure of its own.
template <class F>
auto throwing(F&& body) {
  return [body]() -> Error {
    try {
      body();
      return Error::none;
    } catch (const OutOfMemory&) {
      return Error::out_of_memory;
    } catch (const std::bad_alloc&) {
      return Error::unsupported;  // a bad_alloc that is not the adapter's
    } catch (const MemoryError& e) {
      return e.code() == Error::none ? Error::unsupported : e.code();
    }
  };
}

TEST(FaultAdapters, PmrContainersOverAHoldAndAHeap) {
  const auto k =
      sweep_faults("MemoryResource<HoldRef>: pmr vector, map, unordered_map", [&](FaultPlan& plan) {
        Env env;
        {
          MemoryResource<HoldRef> res = memory_resource_of(*env.pool);
          std::pmr::vector<std::uint64_t> v(&res);
          std::pmr::map<int, std::pmr::string> m(&res);
          std::pmr::unordered_map<int, int> u(&res);
          auto snap = [&] {
            const Stats s = env.stats();
            return State{v.size(), v.capacity(),     addr(v.data()), m.size(),
                         u.size(), u.bucket_count(), s.live,         s.bytes_in_use};
          };
          for (std::size_t i = 0; i < 10000; ++i) {
            ASSERT_EQ(
                attempt_and_retry(plan, throwing([&v, i] { v.push_back(value_of(i)); }), snap),
                Error::none);
          }
          for (int i = 0; i < 300; ++i) {
            ASSERT_EQ(attempt_and_retry(plan, throwing([&m, i] {
                                          m.try_emplace(i, static_cast<std::size_t>(40 + i % 50),
                                                        static_cast<char>('a' + i % 26));
                                        }),
                                        snap),
                      Error::none);
            ASSERT_EQ(attempt_and_retry(plan, throwing([&u, i] { u.emplace(i, i * i); }), snap),
                      Error::none);
          }
          for (std::size_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i], value_of(i));
          for (int i = 0; i < 300; ++i) {
            ASSERT_EQ(std::string(m.at(i)), std::string(static_cast<std::size_t>(40 + i % 50),
                                                        static_cast<char>('a' + i % 26)));
            ASSERT_EQ(u.at(i), i * i);
          }
        }
        env.expect_empty();
      });
  EXPECT_GT(k, 600u);

  // Straight over a heap (the resource refers to it).
  static Arena mem(16 << 20);
  const auto k1 =
      sweep_faults("MemoryResource<ExtentHeap>: pmr vector to 10,000", [&](FaultPlan& plan) {
        ExtentHeap<> heap(mem.block(), 256);
        {
          MemoryResource res(heap);
          std::pmr::vector<std::uint64_t> v(&res);
          auto snap = [&] {
            const Stats s = heap.stats();
            return State{v.size(), v.capacity(),   addr(v.data()),
                         s.live,   s.bytes_in_use, s.bytes_free};
          };
          for (std::size_t i = 0; i < 10000; ++i) {
            ASSERT_EQ(
                attempt_and_retry(plan, throwing([&v, i] { v.push_back(value_of(i)); }), snap),
                Error::none);
          }
          for (std::size_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i], value_of(i));
        }
        EXPECT_EQ(heap.stats().live, 0u);
      });
  EXPECT_GE(k1, 14u);
}

TEST(FaultAdapters, StlAllocatorContainers) {
  const auto k = sweep_faults("StlAllocator<Pool>: vector, list, map", [&](FaultPlan& plan) {
    Env env;
    {
      using P = Pool<AddrSpace<>>;
      StlAllocator<std::uint64_t, P> a(*env.pool);
      std::vector<std::uint64_t, StlAllocator<std::uint64_t, P>> v(a);
      std::list<Tracked, StlAllocator<Tracked, P>> l(a);
      std::map<int, Tracked, std::less<int>, StlAllocator<std::pair<const int, Tracked>, P>> m(a);
      auto snap = [&] {
        const Stats s = env.stats();
        return State{
            v.size(), v.capacity(), addr(v.data()), l.size(),
            m.size(), s.live,       s.bytes_in_use, static_cast<std::uint64_t>(Tracked::live)};
      };
      for (std::size_t i = 0; i < 10000; ++i) {
        ASSERT_EQ(attempt_and_retry(plan, throwing([&v, i] { v.push_back(value_of(i)); }), snap),
                  Error::none);
      }
      for (int i = 0; i < 300; ++i) {
        ASSERT_EQ(attempt_and_retry(plan, throwing([&l, i] { l.emplace_back(value_of(i)); }), snap),
                  Error::none);
        ASSERT_EQ(
            attempt_and_retry(plan, throwing([&m, i] { m.try_emplace(i, value_of(i)); }), snap),
            Error::none);
      }
      std::size_t j = 0;
      for (const Tracked& t : l) ASSERT_EQ(t.v, value_of(j++));
      for (int i = 0; i < 300; ++i) ASSERT_EQ(m.at(i).v, value_of(i));
      // allocate(n) itself: OutOfMemory, the pool unchanged.
      ASSERT_EQ(
          attempt_and_retry(plan, throwing([&a] { a.deallocate(a.allocate(100), 100); }), snap),
          Error::none);
    }
    EXPECT_EQ(Tracked::live, 0);
    env.expect_empty();
  });
  EXPECT_GT(k, 600u);
}

// ---- try_malloc: the process-wide hold --------------------------------------------------------
// Only what misses the calling thread's cache reaches a point: a large object
// (the hold's point, then its heap's), or a class whose cache is empty (the
// refill's runs of units, SizeClasses::try_take_run, and the heap's point for a
// new hunk). A refill that got some units before a later run failed succeeds
// with those: such a fault is absorbed.

/// The process hold as a test finds it: every cache flushed and empty hunks given
/// back, so that each trial starts from the same state.
Stats quiet_process_hold() {
  flush_thread_cache();
  (void)trim_process_hold();
  return process_hold_stats();
}

TEST(FaultProcessHold, LargeObjects) {
  const auto k = sweep_faults("try_malloc: 100 large objects", [&](FaultPlan& plan) {
    const Stats base = quiet_process_hold();
    std::vector<Block> blocks;
    auto snap = [&] {
      const Stats s = process_hold_stats();
      return State{blocks.size(), s.live, s.bytes_in_use};
    };
    for (std::size_t i = 0; i < 100; ++i) {
      const std::size_t n = 40000 + i * 512;
      Result<Block> r = attempt_and_retry(
          plan, [&] { return try_malloc(n); }, snap);
      ASSERT_TRUE(r.ok());
      std::memset(r->ptr, static_cast<int>(i), n);
      blocks.push_back(*r);
    }
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      ASSERT_EQ(static_cast<unsigned char*>(blocks[i].ptr)[40000 - 1], i & 0xFF);
      ASSERT_EQ(try_free(blocks[i].ptr), Error::none);
    }
    const Stats after = quiet_process_hold();
    EXPECT_EQ(after.live, base.live);
    EXPECT_EQ(after.bytes_in_use, base.bytes_in_use);
  });
  EXPECT_GE(k, 200u) << "the hold's point and its heap's, for every object";
}

TEST(FaultProcessHold, ClassObjectsWhenTheCacheMisses) {
  const auto k = sweep_faults("try_malloc: 300 objects of 6000 bytes", [&](FaultPlan& plan) {
    const Stats base = quiet_process_hold();
    std::vector<Block> blocks;
    auto snap = [&] {
      const Stats s = process_hold_stats();
      return State{blocks.size(), s.live, s.bytes_in_use};
    };
    for (std::size_t i = 0; i < 300; ++i) {
      Result<Block> r = attempt_and_retry(
          plan, [&] { return try_malloc(6000); }, snap, Expect{Error::out_of_memory, true});
      ASSERT_TRUE(r.ok());
      std::memset(r->ptr, static_cast<int>(i), 6000);
      blocks.push_back(*r);
    }
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      ASSERT_EQ(static_cast<unsigned char*>(blocks[i].ptr)[5999], i & 0xFF);
      ASSERT_EQ(try_free(blocks[i].ptr), Error::none);
    }
    const Stats after = quiet_process_hold();
    EXPECT_EQ(after.live, base.live);
    EXPECT_EQ(after.bytes_in_use, base.bytes_in_use);
  });
  EXPECT_GE(k, 20u) << "a new hunk every few objects";
}

// Leases in the process hold allocate through its HoldRef: the hold's own point.
TEST(FaultProcessHold, LeasesInTheProcessHold) {
  const auto k = sweep_faults("Raw<Box> x 200 in process_hold()", [&](FaultPlan& plan) {
    const Stats base = quiet_process_hold();
    {
      std::vector<Raw<Box<Tracked>>> boxes;
      auto snap = [&] {
        const Stats s = process_hold_stats();
        return State{boxes.size(), s.live, s.bytes_in_use,
                     static_cast<std::uint64_t>(Tracked::live)};
      };
      for (std::uint64_t i = 0; i < 200; ++i) {
        Result<Raw<Box<Tracked>>> r = attempt_and_retry(
            plan, [&] { return Raw<Box<Tracked>>::try_new(process_hold(), value_of(i)); }, snap);
        ASSERT_TRUE(r.ok());
        boxes.push_back(r.take());
      }
      for (std::uint64_t i = 0; i < 200; ++i) ASSERT_EQ(boxes[i]->v, value_of(i));
    }
    EXPECT_EQ(Tracked::live, 0);
    const Stats after = quiet_process_hold();
    EXPECT_EQ(after.live, base.live);
  });
  EXPECT_GE(k, 200u);
}

}  // namespace
}  // namespace swim::mem
