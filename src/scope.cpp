// Global, host-only state: each thread's stack of scopes, and the default hold.
#include <atomic>
#include <bit>
#include <cstdint>

#include "swim/mem/holds/current.hpp"

namespace swim::mem {
namespace {

thread_local ScopeEntry* t_innermost = nullptr;
std::atomic<std::uint64_t> g_default_hold{0};

// HoldRef is one trivially copyable word: keep it in an atomic as bits.
static_assert(sizeof(HoldRef) == sizeof(std::uint64_t));
std::uint64_t bits_of(HoldRef h) { return std::bit_cast<std::uint64_t>(h); }
HoldRef hold_of(std::uint64_t bits) { return std::bit_cast<HoldRef>(bits); }

}  // namespace

HoldRef current_hold() noexcept {
  if (t_innermost != nullptr) return t_innermost->hold;
  return hold_of(g_default_hold.load(std::memory_order_acquire));
}

HoldRef set_default_hold(HoldRef hold) noexcept {
  return hold_of(g_default_hold.exchange(bits_of(hold), std::memory_order_acq_rel));
}

namespace detail {

void push_scope(ScopeEntry& entry) noexcept {
  entry.outer = t_innermost;
  t_innermost = &entry;
}

bool pop_scope(ScopeEntry& entry) noexcept {
  if (t_innermost == &entry) {
    t_innermost = entry.outer;
    return true;
  }
  // Ended out of order (a scope on the heap, destroyed while an inner one lives):
  // unlink it anyway, so that the stack never points at a dead entry.
  for (ScopeEntry* e = t_innermost; e != nullptr; e = e->outer) {
    if (e->outer == &entry) {
      e->outer = entry.outer;
      return false;
    }
  }
  return false;
}

}  // namespace detail
}  // namespace swim::mem
