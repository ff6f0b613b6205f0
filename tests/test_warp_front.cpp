// The warp operations (config/warp.hpp) and the warp front of SizeClasses
// (holds/warp_front.hpp) on emulated warps: 32 or 64 host threads per warp
// (tests/support/emulated_warp.hpp), several warps at once. The lane work of the
// device kernel check_warp_front (device/warp_workers.hpp) runs here unchanged,
// so the plain, ASan+UBSan and TSan presets cover the warp algorithm where no GPU
// exists.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "../device/warp_workers.hpp"
#include "support/arena.hpp"
#include "support/emulated_warp.hpp"
#include "swim/mem.hpp"
#include "swim/mem/holds/warp_front.hpp"

namespace swim::mem::testing {
namespace {

using namespace swim::mem::warp_workers;
using Table = detail::SizeClassTable;

template <unsigned W>
struct Width {
  static constexpr unsigned value = W;
};
template <class T>
class WarpFront : public ::testing::Test {};
using Widths = ::testing::Types<Width<32>, Width<64>>;
TYPED_TEST_SUITE(WarpFront, Widths);
template <class T>
class WarpOps : public ::testing::Test {};
TYPED_TEST_SUITE(WarpOps, Widths);

template <unsigned W>
constexpr WarpMask full_mask() {
  return WarpGroup<W>::all;
}

// ---- The warp operations ------------------------------------------------------------

TYPED_TEST(WarpOps, BallotBroadcastLeaderAndRankAgreeOnEveryLane) {
  constexpr unsigned W = TypeParam::value;
  constexpr unsigned warps = 3;
  // Warp 0 full, warp 1 the lanes 0..W-12, warp 2 every third lane.
  auto running = [](unsigned w) -> WarpMask {
    if (w == 0) return full_mask<W>();
    if (w == 1) return full_mask<W>() >> 11;
    WarpMask m = 0;
    for (unsigned l = 0; l < W; l += 3) m |= WarpMask(1) << l;
    return m;
  };
  std::mutex m;
  std::vector<std::string> wrong;
  auto fail = [&](const std::string& what) {
    std::lock_guard<std::mutex> lock(m);
    wrong.push_back(what);
  };
  const std::uint64_t misuses = run_emulated_warps<W>(warps, running, [&](EmulatedWarp<W>& warp, unsigned w) {
    const unsigned lane = warp.lane();
    const WarpMask all = warp.active();
    if (all != running(w)) fail("active");
    const WarpMask odd = warp.ballot(all, lane % 2 == 1);
    WarpMask want = 0;
    for (unsigned l = 1; l < W; l += 2) want |= WarpMask(1) << l;
    if (odd != (want & all)) fail("ballot");
    const unsigned leader = warp_leader(all);
    const std::uint64_t big = warp.broadcast(all, (std::uint64_t{lane} << 40) | 0xABCDu, leader);
    if (big != ((std::uint64_t{leader} << 40) | 0xABCDu)) fail("broadcast64");
    const unsigned last = 63 - static_cast<unsigned>(__builtin_clzll(all));
    const std::uint32_t small = warp.broadcast(all, std::uint32_t{lane * 3 + 1}, last);
    if (small != last * 3 + 1) fail("broadcast32");
    // Ranks: the lanes of a mask are numbered 0, 1, ... in lane order.
    if (warp_rank(all, lane) != static_cast<unsigned>(__builtin_popcountll(all & ((WarpMask(1) << lane) - 1)))) {
      fail("rank");
    }
    if (lane == leader && warp_rank(all, lane) != 0) fail("leader rank");
    // Divergence: the odd and the even lanes exchange among themselves at the same time.
    const WarpMask mine = (lane % 2 == 1) ? odd : (all & ~odd);
    const std::uint64_t from_mine = warp.broadcast(mine, std::uint64_t{lane}, warp_leader(mine));
    if (from_mine != warp_leader(mine)) fail("divergent broadcast");
    warp.sync(all);
  });
  EXPECT_EQ(misuses, 0u);
  EXPECT_TRUE(wrong.empty()) << wrong.front();
}

TYPED_TEST(WarpOps, ABrokenContractIsCountedNotHung) {
  constexpr unsigned W = TypeParam::value;
  // Two lanes; lane 1 calls a different operation than lane 0 in the same round,
  // then lane 0 waits for a lane that never comes (a short timeout).
  WarpGroup<W> g(0b11, std::chrono::milliseconds(200));
  std::thread other([&] {
    EmulatedWarp<W> warp(g, 1);
    warp.sync(0b11);
  });
  EmulatedWarp<W> warp(g, 0);
  (void)warp.ballot(0b11, true);
  other.join();
  EXPECT_GE(g.misuses(), 1u);
  (void)warp.broadcast(0b11, std::uint64_t{7}, 0);  // lane 1 never arrives
  EXPECT_GE(g.misuses(), 2u);
}

TEST(WarpOps, TheHostWarpIsOneLane) {
  const Warp warp;
  EXPECT_EQ(Warp::size, 1u);  // (a host compiler: SWIM_MEM_WARP_SIZE)
  EXPECT_EQ(warp.lane(), 0u);
  EXPECT_EQ(warp.active(), 1u);
  EXPECT_EQ(warp.ballot(1, true), 1u);
  EXPECT_EQ(warp.ballot(1, false), 0u);
  EXPECT_EQ(warp.broadcast(1, std::uint64_t{1} << 50, 0), std::uint64_t{1} << 50);
  EXPECT_EQ(warp_rank(0b1011, 3), 2u);
  EXPECT_EQ(warp_leader(0b1000), 3u);
}

// ---- The warp front ---------------------------------------------------------------

/// A SizeClasses over an in-band ExtentHeap in host memory, as the kernel builds.
struct FrontEnv {
  explicit FrontEnv(std::size_t bytes) : arena(bytes), heap(arena.block(), 4096), hold(heap) {}
  Arena arena;
  WfHeap heap;
  WfHold hold;
};

/// Host: granted blocks (with their tag word in front) are disjoint.
std::size_t overlaps(const std::vector<WarpGrant>& grants) {
  std::vector<Block> blocks;
  for (const WarpGrant& g : grants) {
    if (g.error == 0 && g.block.size != 0) blocks.push_back(g.block);
  }
  std::sort(blocks.begin(), blocks.end(), [](Block a, Block b) { return a.address() < b.address(); });
  std::size_t n = 0;
  for (std::size_t k = 1; k < blocks.size(); ++k) {
    n += blocks[k - 1].address() + blocks[k - 1].size + detail::tag_size > blocks[k].address();
  }
  return n;
}

std::string describe(const WarpCounters& c) {
  return "failures " + std::to_string(c.failures.raw) + " (line " + std::to_string(c.first_failure.raw) +
         "), granted " + std::to_string(c.granted.raw) + ", aggregated " + std::to_string(c.aggregated.raw) +
         ", per lane " + std::to_string(c.per_lane.raw) + ", exhausted " + std::to_string(c.exhausted.raw) +
         ", max round " + std::to_string(c.max_round.raw) + ", max recalls " +
         std::to_string(c.max_recalls.raw) + ", largest run " + std::to_string(c.largest_run.raw);
}

/// check_warp_front's two phases on emulated warps: every lane allocates k objects
/// through the front; then lane t checks and frees lane wf_partner(t)'s.
template <unsigned W>
void allocate_then_free(FrontEnv& env, unsigned warps, WarpMask last_warp, unsigned k, bool short_heap,
                        WarpCounters& c, std::vector<WarpGrant>& grants) {
  const u64 n = u64{warps - 1} * W + static_cast<u64>(__builtin_popcountll(last_warp));
  // Lanes are numbered as a grid numbers threads: warp w's lane l is w * W + l; the
  // last warp's running lanes are the lowest ones (a partial warp at a grid's end).
  ASSERT_EQ(last_warp & (last_warp + 1), 0u) << "the last warp's lanes are the lowest";
  grants.assign(n * k, WarpGrant{});
  auto running = [&](unsigned w) { return w + 1 == warps ? last_warp : full_mask<W>(); };
  EXPECT_EQ(run_emulated_warps<W>(warps, running,
                                  [&](EmulatedWarp<W>& warp, unsigned w) {
                                    const u64 i = u64{w} * W + warp.lane();
                                    const WarpMask among = warp.ballot(warp.active(), i < n);
                                    if (i >= n) return;
                                    wf_allocate(warp, env.hold, among, i, k, short_heap, grants.data(), &c);
                                  }),
            0u);
  EXPECT_EQ(overlaps(grants), 0u);
  // Frees by other threads (another warp, for the odd lanes), at once.
  EXPECT_EQ(run_emulated_warps<W>(warps, running,
                                  [&](EmulatedWarp<W>& warp, unsigned w) {
                                    const u64 t = u64{w} * W + warp.lane();
                                    if (t < n) wf_release(grants.data(), wf_partner(t, n), k, &c);
                                  }),
            0u);
  wf_after(env.hold, grants.data(), n, k, 16, &c);
}

TYPED_TEST(WarpFront, ServesEveryLaneDisjointAlignedIntactAndFreesFromOtherThreads) {
  constexpr unsigned W = TypeParam::value;
  constexpr unsigned warps = 4;
  constexpr unsigned k = 4;
  for (unsigned repeat = 0; repeat < 3; ++repeat) {
    FrontEnv env(std::size_t(warps) * W * k * 4096 + (std::size_t(16) << 20));
    WarpCounters c{};
    std::vector<WarpGrant> grants;
    // The last warp is partial: its lowest W - 5 lanes run.
    allocate_then_free<W>(env, warps, full_mask<W>() >> 5, k, false, c, grants);
    const u64 n = u64{warps - 1} * W + (W - 5);
    EXPECT_EQ(c.failures.raw, 0u) << describe(c);
    EXPECT_EQ(c.granted.raw, n * k) << describe(c);
    EXPECT_EQ(c.freed.raw, n * k) << describe(c);
    EXPECT_GT(c.aggregated.raw, 0u) << describe(c);
    EXPECT_GT(c.per_lane.raw, 0u) << describe(c);  // the large and over-aligned requests
    // Rounds: wf_layout gives each warp call at most four classes.
    EXPECT_LE(c.max_round.raw, 4u) << describe(c);
    EXPECT_LE(c.max_recalls.raw, u64{kRecalls}) << describe(c);
    const Stats s = env.hold.stats();
    EXPECT_EQ(s.live, 0u);
    EXPECT_EQ(s.bytes_in_use, 0u);
    EXPECT_GT(env.hold.trim(), 0u);
    EXPECT_EQ(env.hold.reserved_bytes(), 0u);
    std::printf("W=%u repeat %u: %s, recalls %llu\n", W, repeat, describe(c).c_str(), c.recalls.raw);
  }
}

TYPED_TEST(WarpFront, ExhaustionIsACleanOutOfMemoryAndEverythingComesBack) {
  constexpr unsigned W = TypeParam::value;
  constexpr unsigned warps = 3;
  constexpr unsigned k = 24;
  // 1 MiB in-band: far less than 3 * W * 24 objects of up to ~700 bytes and the
  // 40 KB ones need.
  FrontEnv env(std::size_t(1) << 20);
  WarpCounters c{};
  std::vector<WarpGrant> grants;
  allocate_then_free<W>(env, warps, full_mask<W>(), k, true, c, grants);
  EXPECT_EQ(c.failures.raw, 0u) << describe(c);  // every error was out_of_memory
  EXPECT_GT(c.exhausted.raw, 0u) << describe(c);
  EXPECT_GT(c.granted.raw, 0u) << describe(c);
  EXPECT_EQ(c.granted.raw + c.exhausted.raw, u64{warps} * W * k) << describe(c);
  EXPECT_EQ(c.freed.raw, c.granted.raw);
  EXPECT_EQ(env.hold.stats().live, 0u);
  EXPECT_EQ(env.hold.stats().bytes_in_use, 0u);
  // The hold works again once everything is back.
  const Result<Block> again = env.hold.try_allocate(64);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(env.hold.try_deallocate(*again), Error::none);
  std::printf("W=%u exhaustion: %s\n", W, describe(c).c_str());
}

/// One warp, every lane of `lanes` calling the front once with layout_of(lane); the
/// traces and results by lane.
template <unsigned W, class LayoutOf>
void one_call(WfHold& hold, WarpMask lanes, LayoutOf layout_of, std::vector<WarpTrace>& traces,
              std::vector<Result<Block>>& results) {
  traces.assign(W, WarpTrace{});
  results.assign(W, Result<Block>(Error::invalid_argument));
  EXPECT_EQ(run_emulated_warps<W>(1, [&](unsigned) { return lanes; },
                                  [&](EmulatedWarp<W>& warp, unsigned) {
                                    const unsigned l = warp.lane();
                                    results[l] = warp_try_allocate(warp, hold, layout_of(l), warp.active(),
                                                                   &traces[l]);
                                  }),
            0u);
}

TYPED_TEST(WarpFront, OneRoundPerDistinctClassInLaneOrder) {
  constexpr unsigned W = TypeParam::value;
  for (unsigned classes : {1u, 2u, 3u, 5u}) {
    FrontEnv env(std::size_t(8) << 20);
    std::vector<WarpTrace> traces;
    std::vector<Result<Block>> results;
    // Lane l asks for class l % classes (strides 32, 48, 64, ...).
    auto layout_of = [&](unsigned l) { return Layout{24 + 16 * (l % classes), 8}; };
    one_call<W>(env.hold, full_mask<W>(), layout_of, traces, results);
    for (unsigned l = 0; l < W; ++l) {
      ASSERT_TRUE(results[l].ok()) << l;
      EXPECT_EQ(traces[l].round, l % classes + 1) << "lane " << l << ", " << classes << " classes";
      EXPECT_EQ(traces[l].asked, (W - l % classes + classes - 1) / classes) << l;
      EXPECT_FALSE(traces[l].per_lane && traces[l].granted == traces[l].asked) << l;
      EXPECT_GE(results[l]->size, layout_of(l).size);
      EXPECT_EQ(hold_deallocate(*results[l]), Error::none);
    }
    EXPECT_EQ(env.hold.stats().live, 0u);
  }
}

TYPED_TEST(WarpFront, ALoneClassIsOneRunOfConsecutiveUnits) {
  constexpr unsigned W = TypeParam::value;
  FrontEnv env(std::size_t(8) << 20);
  std::vector<WarpTrace> traces;
  std::vector<Result<Block>> results;
  one_call<W>(env.hold, full_mask<W>(), [](unsigned) { return Layout{40, 8}; }, traces, results);
  // A fresh hold: the leader's one atomic on the new hunk's bump took W units, and
  // lane l has the unit of rank l (stride 48).
  for (unsigned l = 0; l < W; ++l) {
    ASSERT_TRUE(results[l].ok()) << l;
    EXPECT_EQ(traces[l].round, 1u);
    EXPECT_EQ(traces[l].asked, W);
    EXPECT_EQ(traces[l].granted, W) << "the run was short";
    EXPECT_FALSE(traces[l].per_lane) << l;
    EXPECT_EQ(results[l]->address(), results[0]->address() + 48 * l) << l;
  }
  EXPECT_EQ(env.hold.stats().live, W);
  for (unsigned l = 0; l < W; ++l) EXPECT_EQ(env.hold.try_deallocate(*results[l]), Error::none);
  EXPECT_EQ(env.hold.stats().live, 0u);
  EXPECT_EQ(env.hold.stats().bytes_in_use, 0u);
}

TYPED_TEST(WarpFront, AShortRunSendsTheRestToTheirOwnCalls) {
  constexpr unsigned W = TypeParam::value;
  FrontEnv env(std::size_t(16) << 20);
  std::vector<WarpTrace> traces;
  std::vector<Result<Block>> results;
  // Stride 8192: a 64 KiB hunk holds 7 units, so a run serves at most 7 lanes.
  const std::size_t bytes = 8192 - 8;
  ASSERT_EQ(Table::stride(Table::of_object(bytes)), 8192u);
  one_call<W>(env.hold, full_mask<W>(), [&](unsigned) { return Layout{bytes, 16}; }, traces, results);
  unsigned from_run = 0;
  for (unsigned l = 0; l < W; ++l) {
    ASSERT_TRUE(results[l].ok()) << l;
    EXPECT_EQ(traces[l].round, 1u);
    EXPECT_EQ(traces[l].asked, W);
    EXPECT_GE(traces[l].granted, 1u);
    EXPECT_LE(traces[l].granted, 7u);
    // The lanes past the run were served by their own try_allocate.
    EXPECT_EQ(traces[l].per_lane, l >= traces[l].granted) << l;
    from_run += traces[l].per_lane ? 0 : 1;
  }
  EXPECT_EQ(from_run, traces[0].granted);
  std::vector<WarpGrant> grants;
  for (unsigned l = 0; l < W; ++l) grants.push_back(WarpGrant{*results[l], 0, static_cast<std::uint32_t>(bytes)});
  EXPECT_EQ(overlaps(grants), 0u);
  EXPECT_EQ(env.hold.stats().live, W);
  // Two units freed; three lanes of a second call are served again (by a run from
  // the current hunk, fresh units or one from a free stack, and their own calls).
  EXPECT_EQ(env.hold.try_deallocate(*results[0]), Error::none);
  EXPECT_EQ(env.hold.try_deallocate(*results[1]), Error::none);
  std::vector<WarpTrace> again;
  std::vector<Result<Block>> second;
  one_call<W>(env.hold, WarpMask(0b111), [&](unsigned) { return Layout{bytes, 16}; }, again, second);
  for (unsigned l = 0; l < 3; ++l) {
    ASSERT_TRUE(second[l].ok()) << l;
    EXPECT_EQ(again[l].asked, 3u) << l;
    EXPECT_GE(again[l].granted, 1u) << l;
  }
  for (unsigned l = 2; l < W; ++l) EXPECT_EQ(env.hold.try_deallocate(*results[l]), Error::none) << l;
  for (unsigned l = 0; l < 3; ++l) EXPECT_EQ(env.hold.try_deallocate(*second[l]), Error::none) << l;
  EXPECT_EQ(env.hold.stats().live, 0u);
  EXPECT_EQ(env.hold.stats().bytes_in_use, 0u);
}

TYPED_TEST(WarpFront, RequestsOutsideTheClassesGetTheHoldsOwnAnswer) {
  constexpr unsigned W = TypeParam::value;
  FrontEnv env(std::size_t(8) << 20);
  std::vector<WarpTrace> traces;
  std::vector<Result<Block>> results;
  // Lanes 0-3 ask for things the classes do not serve; lanes 4.. for 64 bytes.
  auto layout_of = [](unsigned l) {
    switch (l) {
      case 0: return Layout{0, 8};       // zero size: the shared address
      case 1: return Layout{40000, 8};   // large: a heap block
      case 2: return Layout{100, 128};   // over-aligned: a heap block
      case 3: return Layout{64, 24};     // not a power of two
      default: return Layout{64, 16};
    }
  };
  one_call<W>(env.hold, full_mask<W>(), layout_of, traces, results);
  EXPECT_TRUE(results[0].ok());
  EXPECT_EQ(results[0]->size, 0u);
  ASSERT_TRUE(results[1].ok());
  EXPECT_GE(results[1]->size, 40000u);
  ASSERT_TRUE(results[2].ok());
  EXPECT_EQ(results[2]->address() % 128, 0u);
  EXPECT_EQ(results[3].error(), Error::misaligned);
  for (unsigned l = 0; l < 4; ++l) {
    EXPECT_TRUE(traces[l].per_lane) << l;
    EXPECT_EQ(traces[l].round, 0u) << l;
  }
  for (unsigned l = 4; l < W; ++l) {
    ASSERT_TRUE(results[l].ok()) << l;
    EXPECT_EQ(traces[l].round, 1u) << l;
    EXPECT_EQ(traces[l].asked, W - 4) << l;
  }
  for (unsigned l = 0; l < W; ++l) {
    if (results[l].ok()) {
      EXPECT_EQ(env.hold.try_deallocate(*results[l]), Error::none) << l;
    }
  }
  EXPECT_EQ(env.hold.stats().live, 0u);
}

TEST(WarpFrontOnTheHost, AHostWarpServesItsOneLane) {
  FrontEnv env(std::size_t(8) << 20);
  WarpTrace t{};
  const Result<Block> r = warp_try_allocate(Warp{}, env.hold, Layout{100, 16}, 1, &t);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(t.round, 1u);
  EXPECT_EQ(t.asked, 1u);
  EXPECT_GE(r->size, 100u);
  EXPECT_EQ(env.hold.try_deallocate(*r), Error::none);
  EXPECT_EQ(env.hold.stats().live, 0u);
}

}  // namespace
}  // namespace swim::mem::testing
