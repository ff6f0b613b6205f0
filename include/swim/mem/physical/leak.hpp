// Layer 2 (physical): the leak handler interface. The handler itself is global
// state and lives in src/handlers.cpp (host only).
//
// An allocator destroyed while objects are still live calls report_leak() on the
// host. On the device there is no handler: a kernel-side destructor leaves the
// statistics for the host to inspect.
#pragma once

#include "swim/mem/config/macros.hpp"
#include "swim/mem/physical/stats.hpp"

namespace swim::mem {

/// What a leaking allocator reports.
struct LeakReport {
  const char* allocator = "";      ///< the allocator's kind, e.g. "Slab"
  const void* control = nullptr;   ///< the allocator object
  Stats stats;                     ///< its counters at destruction
};

/// A leak handler. It runs on the thread that destroys the allocator; it must not
/// throw. Thread-safety of the handler itself is the installer's business.
using leak_handler = void (*)(const LeakReport&);

/// Install `h` (nullptr restores the default, which prints one line to stderr).
/// Returns the previous handler. Thread-safe (an atomic exchange). Host only.
leak_handler set_leak_handler(leak_handler h) noexcept;

/// The handler now installed. Thread-safe. Host only.
leak_handler get_leak_handler() noexcept;

/// Run the installed handler. Host only.
void report_leak(const LeakReport& report) noexcept;

namespace detail {
/// Called by allocator destructors (host and device) when objects are still live.
SWIM_MEM_API inline void leaked(const char* kind, const void* self, const Stats& s) {
  SWIM_MEM_IF_TARGET((report_leak(LeakReport{kind, self, s});), ((void)kind; (void)self; (void)s;))
}
}  // namespace detail

}  // namespace swim::mem
