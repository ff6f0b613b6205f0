// Layer 5 (holds), internal: what a hold's grows are doing, for a thread that found
// no hunk (Pool::grow, SizeClasses' advance).
#pragma once

#include <cstdint>

#include "swim/mem/config.hpp"
#include "swim/mem/physical.hpp"

namespace swim::mem::detail {

/// The grows of one hold (of one size class, in a SizeClasses) under way.
template <concurrency_mode Mode>
struct GrowCounts {
  /// Grows looking for a hunk: between their start and the return of their pop (a
  /// spare or partial hunk) or draw (from the heap).
  cell<std::uint32_t, Mode> looking;
  /// Grows that found one and have not yet installed (or listed) it.
  cell<std::uint32_t, Mode> coming;

  SWIM_MEM_API void clear() { looking.raw = coming.raw = 0; }
};

/// One grow, counted in a GrowCounts: `looking` from its construction, `coming`
/// from found() (raised before `looking` is lowered, so the grow is never in
/// neither), and neither after end() or its destruction (an exception from a heap
/// included).
///
/// What a thread that found no hunk learns from seen(), and why it can trust it: a
/// grow that took the hunk it would have found is still counted, or has installed
/// the hunk. The fence after the first increment orders it before the grow's pop
/// or draw, and the fence in seen() orders the reading thread's own failed pop or
/// draw before its loads, whatever orders the heap or the free list use.
template <concurrency_mode Mode>
class InFlight {
 public:
  enum class Seen { nothing, looking, coming };

  /// Backoff steps a thread that found no hunk waits for a new one, on the
  /// out-of-memory path only: while a grow has found a hunk and not yet installed it
  /// (coming), or while grows are only looking (their pops and draws are as likely
  /// to fail as this thread's); none while no grow is under way.
  static constexpr unsigned coming_waits = 256;
  static constexpr unsigned looking_waits = 16;

  SWIM_MEM_API explicit InFlight(GrowCounts<Mode>& counts) : counts_(&counts) {
    counts.looking.fetch_add(1, order::seq_cst);
    if constexpr (Mode::is_concurrent) atomic_fence(order::seq_cst);
  }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;
  SWIM_MEM_API ~InFlight() { end(); }

  /// The grow has a hunk (its pop or draw returned one): it is coming.
  SWIM_MEM_API void found() {
    if (counts_ != nullptr && !found_) {
      counts_->coming.fetch_add(1, order::seq_cst);
      counts_->looking.fetch_sub(1, order::seq_cst);
      found_ = true;
    }
  }

  /// No longer counted (once): the hunk is installed, or there was none.
  SWIM_MEM_API void end() {
    if (counts_ != nullptr) {
      (found_ ? counts_->coming : counts_->looking).fetch_sub(1, order::seq_cst);
      counts_ = nullptr;
    }
  }

  /// What the grows of `counts` are doing now, read after everything this thread
  /// did before (its own grow ended first, so it is not counted): a hunk coming
  /// before a grow still looking. `looking` is read first: a grow that stops
  /// looking because it found a hunk was counted `coming` before.
  /// After `t` backoff steps of waiting with `seen` and no new hunk yet: none (wait
  /// once more), or the answer: out_of_memory when nothing is coming, contended when
  /// a hunk that is coming has still not come (retry).
  SWIM_MEM_API static Error give_up(Seen seen, unsigned t) {
    if (seen == Seen::nothing) return Error::out_of_memory;
    if (seen == Seen::looking && t >= looking_waits) return Error::out_of_memory;
    if (t >= coming_waits) return Error::contended;
    return Error::none;
  }

  SWIM_MEM_API static Seen seen(const GrowCounts<Mode>& counts) {
    if constexpr (Mode::is_concurrent) atomic_fence(order::seq_cst);
    const bool looking = counts.looking.load(order::seq_cst) != 0;
    if (counts.coming.load(order::seq_cst) != 0) return Seen::coming;
    return looking ? Seen::looking : Seen::nothing;
  }

 private:
  GrowCounts<Mode>* counts_;
  bool found_ = false;
};

}  // namespace swim::mem::detail
