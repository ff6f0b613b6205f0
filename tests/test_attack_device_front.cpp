// Adversarial tests of the warp front (holds/warp_front.hpp, config/warp.hpp,
// tests/support/emulated_warp.hpp) and of parallel compaction
// (residents/compact_share.hpp): mixed and invalid requests in one warp call,
// masks with gaps, divergent sub-warps, exhaustion part way through a round on
// tiny heaps, frees by other threads while runs are taken, and compaction with bad
// arguments, stale and borrowed leases, tiny fresh holds, repeated rounds, and a
// release while objects are still live. Each test checks results lane by lane and
// the holds' statistics exactly. Run under the default, asan and tsan presets.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "../device/lease_workers.hpp"
#include "../device/warp_workers.hpp"
#include "support/arena.hpp"
#include "support/emulated_warp.hpp"
#include "swim/mem.hpp"
#include "swim/mem/holds/warp_front.hpp"

namespace swim::mem::testing {
namespace {

using Table = detail::SizeClassTable;
using FrontHeap = ExtentHeap<concurrent>;
using FrontHold = SizeClasses<FrontHeap, concurrent, true>;

template <unsigned W>
struct Width {
  static constexpr unsigned value = W;
};
template <class T>
class AttackFront : public ::testing::Test {};
using Widths = ::testing::Types<Width<32>, Width<64>>;
TYPED_TEST_SUITE(AttackFront, Widths);

struct Env {
  explicit Env(std::size_t bytes, std::size_t granule = 4096)
      : arena(bytes), heap(arena.block(), granule), hold(heap) {}
  Arena arena;
  FrontHeap heap;
  FrontHold hold;
};

/// What a lone try_allocate of `layout` would say before any heap question: the
/// argument errors (none: the request is valid).
Error argument_error(Layout l) {
  if (!detail::is_pow2(l.align) || l.align > Layout::max_align) return Error::misaligned;
  return Error::none;
}

/// Blocks of successful results (with the tag word in front) are disjoint.
std::size_t overlaps(std::vector<Block> blocks) {
  blocks.erase(std::remove_if(blocks.begin(), blocks.end(), [](Block b) { return b.size == 0; }),
               blocks.end());
  std::sort(blocks.begin(), blocks.end(), [](Block a, Block b) { return a.address() < b.address(); });
  std::size_t n = 0;
  for (std::size_t k = 1; k < blocks.size(); ++k) {
    n += blocks[k - 1].address() + blocks[k - 1].size + detail::tag_size > blocks[k].address();
  }
  return n;
}

// A menagerie of layouts: every lane of a warp asks for something else, valid and
// invalid together. Lane l's layout.
Layout wild_layout(unsigned l) {
  constexpr std::size_t huge = std::numeric_limits<std::size_t>::max();
  switch (l % 16) {
    case 0: return Layout{0, 8};                    // zero size
    case 1: return Layout{0, 1};                    // zero size, byte aligned
    case 2: return Layout{huge, 8};                 // can never fit
    case 3: return Layout{huge - 7, 16};            // overflow bait for the large path
    case 4: return Layout{64, 0};                   // alignment 0
    case 5: return Layout{64, 3};                   // not a power of two
    case 6: return Layout{64, std::size_t(1) << 63};  // absurd alignment
    case 7: return Layout{Table::max_object, 16};   // the largest class object
    case 8: return Layout{Table::max_object + 1, 16};  // the smallest large object
    case 9: return Layout{1, 1};                    // the smallest class object
    case 10: return Layout{17, 8};                  // class of stride 32 ...
    case 11: return Layout{24, 16};                 // ... the same class, another size
    case 12: return Layout{100, 32};                // over-aligned small: large path
    case 13: return Layout{8, 16};                  // stride 16
    case 14: return Layout{1000, 8};
    default: return Layout{24 + l, 8};              // many classes
  }
}

std::vector<char> lanes_of(WarpMask m, std::size_t n) {
  std::vector<char> v(n, 0);
  for (std::size_t l = 0; l < n && l < 64; ++l) v[l] = ((m >> l) & 1) != 0;
  return v;
}

/// Check lane results against what a lone call could give, then free everything
/// and check the hold is exactly empty.
void check_and_free(FrontHold& hold, const std::vector<Layout>& layouts,
                    const std::vector<Result<Block>>& results, const std::vector<char>& called,
                    bool may_run_out) {
  std::vector<Block> blocks;
  std::size_t live = 0, used = 0;
  for (unsigned l = 0; l < layouts.size(); ++l) {
    if (!called[l]) continue;
    const Layout lay = layouts[l];
    const Result<Block>& r = results[l];
    const Error want = argument_error(lay);
    if (want != Error::none) {
      EXPECT_EQ(r.error(), want) << "lane " << l << " size " << lay.size << " align " << lay.align;
      continue;
    }
    if (!r.ok()) {
      // The only errors a valid request may get: the heap's. Error::contended is
      // one of them: a large request meets ExtentHeap's bounded try-lock, whose
      // holder (another lane's thread here) may be off its core for longer than the
      // spin bound when threads outnumber cores; it is retryable and not running out.
      if (r.error() == Error::contended) continue;
      const bool heap_said = r.error() == Error::out_of_memory || r.error() == Error::oversized;
      EXPECT_TRUE(heap_said) << "lane " << l << ": " << to_string(r.error());
      EXPECT_TRUE(may_run_out || lay.size > (std::size_t(1) << 40))
          << "lane " << l << " size " << lay.size << ": " << to_string(r.error());
      continue;
    }
    EXPECT_GE(r->size, lay.size) << l;
    EXPECT_EQ(r->address() % lay.align, 0u) << l;
    if (lay.size != 0) {
      std::memset(r->ptr, static_cast<int>(l), lay.size);  // ASan: the whole object is ours
      blocks.push_back(*r);
    }
    ++live;
    used += r->size;
  }
  EXPECT_EQ(overlaps(blocks), 0u);
  EXPECT_EQ(hold.stats().live, live);
  EXPECT_EQ(hold.stats().bytes_in_use, used);
  for (unsigned l = 0; l < layouts.size(); ++l) {
    if (!called[l] || !results[l].ok()) continue;
    const Block b = *results[l];
    if (b.size != 0) {
      const auto* bytes = static_cast<const unsigned char*>(b.ptr);
      for (std::size_t q = 0; q < layouts[l].size; ++q) {
        if (bytes[q] != static_cast<unsigned char>(l)) {
          ADD_FAILURE() << "lane " << l << " byte " << q << " overwritten";
          break;
        }
      }
    }
    EXPECT_EQ(hold.try_deallocate(b), Error::none) << l;
  }
  EXPECT_EQ(hold.stats().live, 0u);
  EXPECT_EQ(hold.stats().bytes_in_use, 0u);
}

// Every lane of a full warp asks for something different, invalid and valid mixed.
TYPED_TEST(AttackFront, WildMixedRequestsInOneCallGetLoneAnswers) {
  constexpr unsigned W = TypeParam::value;
  Env env(std::size_t(16) << 20);
  std::vector<Layout> layouts(W);
  for (unsigned l = 0; l < W; ++l) layouts[l] = wild_layout(l);
  std::vector<Result<Block>> results(W, Result<Block>(Error::invalid_argument));
  std::vector<WarpTrace> traces(W);
  const WarpMask all = WarpGroup<W>::all;
  EXPECT_EQ(run_emulated_warps<W>(1, [&](unsigned) { return all; },
                                  [&](EmulatedWarp<W>& warp, unsigned) {
                                    const unsigned l = warp.lane();
                                    results[l] = warp_try_allocate(warp, env.hold, layouts[l], all, &traces[l]);
                                  }),
            0u);
  for (unsigned l = 0; l < W; ++l) {
    EXPECT_LE(traces[l].round, W) << l;
    if (!detail::class_request(layouts[l])) {
      EXPECT_TRUE(traces[l].per_lane) << l;
      EXPECT_EQ(traces[l].round, 0u) << l;
    }
  }
  // Lanes 10 and 11 (and 26, 27 for W >= 32) share the stride-32 class: one round.
  EXPECT_EQ(traces[10].round, traces[11].round);
  EXPECT_GE(traces[10].asked, 2u);
  check_and_free(env.hold, layouts, results, lanes_of(all, W), false);
  (void)env.hold.trim();
  EXPECT_EQ(env.hold.reserved_bytes(), 0u);
}

// Masks with gaps and divergence: the even lanes and the lanes = 1 mod 4 call at
// the same time with their own masks; the lanes = 3 mod 4 do not call at all.
TYPED_TEST(AttackFront, DivergentGappedMasksAtOnce) {
  constexpr unsigned W = TypeParam::value;
  for (unsigned repeat = 0; repeat < 4; ++repeat) {
    Env env(std::size_t(16) << 20);
    WarpMask even = 0, one = 0;
    for (unsigned l = 0; l < W; ++l) {
      if (l % 2 == 0) even |= WarpMask(1) << l;
      if (l % 4 == 1) one |= WarpMask(1) << l;
    }
    std::vector<Layout> layouts(W);
    for (unsigned l = 0; l < W; ++l) layouts[l] = wild_layout(l * 5 + repeat);
    std::vector<Result<Block>> results(W, Result<Block>(Error::invalid_argument));
    EXPECT_EQ(run_emulated_warps<W>(3, [&](unsigned) { return WarpGroup<W>::all; },
                                    [&](EmulatedWarp<W>& warp, unsigned w) {
                                      const unsigned l = warp.lane();
                                      if (w != 1) return;  // other warps: idle lanes
                                      if (l % 4 == 3) return;
                                      const WarpMask mine = l % 2 == 0 ? even : one;
                                      results[l] = warp_try_allocate(warp, env.hold, layouts[l], mine);
                                    }),
              0u);
    check_and_free(env.hold, layouts, results, lanes_of(even | one, W), false);
  }
}

// A tiny heap: exhaustion part way through a round, several warps at once. Every
// lane gets an object or a heap error, nothing overlaps, the statistics count
// exactly what was granted, and everything comes back.
TYPED_TEST(AttackFront, ExhaustionMidRoundOnATinyHeapIsCleanAndExact) {
  constexpr unsigned W = TypeParam::value;
  for (std::size_t bytes : {std::size_t(64) << 10, std::size_t(136) << 10, std::size_t(300) << 10}) {
    Env env(bytes, 4096);
    constexpr unsigned warps = 3;
    std::vector<Layout> layouts(warps * W);
    for (unsigned i = 0; i < warps * W; ++i) {
      // Two classes per warp, sizes from 16 B to 3 KiB, plus one large object per warp.
      layouts[i] = i % W == 7 ? Layout{40000, 8} : Layout{16 + (i % 2) * 3000 + (i / W) * 400, 8};
    }
    std::vector<Result<Block>> results(warps * W, Result<Block>(Error::invalid_argument));
    std::vector<WarpTrace> traces(warps * W);
    EXPECT_EQ(run_emulated_warps<W>(warps, [&](unsigned) { return WarpGroup<W>::all; },
                                    [&](EmulatedWarp<W>& warp, unsigned w) {
                                      const unsigned i = w * W + warp.lane();
                                      results[i] = warp_try_allocate(warp, env.hold, layouts[i],
                                                                     warp.active(), &traces[i]);
                                    }),
              0u);
    std::size_t granted = 0, refused = 0;
    for (unsigned i = 0; i < warps * W; ++i) {
      if (results[i].ok()) ++granted;
      else if (results[i].error() == Error::contended) ADD_FAILURE() << "contended on lane " << i;
      else ++refused;
      EXPECT_LE(traces[i].granted, traces[i].asked) << i;
    }
    std::printf("W=%u heap %zu KiB: %zu granted, %zu refused\n", W, bytes >> 10, granted, refused);
    EXPECT_GT(refused, 0u) << bytes;
    check_and_free(env.hold, layouts, results, std::vector<char>(warps * W, 1), true);
    EXPECT_EQ(env.hold.stats().live, 0u);
    EXPECT_EQ(env.hold.stats().bytes_in_use, 0u);
    (void)env.hold.trim();
    EXPECT_EQ(env.hold.reserved_bytes(), 0u);
    EXPECT_EQ(env.heap.stats().live, 0u) << "every hunk back in the heap";
  }
}

// A heap too small for one hunk of the class: every lane of the round gets the
// same heap error as a lone call, and a lone call afterwards agrees.
TYPED_TEST(AttackFront, AHeapWithoutRoomForAHunkAnswersEveryLaneAsALoneCall) {
  constexpr unsigned W = TypeParam::value;
  Env env(std::size_t(32) << 10, 1024);  // < one 64 KiB hunk
  std::vector<Result<Block>> results(W, Result<Block>(Error::invalid_argument));
  EXPECT_EQ(run_emulated_warps<W>(1, [&](unsigned) { return WarpGroup<W>::all; },
                                  [&](EmulatedWarp<W>& warp, unsigned) {
                                    results[warp.lane()] =
                                        warp_try_allocate(warp, env.hold, Layout{48, 16}, warp.active());
                                  }),
            0u);
  const Error lone = env.hold.try_allocate(Layout{48, 16}).error();
  EXPECT_NE(lone, Error::none);
  for (unsigned l = 0; l < W; ++l) EXPECT_EQ(results[l].error(), lone) << l;
  EXPECT_EQ(env.hold.stats().live, 0u);
  EXPECT_EQ(env.hold.hunk_count(), 0u);
}

// Frees of objects of the same classes by plain threads while warps take runs: the
// reused units (from free stacks) are handed out once, contents stay intact.
TYPED_TEST(AttackFront, ConcurrentFreesWhileRunsAreTaken) {
  constexpr unsigned W = TypeParam::value;
  constexpr unsigned warps = 3;
  constexpr unsigned rounds = 6;
  Env env(std::size_t(32) << 20);
  // Objects to free meanwhile: the same classes, made in advance by lone calls.
  constexpr unsigned pre = 3000;
  std::vector<Block> old(pre);
  for (unsigned k = 0; k < pre; ++k) {
    old[k] = env.hold.try_allocate(Layout{24 + 16 * (k % 4), 8}).take();
    std::memset(old[k].ptr, 0xEE, old[k].size);
  }
  std::atomic<bool> go{false};
  std::vector<std::thread> freers;
  std::atomic<unsigned> freed{0};
  for (unsigned f = 0; f < 2; ++f) {
    freers.emplace_back([&, f] {
      while (!go.load()) std::this_thread::yield();
      for (unsigned k = f; k < pre; k += 2) {
        Error e = Error::contended;
        for (unsigned a = 0; a < 1000 && e == Error::contended; ++a) e = hold_deallocate(old[k]);
        if (e == Error::none) freed.fetch_add(1);
      }
    });
  }
  std::vector<Block> got(std::size_t(warps) * W * rounds);
  std::vector<Error> errs(got.size(), Error::none);
  go.store(true);
  EXPECT_EQ(run_emulated_warps<W>(warps, [&](unsigned) { return WarpGroup<W>::all; },
                                  [&](EmulatedWarp<W>& warp, unsigned w) {
                                    const unsigned l = warp.lane();
                                    for (unsigned r = 0; r < rounds; ++r) {
                                      const std::size_t i = (std::size_t(w) * W + l) * rounds + r;
                                      const Layout lay{24 + 16 * ((l + r) % 4), 8};
                                      Result<Block> res = Error::contended;
                                      WarpMask ask = warp.active();
                                      for (unsigned call = 0; ask != 0 && call < 1024; ++call) {
                                        if ((ask >> l) & 1) res = warp_try_allocate(warp, env.hold, lay, ask);
                                        ask = warp.ballot(warp.active(), res.error() == Error::contended);
                                      }
                                      errs[i] = res.error();
                                      if (res) {
                                        got[i] = *res;
                                        std::memset(res->ptr, static_cast<int>(i & 0x7F), lay.size);
                                      }
                                    }
                                  }),
            0u);
  for (std::thread& t : freers) t.join();
  EXPECT_EQ(freed.load(), pre);
  for (std::size_t i = 0; i < got.size(); ++i) ASSERT_EQ(errs[i], Error::none) << i;
  EXPECT_EQ(overlaps(got), 0u);
  EXPECT_EQ(env.hold.stats().live, got.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    const auto* b = static_cast<const unsigned char*>(got[i].ptr);
    const std::size_t l = (i / rounds) % W, r = i % rounds;
    const std::size_t size = 24 + 16 * ((l + r) % 4);
    for (std::size_t q = 0; q < size; ++q) ASSERT_EQ(b[q], static_cast<unsigned char>(i & 0x7F)) << i;
    EXPECT_EQ(env.hold.try_deallocate(got[i]), Error::none);
  }
  EXPECT_EQ(env.hold.stats().live, 0u);
  EXPECT_EQ(env.hold.stats().bytes_in_use, 0u);
}

// Contract breaks on the host Warp (one lane): a mask without the calling lane.
// The answer must be an error (not a success with no object) and nothing taken.
// Found (low): warp_try_allocate called warp_leader(pending) with pending == 0
// when the caller was not in `among` (its ballot leaves no lane pending):
// detail::countr_zero(0) is __builtin_ctzll(0), undefined (the asan preset's
// UBSan halted: "passing zero to ctz()"); on CUDA __ffsll(0) - 1, lane
// 0xFFFFFFFF, then __shfl_sync with an empty mask. Fixed: such a caller gets
// invalid_argument before any exchange.
TEST(AttackFrontHost, AMaskWithoutTheCallerIsAnErrorNotASuccess) {
  Env env(std::size_t(4) << 20);
  for (WarpMask among : {WarpMask(0b10), WarpMask(0b100)}) {
    WarpTrace t{};
    const Result<Block> r = warp_try_allocate(Warp{}, env.hold, Layout{64, 16}, among, &t);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), Error::invalid_argument);
    std::printf("host warp, among %#llx: %s, round %u\n", static_cast<unsigned long long>(among),
                to_string(r.error()), t.round);
    EXPECT_EQ(env.hold.stats().live, 0u);
  }
}

// The same break on an emulated warp: lane 0 runs alone and names only lane 1.
// It gets invalid_argument, takes nothing and does not hang (the same fix).
TEST(AttackFrontHost, EmulatedLaneOutsideItsMaskIsAnswered) {
  Env env(std::size_t(4) << 20);
  WarpGroup<32> g(WarpMask(1), std::chrono::milliseconds(200));
  EmulatedWarp<32> warp(g, 0);
  const Result<Block> r = warp_try_allocate(warp, env.hold, Layout{64, 16}, WarpMask(0b10));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), Error::invalid_argument);
  EXPECT_EQ(env.hold.stats().live, 0u);
}

// A lane whose layout is a class request of a size that shares its class with
// another size: both get the unit's capacity, at least what they asked.
TYPED_TEST(AttackFront, FullWarpEveryLaneALargeOrClassBoundaryRequest) {
  constexpr unsigned W = TypeParam::value;
  Env env(std::size_t(64) << 20);
  std::vector<Layout> layouts(W);
  for (unsigned l = 0; l < W; ++l) {
    const std::size_t sizes[] = {Table::max_object, Table::max_object - 1, 32768 - 8 - 8192, 8192 - 8,
                                 8192 - 7, 120, 121, 128 - 8};
    layouts[l] = Layout{sizes[l % 8], 16};
  }
  std::vector<Result<Block>> results(W, Result<Block>(Error::invalid_argument));
  EXPECT_EQ(run_emulated_warps<W>(1, [&](unsigned) { return WarpGroup<W>::all; },
                                  [&](EmulatedWarp<W>& warp, unsigned) {
                                    const unsigned l = warp.lane();
                                    results[l] = warp_try_allocate(warp, env.hold, layouts[l], warp.active());
                                  }),
            0u);
  check_and_free(env.hold, layouts, results, lanes_of(WarpGroup<W>::all, W), false);
}

// ---- Compaction ---------------------------------------------------------------------

using Heap = ExtentHeap<concurrent>;
using Classes = SizeClasses<Heap, concurrent, true>;
using HeapPool = Pool<Heap, concurrent, true>;
using BoxU = Raw<Box<std::uint64_t>>;
using BufU = Raw<Buf<std::uint32_t>>;
using PtrBuf = Ptr<Buf<std::uint32_t>>;
using HardU = Hard<Box<std::uint64_t>>;
using device_leases::NodeLease;

template <class Hold>
struct Holds3 {
  explicit Holds3(std::size_t fresh_bytes = std::size_t(4) << 20)
      : old_mem(std::size_t(4) << 20), fresh_mem(fresh_bytes), third_mem(std::size_t(1) << 20),
        old_heap(old_mem.block(), 1024), fresh_heap(fresh_mem.block(), 1024),
        third_heap(third_mem.block(), 1024) {
    make(old_hold, old_heap);
    make(fresh_hold, fresh_heap);
    make(third_hold, third_heap);
  }
  static void make(std::optional<Hold>& h, Heap& heap) {
    if constexpr (std::is_same_v<Hold, HeapPool>) {
      h.emplace(heap, 1024);
    } else {
      h.emplace(heap);
    }
  }
  HoldRef old() { return HoldRef::of(*old_hold); }
  HoldRef fresh() { return HoldRef::of(*fresh_hold); }
  HoldRef third() { return HoldRef::of(*third_hold); }
  Arena old_mem, fresh_mem, third_mem;
  Heap old_heap, fresh_heap, third_heap;
  std::optional<Hold> old_hold, fresh_hold, third_hold;
  ~Holds3() {
    third_hold.reset();
    fresh_hold.reset();
    old_hold.reset();
  }
};

template <class Hold>
class AttackCompact : public ::testing::Test {};
using HoldTypes = ::testing::Types<Classes, HeapPool>;
TYPED_TEST_SUITE(AttackCompact, HoldTypes);

std::uint64_t val(std::size_t i) { return 0xC0FFEE00ull + i * 131; }

TYPED_TEST(AttackCompact, BadArgumentsAreRefusedWithoutTouchingAnything) {
  Holds3<TypeParam> h;
  std::vector<BoxU> v(5);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = BoxU::try_new(h.old(), val(i)).take();
  const Stats before = h.old_hold->stats();
  const std::size_t big = std::numeric_limits<std::size_t>::max();
  const auto refused = [&](CompactShareReport r, const char* what) {
    EXPECT_EQ(r.error, Error::invalid_argument) << what;
    EXPECT_EQ(r.moved + r.stayed + r.skipped + r.retried, 0u) << what;
  };
  refused(try_compact_share(v.data(), v.size(), big, big, h.old(), h.fresh()), "thread == threads == max");
  refused(try_compact_share(v.data(), v.size(), 5, 5, h.old(), h.fresh()), "thread == threads");
  refused(try_compact_share(v.data(), v.size(), 6, 5, h.old(), h.fresh()), "thread > threads");
  refused(try_compact_share(v.data(), v.size(), 0, 0, h.old(), h.fresh()), "threads 0");
  refused(try_compact_share(static_cast<BoxU*>(nullptr), big, 0, 1, h.old(), h.fresh()), "null, max count");
  refused(try_compact_share(v.data(), v.size(), 0, 1, h.fresh(), h.fresh()), "from == to (fresh)");
  refused(try_compact_share(v.data(), 0, 0, 0, h.old(), h.fresh()), "count 0, threads 0");
  // Count 0 with a real array, and a huge thread count: nothing to do, no error.
  CompactShareReport r = try_compact_share(v.data(), 0, 0, 1, h.old(), h.fresh());
  EXPECT_EQ(r.error, Error::none);
  EXPECT_EQ(r.moved + r.skipped, 0u);
  r = try_compact_share(v.data(), v.size(), big - 1, big, h.old(), h.fresh());
  EXPECT_EQ(r.error, Error::none);
  EXPECT_EQ(r.moved + r.skipped + r.stayed, 0u) << "thread past the array: no lease";
  // from == a third hold none of the leases is in: all skipped.
  r = try_compact_share(v.data(), v.size(), 0, 1, h.third(), h.fresh());
  EXPECT_EQ(r.error, Error::none);
  EXPECT_EQ(r.skipped, v.size());
  EXPECT_EQ(h.old_hold->stats().live, before.live);
  EXPECT_EQ(h.old_hold->stats().bytes_in_use, before.bytes_in_use);
  EXPECT_EQ(h.fresh_hold->stats().live, 0u);
  for (std::size_t i = 0; i < v.size(); ++i) {
    EXPECT_EQ(v[i].hold(), h.old());
    EXPECT_EQ(*v[i], val(i));
  }
}

// Already-moved leases (null after a move, or already in `to`), leases of a third
// hold, zero-length Bufs, Ptrs: a mixed array; two shares; then every lease is
// used (contents read, written, freed through the lease) after the release.
TYPED_TEST(AttackCompact, MixedArrayMovesExactlyAndEveryLeaseWorksAfterRelease) {
  Holds3<TypeParam> h;
  constexpr std::size_t n = 48;
  std::vector<BufU> bufs(n);
  std::vector<PtrBuf> ptrs(n);
  for (std::size_t i = 0; i < n; ++i) {
    HoldRef where = i % 7 == 3 ? h.third() : i % 5 == 4 ? h.fresh() : h.old();
    const std::size_t len = i % 6 == 0 ? 0 : 1 + (i * 37) % 300;
    bufs[i] = BufU::try_filled(where, len, static_cast<std::uint32_t>(i)).take();
    ptrs[i] = PtrBuf::try_filled(where, len, static_cast<std::uint32_t>(i + 1000)).take();
  }
  for (std::size_t i = 0; i < n; i += 11) {
    BufU gone = std::move(bufs[i]);  // a moved-from lease: null
    (void)gone;
  }
  const Stats old_before = h.old_hold->stats();
  const Stats fresh_before = h.fresh_hold->stats();
  const Stats third_before = h.third_hold->stats();
  std::size_t moved = 0;
  for (std::size_t t = 0; t < 3; ++t) {
    const CompactShareReport a = try_compact_share(bufs.data(), n, t, 3, h.old(), h.fresh());
    const CompactShareReport b = try_compact_share(ptrs.data(), n, t, 3, h.old(), h.fresh());
    EXPECT_EQ(a.error, Error::none);
    EXPECT_EQ(b.error, Error::none);
    moved += a.moved + b.moved;
  }
  EXPECT_EQ(h.old_hold->stats().live, 0u);
  EXPECT_EQ(h.old_hold->stats().bytes_in_use, 0u);
  EXPECT_EQ(h.fresh_hold->stats().live, fresh_before.live + moved);
  EXPECT_EQ(h.fresh_hold->stats().bytes_in_use, fresh_before.bytes_in_use + old_before.bytes_in_use);
  EXPECT_EQ(h.third_hold->stats().live, third_before.live);
  const CompactRelease rel = release_compacted(*h.old_hold);
  EXPECT_EQ(rel.live, 0u);
  EXPECT_EQ(rel.hunks_kept, 0u);
  EXPECT_EQ(h.old_heap.stats().live, 0u);
  for (std::size_t i = 0; i < n; ++i) {
    const bool gone = i % 11 == 0;
    const std::size_t len = i % 6 == 0 ? 0 : 1 + (i * 37) % 300;
    const HoldRef want = i % 7 == 3 ? h.third() : h.fresh();
    if (!gone) {
      EXPECT_EQ(bufs[i].size(), len) << i;
      if (bufs[i]) {
        EXPECT_EQ(bufs[i].hold(), want) << i;
      }
      for (std::size_t e = 0; e < len; ++e) ASSERT_EQ(bufs[i][e], i) << i;
      if (len != 0) bufs[i][len - 1] = 7;  // writable
      EXPECT_EQ(bufs[i].try_push(9u), Error::none) << i;  // grows in its hold
      bufs[i].reset();
    } else {
      EXPECT_FALSE(bufs[i]);
    }
    ASSERT_TRUE(ptrs[i]);
    EXPECT_EQ(ptrs[i].hold(), want) << i;
    EXPECT_EQ(ptrs[i].size(), len);
    for (std::size_t e = 0; e < len; ++e) ASSERT_EQ(ptrs[i][e], i + 1000) << i;
    ptrs[i].reset();
  }
  EXPECT_EQ(h.fresh_hold->stats().live, 0u);
  EXPECT_EQ(h.third_hold->stats().live, 0u);
}

// A list whose head is in `from` but whose tail nodes live in a third hold: the
// share moves the whole list (a stow is deep), so nodes leave the third hold.
// Whose head is in the third hold but whose tail is in `from`: skipped, and the
// tail keeps `from`'s hunks. Records the behaviour (the file comment of
// compact_share.hpp speaks only of the lease's own object).
TYPED_TEST(AttackCompact, ListsSpanningHoldsFollowTheirHead) {
  Holds3<TypeParam> h;
  std::vector<NodeLease> lists(2);
  // List 0: head in old, next in third.  List 1: head in third, next in old.
  for (unsigned k = 0; k < 2; ++k) {
    NodeLease tail = NodeLease::try_new(k == 0 ? h.third() : h.old()).take();
    tail->value = 100 + k;
    NodeLease head = NodeLease::try_new(k == 0 ? h.old() : h.third()).take();
    head->value = 10 + k;
    head->next = std::move(tail);
    lists[k] = std::move(head);
  }
  const CompactShareReport r = try_compact_share(lists.data(), 2, 0, 1, h.old(), h.fresh());
  EXPECT_EQ(r.error, Error::none);
  EXPECT_EQ(r.moved, 1u);
  EXPECT_EQ(r.skipped, 1u);
  EXPECT_EQ(lists[0].hold(), h.fresh());
  EXPECT_EQ(lists[0]->next.hold(), h.fresh()) << "the third hold's node was moved too";
  EXPECT_EQ(lists[0]->value, 10u);
  EXPECT_EQ(lists[0]->next->value, 100u);
  EXPECT_EQ(h.third_hold->stats().live, 1u) << "only list 1's head is left there";
  EXPECT_EQ(lists[1]->next.hold(), h.old());
  EXPECT_EQ(release_compacted(*h.old_hold).live, 1u) << "list 1's tail pins a hunk";
  device_leases::free_list(lists[0]);
  device_leases::free_list(lists[1]);
  EXPECT_EQ(h.old_hold->stats().live, 0u);
  EXPECT_EQ(h.fresh_hold->stats().live, 0u);
  EXPECT_EQ(h.third_hold->stats().live, 0u);
}

// A fresh hold over a heap with no room at all: every share stops at once, every
// lease stays intact in `from`, nothing is left in `to`; repeated rounds change
// nothing.
TYPED_TEST(AttackCompact, AFreshHoldWithNoRoomLeavesEverythingIntact) {
  Holds3<TypeParam> h;
  // Ballast: the whole fresh heap, so not even one hunk of either hold fits.
  const Result<Block> ballast = h.fresh_heap.try_allocate(Layout{h.fresh_heap.capacity(), 1024});
  ASSERT_TRUE(ballast.ok());
  constexpr std::size_t n = 20;
  std::vector<BufU> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = BufU::try_filled(h.old(), 10 + i, std::uint32_t(i)).take();
  const Stats before = h.old_hold->stats();
  for (unsigned round = 0; round < 3; ++round) {
    for (std::size_t t = 0; t < 4; ++t) {
      const CompactShareReport r = try_compact_share(v.data(), n, t, 4, h.old(), h.fresh(), 2);
      EXPECT_TRUE(r.error == Error::out_of_memory || r.error == Error::oversized) << to_string(r.error);
      EXPECT_EQ(r.moved, 0u);
      EXPECT_EQ(r.stayed, (n - t + 3) / 4);
      EXPECT_EQ(r.retried, 0u) << "out_of_memory is not retried";
    }
  }
  EXPECT_EQ(h.old_hold->stats().live, before.live);
  EXPECT_EQ(h.old_hold->stats().bytes_in_use, before.bytes_in_use);
  EXPECT_EQ(h.fresh_hold->stats().live, 0u);
  EXPECT_EQ(h.fresh_hold->reserved_bytes(), 0u);
  const CompactRelease rel = release_compacted(*h.old_hold);
  EXPECT_EQ(rel.live, n);
  EXPECT_EQ(rel.hunks_released, 0u);
  for (std::size_t i = 0; i < n; ++i) {
    ASSERT_EQ(v[i].hold(), h.old());
    for (std::size_t e = 0; e < v[i].size(); ++e) ASSERT_EQ(v[i][e], i);
  }
  // The old hold works after the release (a Pool's head was retired).
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(v[i].try_push(5u), Error::none) << i;
  BoxU extra = BoxU::try_new(h.old(), 1u).take();
  EXPECT_EQ(*extra, 1u);
  extra.reset();
  v.clear();
  EXPECT_EQ(h.old_hold->stats().live, 0u);
  EXPECT_EQ(release_compacted(*h.old_hold).hunks_kept, 0u);
  EXPECT_EQ(h.old_heap.stats().live, 0u);
  EXPECT_EQ(h.fresh_heap.try_deallocate(*ballast), Error::none);
}

// A stale Hard (its object relocated by another Hard's share) in a later share: it
// follows to the same copy, no second copy is made, the stub goes.
TYPED_TEST(AttackCompact, AStaleHardInALaterShareFollowsTheFirstCopy) {
  Holds3<TypeParam> h;
  std::vector<HardU> a(1), b(1);
  a[0] = HardU::try_new(h.old(), 99u).take();
  b[0] = a[0].try_clone().take();
  CompactShareReport r = try_compact_share(a.data(), 1, 0, 1, h.old(), h.fresh());
  EXPECT_EQ(r.error, Error::none);
  EXPECT_EQ(b[0].hold(), h.old());
  r = try_compact_share(b.data(), 1, 0, 1, h.old(), h.fresh());
  EXPECT_EQ(r.error, Error::none);
  EXPECT_EQ(b[0].hold(), h.fresh());
  EXPECT_EQ(a[0].data(), b[0].data()) << "one copy";
  EXPECT_EQ(h.fresh_hold->stats().live, 1u);
  EXPECT_EQ(h.old_hold->stats().live, 0u);
  // Moving it back (reverse direction) and the other Hard following again.
  r = try_compact_share(b.data(), 1, 0, 1, h.fresh(), h.old());
  EXPECT_EQ(r.error, Error::none);
  EXPECT_EQ(a[0].refresh(), Error::none);
  EXPECT_EQ(a[0].data(), b[0].data());
  EXPECT_EQ(*a[0].try_ref().take(), 99u);
  a.clear();
  b.clear();
  EXPECT_EQ(h.fresh_hold->stats().live, 0u);
  EXPECT_EQ(h.old_hold->stats().live, 0u);
}

// A Hard mutably borrowed elsewhere, with retries 0: one attempt, a retryable
// error, the lease and the borrow's writes intact; a later round moves it with the
// write.
TYPED_TEST(AttackCompact, MutablyBorrowedHardWithZeroRetries) {
  Holds3<TypeParam> h;
  std::vector<HardU> v(2);
  v[0] = HardU::try_new(h.old(), 1u).take();
  v[1] = HardU::try_new(h.old(), 2u).take();
  {
    auto m = v[0].try_mut().take();
    *m = 11u;
    const CompactShareReport r = try_compact_share(v.data(), 2, 0, 1, h.old(), h.fresh(), 0);
    EXPECT_TRUE(is_retryable(r.error)) << to_string(r.error);
    EXPECT_EQ(r.retried, 0u);
    EXPECT_EQ(r.stayed, 2u) << "the share stops at its first error";
    EXPECT_EQ(r.moved, 0u);
    EXPECT_EQ(v[0].hold(), h.old());
    EXPECT_EQ(v[1].hold(), h.old());
    *m = 12u;
  }
  const CompactShareReport r = try_compact_share(v.data(), 2, 0, 1, h.old(), h.fresh(), 0);
  EXPECT_EQ(r.error, Error::none);
  EXPECT_EQ(r.moved, 2u);
  EXPECT_EQ(*v[0].try_ref().take(), 12u);
  EXPECT_EQ(*v[1].try_ref().take(), 2u);
}

// Many shares at once while other threads free other objects of `from` and
// allocate and free in `to` (allowed by compact_share.hpp's contract); then a
// release with some objects of `from` still live, and every lease used after.
TYPED_TEST(AttackCompact, SharesWithTrafficInBothHoldsThenReleaseWithLiveObjects) {
  for (unsigned repeat = 0; repeat < 3; ++repeat) {
    Holds3<TypeParam> h(std::size_t(8) << 20);
    constexpr std::size_t n = 400;
    constexpr unsigned movers = 4;
    std::vector<BufU> v(n);
    std::vector<BoxU> others(n);  // not in the array: freed by other threads meanwhile
    std::vector<BoxU> pinned(8);  // not in the array: stay live in `from`
    for (std::size_t i = 0; i < n; ++i) {
      v[i] = BufU::try_filled(h.old(), 1 + i % 90, std::uint32_t(i * 3)).take();
      others[i] = BoxU::try_new(h.old(), val(i)).take();
    }
    for (std::size_t i = 0; i < pinned.size(); ++i) pinned[i] = BoxU::try_new(h.old(), val(i)).take();
    std::vector<CompactShareReport> reports(movers);
    std::vector<std::thread> pool;
    std::atomic<unsigned> bad{0};
    for (unsigned t = 0; t < movers; ++t) {
      pool.emplace_back([&, t] { reports[t] = try_compact_share(v.data(), n, t, movers, h.old(), h.fresh()); });
    }
    pool.emplace_back([&] {
      for (std::size_t i = 0; i < n; ++i) {
        if (*others[i] != val(i)) bad.fetch_add(1);
        others[i].reset();
      }
    });
    pool.emplace_back([&] {
      for (unsigned k = 0; k < 2000; ++k) {
        BoxU b = BoxU::try_new(h.fresh(), val(k)).take();
        if (*b != val(k)) bad.fetch_add(1);
      }
    });
    for (std::thread& th : pool) th.join();
    EXPECT_EQ(bad.load(), 0u);
    std::size_t moved = 0;
    for (const CompactShareReport& r : reports) {
      EXPECT_EQ(r.error, Error::none);
      moved += r.moved;
    }
    EXPECT_EQ(moved, n);
    EXPECT_EQ(h.old_hold->stats().live, pinned.size());
    EXPECT_EQ(h.fresh_hold->stats().live, n);
    const CompactRelease rel = release_compacted(*h.old_hold);
    EXPECT_EQ(rel.live, pinned.size());
    EXPECT_GE(rel.hunks_kept, 1u);
    EXPECT_LE(rel.hunks_kept, pinned.size());
    EXPECT_GT(rel.hunks_released, 0u);
    for (std::size_t i = 0; i < pinned.size(); ++i) EXPECT_EQ(*pinned[i], val(i));
    // A second round moves the pinned ones too, then a release empties the hold.
    const CompactShareReport r2 = try_compact_share(pinned.data(), pinned.size(), 0, 1, h.old(), h.fresh());
    EXPECT_EQ(r2.moved, pinned.size());
    EXPECT_EQ(release_compacted(*h.old_hold).hunks_kept, 0u);
    EXPECT_EQ(h.old_heap.stats().live, 0u);
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_EQ(v[i].hold(), h.fresh());
      ASSERT_EQ(v[i].size(), 1 + i % 90);
      for (std::size_t e = 0; e < v[i].size(); ++e) ASSERT_EQ(v[i][e], i * 3);
      v[i].reset();
    }
    for (std::size_t i = 0; i < pinned.size(); ++i) EXPECT_EQ(*pinned[i], val(i));
    pinned.clear();
    EXPECT_EQ(h.fresh_hold->stats().live, 0u);
    EXPECT_EQ(h.fresh_hold->stats().bytes_in_use, 0u);
  }
}

// The device workers' setup with a `room` as large as the heap, or larger: a clear
// setup error, not a crash or a silently unballasted heap.
TEST(AttackCompactWorkers, SetupWithRoomBeyondTheHeapIsAnError) {
  using namespace device_leases;
  Arena old_mem(std::size_t(1) << 20), fresh_mem(std::size_t(1) << 20);
  alignas(CompactHeap) unsigned char heaps_mem[2 * sizeof(CompactHeap)];
  alignas(CompactClasses) unsigned char holds_mem[2 * sizeof(CompactClasses)];
  auto* heaps = reinterpret_cast<CompactHeap*>(heaps_mem);
  auto* holds = reinterpret_cast<CompactClasses*>(holds_mem);
  CompactState st{};
  compact_setup(heaps, holds, old_mem.block(), fresh_mem.block(), std::size_t(2) << 20, &st);
  EXPECT_NE(st.setup_error, 0u);
  compact_teardown(heaps, holds, &st);
  EXPECT_EQ(st.heaps_after.live, 0u);
}

}  // namespace
}  // namespace swim::mem::testing

namespace swim::mem::testing {
namespace {

struct alignas(256) Wide {
  std::uint64_t words[40];
};

// Across hold types (SizeClasses into a Pool and back), with large objects (the
// class hold's own heap blocks) and over-aligned ones: the alignment survives, the
// contents too, and both releases give everything back.
TEST(AttackCompactMixed, LargeAndOverAlignedAcrossHoldTypesAndBack) {
  Arena a_mem(std::size_t(8) << 20), b_mem(std::size_t(8) << 20);
  Heap a_heap(a_mem.block(), 1024), b_heap(b_mem.block(), 1024);
  std::optional<Classes> classes;
  std::optional<HeapPool> pool;
  classes.emplace(a_heap);
  pool.emplace(b_heap, 1024);
  const HoldRef a = HoldRef::of(*classes), b = HoldRef::of(*pool);
  constexpr std::size_t n = 12;
  std::vector<BufU> big(n);
  std::vector<Raw<Box<Wide>>> wide(n);
  for (std::size_t i = 0; i < n; ++i) {
    big[i] = BufU::try_filled(a, 9000 + 1000 * i, std::uint32_t(i)).take();  // 36..80 KB: large
    Wide w{};
    for (std::size_t q = 0; q < 40; ++q) w.words[q] = val(i) ^ q;
    wide[i] = Raw<Box<Wide>>::try_new(a, w).take();
    ASSERT_EQ(reinterpret_cast<std::uintptr_t>(wide[i].data()) % 256, 0u);
  }
  for (HoldRef from : {a, b}) {
    const HoldRef to = from == a ? b : a;
    for (std::size_t t = 0; t < 2; ++t) {
      const CompactShareReport r1 = try_compact_share(big.data(), n, t, 2, from, to);
      const CompactShareReport r2 = try_compact_share(wide.data(), n, t, 2, from, to);
      EXPECT_EQ(r1.error, Error::none) << to_string(r1.error);
      EXPECT_EQ(r2.error, Error::none) << to_string(r2.error);
      EXPECT_EQ(r1.moved + r2.moved, n) << "t " << t;
    }
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_EQ(big[i].hold(), to);
      ASSERT_EQ(big[i].size(), 9000 + 1000 * i);
      for (std::size_t e = 0; e < big[i].size(); e += 97) ASSERT_EQ(big[i][e], i);
      ASSERT_EQ(wide[i].hold(), to);
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(wide[i].data()) % 256, 0u) << i;
      for (std::size_t q = 0; q < 40; ++q) ASSERT_EQ(wide[i]->words[q], val(i) ^ q);
    }
    if (from == a) {
      EXPECT_EQ(classes->stats().live, 0u);
      EXPECT_EQ(release_compacted(*classes).hunks_kept, 0u);
      EXPECT_EQ(a_heap.stats().live, 0u);
    } else {
      EXPECT_EQ(pool->stats().live, 0u);
      EXPECT_EQ(release_compacted(*pool).hunks_kept, 0u);
      EXPECT_EQ(b_heap.stats().live, 0u);
    }
  }
  big.clear();
  wide.clear();
  EXPECT_EQ(classes->stats().live, 0u);
  pool.reset();
  classes.reset();
  EXPECT_EQ(a_heap.stats().live, 0u);
  EXPECT_EQ(b_heap.stats().live, 0u);
}

}  // namespace
}  // namespace swim::mem::testing

namespace swim::mem::testing {
namespace {

// The warp front over a hold that retires hunks as they empty (a heap that can
// discard pages, no cushion): runs are taken while other warps' frees empty and
// retire hunks. Every lane stamps its object and checks the stamp after its warp
// synced; a unit handed out twice, or a retired page handed back under a live
// object, shows as a broken stamp.
TYPED_TEST(AttackFront, RunsRaceRetirementOfEmptyingHunks) {
  constexpr unsigned W = TypeParam::value;
  using Pages = SourceHeap<OsPages, concurrent>;
  Pages pages;
  SizeClasses<Pages, concurrent, true> hold(pages);
  ASSERT_TRUE(hold.retires_hunks());
  hold.set_cushion(0, 0);
  constexpr unsigned warps = 3;
  constexpr unsigned iterations = 40;
  std::atomic<unsigned> broken{0}, errors{0}, served{0};
  EXPECT_EQ(run_emulated_warps<W>(warps, [](unsigned) { return WarpGroup<W>::all; },
                                  [&](EmulatedWarp<W>& warp, unsigned w) {
                                    const unsigned l = warp.lane();
                                    const WarpMask all = warp.active();
                                    for (unsigned it = 0; it < iterations; ++it) {
                                      // Stride 8192 (7 units a hunk) or 1024, by iteration.
                                      const std::size_t size = it % 2 == 0 ? 8192 - 8 : 1000;
                                      Result<Block> r = Error::contended;
                                      WarpMask ask = all;
                                      for (unsigned call = 0; ask != 0 && call < 1024; ++call) {
                                        if ((ask >> l) & 1) r = warp_try_allocate(warp, hold, Layout{size, 16}, ask);
                                        ask = warp.ballot(all, r.error() == Error::contended);
                                      }
                                      if (!r) {
                                        errors.fetch_add(1);
                                        continue;
                                      }
                                      served.fetch_add(1);
                                      const std::uint64_t mark = (std::uint64_t{w} << 40) | (std::uint64_t{l} << 20) | it;
                                      auto* words = static_cast<std::uint64_t*>(r->ptr);
                                      for (std::size_t q = 0; q < size / 8; ++q) words[q] = mark ^ q;
                                      warp.sync(all);
                                      for (std::size_t q = 0; q < size / 8; ++q) {
                                        if (words[q] != (mark ^ q)) {
                                          broken.fetch_add(1);
                                          break;
                                        }
                                      }
                                      warp.sync(all);
                                      if (hold.try_deallocate(*r) != Error::none) errors.fetch_add(1);
                                    }
                                  }),
            0u);
  EXPECT_EQ(broken.load(), 0u);
  EXPECT_EQ(errors.load(), 0u);
  EXPECT_EQ(served.load(), warps * W * iterations);
  EXPECT_EQ(hold.stats().live, 0u);
  EXPECT_EQ(hold.stats().bytes_in_use, 0u);
  std::printf("W=%u: %zu hunks retired\n", W, hold.retired_hunks());
  (void)hold.trim();
  EXPECT_EQ(hold.reserved_bytes(), 0u);
}

}  // namespace
}  // namespace swim::mem::testing
