// Layer 1 (config): waiting between the attempts of a bounded retry.
//
// A retry loop that only spins can lose to a thread that is not running: on the
// host, the holder of a bounded try-lock (ExtentHeap's) or the thread that owes the
// next step of a lock-free protocol may be off its core for a whole scheduler slice
// (milliseconds), much longer than any spin bound, and the spinning threads are
// what keeps it off when there are more threads than cores. backoff(attempt) makes
// the attempt-th retry wait a little longer than the one before:
//
//   host:   attempts 0 .. backoff_spin_attempts - 1 spin 16, 32, 64, ... times on the
//           processor's pause hint; later attempts give the core away (sched_yield);
//   device: the thread sleeps 32, 64, ... ns, at most backoff_max_sleep_ns
//           (__nanosleep on sm_70 and newer, s_sleep on AMD; a plain return on older
//           NVIDIA targets), so that the warps that hold what it waits for get the
//           issue slots.
//
// Every call returns after a bounded time; the caller keeps its own bound on the
// number of attempts, so a bounded retry stays bounded.
#pragma once

#include "swim/mem/config/macros.hpp"

#if __has_include(<sched.h>)
#include <sched.h>  // sched_yield, host side only
#define SWIM_MEM_DETAIL_HAS_SCHED_YIELD 1
#endif

namespace swim::mem {

/// Attempts that spin on the host before backoff() starts yielding the core.
inline constexpr unsigned backoff_spin_attempts = 5;
/// The longest sleep of one backoff() on a GPU, in nanoseconds.
inline constexpr unsigned backoff_max_sleep_ns = 1u << 13;

namespace detail {

/// Let another thread of the host run (host only).
SWIM_MEM_HOST inline void host_yield() {
#if defined(SWIM_MEM_DETAIL_HAS_SCHED_YIELD)
  sched_yield();
#endif
}

SWIM_MEM_HOST inline void host_backoff(unsigned attempt) {
  if (attempt < backoff_spin_attempts) {
    for (unsigned k = 0; k < (16u << attempt); ++k) SWIM_MEM_DETAIL_HOST_PAUSE();
  } else {
    host_yield();
  }
}

#if defined(SWIM_MEM_COMPILER_CUDA) || defined(SWIM_MEM_COMPILER_HIP)
SWIM_MEM_DEVICE inline void device_backoff(unsigned attempt) {
  const unsigned shift = attempt < 8 ? attempt : 8;
  const unsigned ns = (32u << shift) < backoff_max_sleep_ns ? (32u << shift) : backoff_max_sleep_ns;
  SWIM_MEM_DETAIL_DEVICE_SLEEP(ns);
}
#endif

}  // namespace detail

/// Wait before retry number `attempt` (0 for the first retry); see the file comment.
SWIM_MEM_API inline void backoff(unsigned attempt) {
  SWIM_MEM_IF_TARGET((detail::host_backoff(attempt);), (detail::device_backoff(attempt);))
}

}  // namespace swim::mem
