// Layer 7 (residents): scopes and compaction, the memory model's answer to
// fragmentation: allocate a phase's data in a scratch hold, stow what survives into
// a longer-lived hold, and release the scratch hold whole.
//
//   Scope<Pool<AddrSpace<>>> scratch(pages, 64 * 1024);   // current_hold() is it now
//   auto tree = build_tree(current_hold());               // any number of objects
//   scratch.try_keep(tree);                               // tree now lives outside
//   // end of scope: the Pool and all its hunks go back at once
//
// Host only (the current-hold stack is per host thread); in device code pass a
// HoldRef explicitly and call try_stow.
#pragma once

#include "swim/mem/leases.hpp"

namespace swim::mem {

/// A scope: owns a hold (constructed from the arguments), makes it this thread's
/// current hold until the scope ends, and at the end destroys it, releasing all of
/// its memory at once. Survivors must be moved out first with try_keep; a scope
/// that ends with live objects reports them to the leak handler.
/// Non-copyable, non-movable: use it as a local variable. Host only.
template <class Hold>
class Scope {
 public:
  template <class... Args>
  explicit Scope(Args&&... args)
      : hold_(static_cast<Args&&>(args)...), outer_(current_hold()) {
    entry_.hold = HoldRef::of(hold_);
    detail::push_scope(entry_);
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

  ~Scope() {
    detail::pop_scope(entry_);
    const Stats s = hold_.stats();
    if (s.live != 0) report_leak(LeakReport{"Scope", this, s});
  }

  Hold& hold() { return hold_; }
  HoldRef ref() const { return entry_.hold; }
  /// The hold that was current when the scope began (where survivors go).
  HoldRef outer() const { return outer_; }

  /// Stow the survivors into the outer hold, all or nothing (see try_stow_all).
  /// Error::unsupported when there is no outer hold.
  template <stowable... L>
  Error try_keep(L&... survivors) {
    if (!outer_) return Error::unsupported;
    return try_stow_all(outer_, survivors...);
  }

 private:
  Hold hold_;
  HoldRef outer_;
  ScopeEntry entry_;
};

}  // namespace swim::mem
