// Layer 5 (holds), internal: a count of the grows on their way to installing a hunk.
#pragma once

#include "swim/mem/config.hpp"

namespace swim::mem::detail {

/// One grow of a hold (Pool::grow, SizeClasses' advance), counted in `count` from
/// before it looks for a hunk (a spare or partial one, or a draw from the heap)
/// until end() or its destruction (an exception from a heap included), which come
/// after it installed the hunk or found none.
///
/// The invariant a thread that found no hunk relies on (someone_growing): if
/// another grow took the hunk it would have found, that grow is still counted, or
/// has installed the hunk. The fence after the increment orders the increment
/// before the grow's pop or draw, and the fence in someone_growing orders the
/// thread's own failed pop or draw before its read of the count, whatever orders
/// the heap or the free list use themselves.
template <class T, concurrency_mode Mode>
class InFlight {
 public:
  SWIM_MEM_API explicit InFlight(cell<T, Mode>& count) : count_(&count) {
    count.fetch_add(1, order::seq_cst);
    if constexpr (Mode::is_concurrent) atomic_fence(order::seq_cst);
  }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;
  SWIM_MEM_API ~InFlight() { end(); }

  /// No longer counted (once).
  SWIM_MEM_API void end() {
    if (count_ != nullptr) {
      count_->fetch_sub(1, order::seq_cst);
      count_ = nullptr;
    }
  }

  /// Whether some grow is counted in `count` now, read after everything this
  /// thread did before (its own grow ended first, so it is not counted).
  SWIM_MEM_API static bool someone_growing(const cell<T, Mode>& count) {
    if constexpr (Mode::is_concurrent) atomic_fence(order::seq_cst);
    return count.load(order::seq_cst) != 0;
  }

 private:
  cell<T, Mode>* count_;
};

}  // namespace swim::mem::detail
