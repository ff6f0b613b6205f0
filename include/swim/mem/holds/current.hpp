// Layer 5 (holds): the current hold of the calling host thread.
//
// Scopes (residents/scope.hpp) push their hold onto a per-thread stack; code that
// allocates "wherever the caller is working" asks current_hold(). The stack is
// global state and lives in src/scope.cpp. Host only: device code passes a HoldRef
// explicitly (there is no thread-local storage to lean on in a kernel).
#pragma once

#include "swim/mem/holds/hold.hpp"

namespace swim::mem {

/// One entry of a thread's scope stack (owned by the scope that pushed it).
struct ScopeEntry {
  HoldRef hold;
  ScopeEntry* outer = nullptr;
};

/// The innermost scope's hold on this thread, or the default hold when no scope is
/// open (a null HoldRef if none was set). Host only; thread-safe.
HoldRef current_hold() noexcept;

/// Set the process-wide default hold (returns the previous one). Host only;
/// thread-safe (an atomic exchange); the hold must outlive its use as default.
HoldRef set_default_hold(HoldRef hold) noexcept;

namespace detail {
/// Push `entry` (its `outer` is filled in) / pop it; LIFO per thread.
void push_scope(ScopeEntry& entry) noexcept;
/// Returns false when `entry` was not the innermost scope (a scope ended out of
/// order); it is unlinked from the thread's stack all the same.
bool pop_scope(ScopeEntry& entry) noexcept;
}  // namespace detail

}  // namespace swim::mem
