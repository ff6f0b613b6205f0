// Global, host-only state: the leak handler. Kept out of the headers so that
// there is exactly one handler per process, whatever the shared-library layout.
#include <atomic>
#include <cstdio>

#include "swim/mem/physical/leak.hpp"

namespace swim::mem {
namespace {

void default_leak_handler(const LeakReport& r) noexcept {
  std::fprintf(stderr,
               "swim-mem: %s at %p destroyed with %zu live object(s), %zu byte(s) in use\n",
               r.allocator, r.control, r.stats.live, r.stats.bytes_in_use);
}

std::atomic<leak_handler> g_leak_handler{&default_leak_handler};

}  // namespace

leak_handler set_leak_handler(leak_handler h) noexcept {
  return g_leak_handler.exchange(h ? h : &default_leak_handler, std::memory_order_acq_rel);
}

leak_handler get_leak_handler() noexcept { return g_leak_handler.load(std::memory_order_acquire); }

void report_leak(const LeakReport& report) noexcept {
  g_leak_handler.load(std::memory_order_acquire)(report);
}

}  // namespace swim::mem
