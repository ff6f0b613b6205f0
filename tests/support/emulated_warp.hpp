// Test support (host only): a warp emulated by host threads, so that warp algorithms
// written against config/warp.hpp's warp_ops run on std::threads, in CI and under
// ThreadSanitizer, where no GPU exists.
//
// A WarpGroup<W> is one warp of W lanes; each lane is a thread holding an
// EmulatedWarp<W>(group, lane). An exchange (ballot, broadcast, sync) is a round
// among the lanes of its mask: each deposits its value, waits until every lane of
// the mask has, reads what it needs and leaves. Rounds over disjoint masks run at
// the same time (divergent lanes of a GPU warp do); a lane arriving for a mask
// whose last round is still being read opens a new round. The group's mutex orders
// memory between the lanes of a round, as sync() must; a ballot or broadcast on a
// GPU orders nothing, so a warp algorithm must still call sync() where it relies
// on it (this emulation cannot tell).
//
// Contract breaks are counted, not crashed on (misuses(): a lane outside its own
// mask, a mask naming lanes that are not running, lanes of one round calling
// different operations, a broadcast from a lane outside the mask, a round whose
// lanes did not all arrive within the timeout), so that a test can fail cleanly.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <mutex>
#include <thread>
#include <vector>

#include "swim/mem/config/warp.hpp"

namespace swim::mem::testing {

/// One emulated warp of W lanes (see the file comment). Thread-safe: that is its
/// purpose; each lane is used by one thread.
template <unsigned W>
class WarpGroup {
  static_assert(W >= 1 && W <= 64, "a warp has 1 to 64 lanes");

 public:
  static constexpr WarpMask all = W == 64 ? ~WarpMask(0) : (WarpMask(1) << W) - 1;
  enum Op : int { op_ballot, op_broadcast, op_sync };

  /// `running`: the lanes that exist (a partial warp at the end of a grid).
  explicit WarpGroup(WarpMask running = all,
                     std::chrono::milliseconds timeout = std::chrono::seconds(120))
      : running_(running & all), timeout_(timeout) {}

  WarpMask running() const { return running_; }

  /// Contract breaks seen so far (0 when every exchange was well formed).
  std::uint64_t misuses() const {
    std::lock_guard<std::mutex> lock(m_);
    return misuses_;
  }
  /// Rounds completed so far.
  std::uint64_t rounds() const {
    std::lock_guard<std::mutex> lock(m_);
    return completed_;
  }

  /// Deposit `v` as `lane`'s value in the round of `among`, wait for the others of
  /// `among`, and copy every lane's value into `out` (0 for lanes outside it).
  void exchange(unsigned lane, WarpMask among, Op op, std::uint64_t v, std::uint64_t (&out)[W]) {
    std::unique_lock<std::mutex> lock(m_);
    if (lane >= W || ((among >> lane) & 1) == 0 || (among & ~running_) != 0) ++misuses_;
    Round* r = nullptr;
    for (Round& open : rounds_) {
      if (!open.full && open.among == among) {
        r = &open;
        break;
      }
    }
    if (r == nullptr) {
      rounds_.emplace_back();
      r = &rounds_.back();
      r->among = among;
      r->op = op;
    }
    if (r->op != op) ++misuses_;
    if (lane < W) r->values[lane] = v;
    const unsigned expected = detail::popcount(among & running_);
    if (++r->arrived >= expected) {
      r->full = true;
      ++completed_;
      cv_.notify_all();
    } else if (!cv_.wait_for(lock, timeout_, [r] { return r->full; })) {
      ++misuses_;  // a lane of the mask never came: the algorithm broke the contract
      r->full = true;
      cv_.notify_all();
    }
    for (unsigned l = 0; l < W; ++l) out[l] = ((among >> l) & 1) != 0 ? r->values[l] : 0;
    if (++r->left == r->arrived) {
      for (auto it = rounds_.begin(); it != rounds_.end(); ++it) {
        if (&*it == r) {
          rounds_.erase(it);
          break;
        }
      }
    }
  }

  void note_misuse() {
    std::lock_guard<std::mutex> lock(m_);
    ++misuses_;
  }

 private:
  struct Round {
    WarpMask among = 0;
    Op op = op_sync;
    unsigned arrived = 0;
    unsigned left = 0;
    bool full = false;
    std::uint64_t values[W] = {};
  };

  mutable std::mutex m_;
  std::condition_variable cv_;
  std::list<Round> rounds_;  // (a list: a round's address stays put while others come and go)
  WarpMask running_;
  std::chrono::milliseconds timeout_;
  std::uint64_t misuses_ = 0;
  std::uint64_t completed_ = 0;
};

/// One lane's view of an emulated warp: the warp_ops of config/warp.hpp.
template <unsigned W>
class EmulatedWarp {
 public:
  using Mask = WarpMask;
  static constexpr unsigned size = W;

  EmulatedWarp(WarpGroup<W>& group, unsigned lane) : group_(&group), lane_(lane) {}

  unsigned lane() const { return lane_; }
  Mask active() const { return group_->running(); }

  Mask ballot(Mask among, bool p) const {
    std::uint64_t all[W];
    group_->exchange(lane_, among, WarpGroup<W>::op_ballot, p ? 1 : 0, all);
    Mask m = 0;
    for (unsigned l = 0; l < W; ++l) m |= Mask(all[l] != 0) << l;
    return m & among;
  }
  std::uint32_t broadcast(Mask among, std::uint32_t v, unsigned from) const {
    return static_cast<std::uint32_t>(broadcast(among, std::uint64_t{v}, from));
  }
  std::uint64_t broadcast(Mask among, std::uint64_t v, unsigned from) const {
    std::uint64_t all[W];
    group_->exchange(lane_, among, WarpGroup<W>::op_broadcast, v, all);
    if (from >= W || ((among >> from) & 1) == 0) {
      group_->note_misuse();
      return 0;
    }
    return all[from];
  }
  void sync(Mask among) const {
    std::uint64_t all[W];
    group_->exchange(lane_, among, WarpGroup<W>::op_sync, 0, all);
  }

 private:
  WarpGroup<W>* group_;
  unsigned lane_;
};

static_assert(warp_ops<EmulatedWarp<32>>);
static_assert(warp_ops<EmulatedWarp<64>>);

/// Run `lane_work(warp, w)` on every running lane of `warps` emulated warps of W
/// lanes at once (one std::thread per lane; `running(w)` gives warp w's lanes),
/// then join: the end of a kernel. Returns the misuses the groups counted.
template <unsigned W, class Running, class LaneWork>
std::uint64_t run_emulated_warps(unsigned warps, Running running, LaneWork lane_work) {
  std::list<WarpGroup<W>> groups;
  std::vector<std::thread> threads;
  for (unsigned w = 0; w < warps; ++w) {
    WarpGroup<W>& g = groups.emplace_back(running(w));
    for (unsigned l = 0; l < W; ++l) {
      if (((g.running() >> l) & 1) == 0) continue;
      threads.emplace_back([&g, l, w, &lane_work] {
        EmulatedWarp<W> warp(g, l);
        lane_work(warp, w);
      });
    }
  }
  for (std::thread& t : threads) t.join();
  std::uint64_t misuses = 0;
  for (const WarpGroup<W>& g : groups) misuses += g.misuses();
  return misuses;
}

}  // namespace swim::mem::testing
