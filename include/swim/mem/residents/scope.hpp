// Layer 7 (residents): scopes and compaction, the memory model's answer to
// fragmentation: allocate a phase's data in a scratch hold, stow what survives into
// a longer-lived hold, and release the scratch hold whole.
//
//   Scope<Pool<AddrSpace<>>> scratch(pages, 64 * 1024);   // current_hold() is it now
//   auto tree = build_tree(current_hold());               // any number of objects
//   scratch.try_keep(tree);                               // tree now lives outside
//   // end of scope: the Pool and all its hunks go back at once
//
// Scope is host only (the current-hold stack is per host thread). LocalScope is the
// same without thread-local state, for device code (and host code that prefers an
// explicit handle): allocate through scope.ref(), keep survivors with try_keep.
//
//   LocalScope<Pack<single_owner>> scratch(HoldRef::of(pool), Block{slice, bytes});
//   auto list = build_list(scratch.ref());
//   scratch.try_keep(list);     // into `pool`, as one transaction
//   // end of scope: the Pack goes; a leftover object is counted as a leak
#pragma once


#include "swim/mem/leases.hpp"

namespace swim::mem {

/// A scope with an explicit handle: owns a hold (constructed from the arguments
/// after `outer`), hands it out as ref(), stows survivors into `outer` with
/// try_keep, and at its end destroys the hold, releasing all of its memory at
/// once. A scope that ends with live objects reports a leak: to the leak handler
/// on the host (as "Scope"; the hold's own destructor then reports them too), and by
/// incrementing `*leaks` (if given, e.g. a counter in device memory; atomically) on
/// both sides. Leases into the scope's hold kept outside it (e.g. a Soft to an
/// object that try_keep relocated: it stays on the old stub) must be refresh()ed or
/// dropped before the scope ends. Non-copyable, non-movable. Host and device;
/// one scope is used by one thread (its hold may be shared with others meanwhile).
template <class Hold>
class LocalScope {
 public:
  template <class... Args>
  SWIM_MEM_API explicit LocalScope(HoldRef outer, unsigned long long* leaks, Args&&... args)
      : hold_(static_cast<Args&&>(args)...), outer_(outer), leaks_(leaks) {}
  LocalScope(const LocalScope&) = delete;
  LocalScope& operator=(const LocalScope&) = delete;

  SWIM_MEM_API ~LocalScope() {
    const Stats s = hold_.stats();
    if (s.live != 0) {
      if (leaks_ != nullptr) atomic_ref<unsigned long long>(*leaks_).fetch_add(1, order::relaxed);
      detail::leaked("Scope", this, s);
    }
  }

  SWIM_MEM_API Hold& hold() { return hold_; }
  /// The scope's hold, to allocate in.
  SWIM_MEM_API HoldRef ref() { return HoldRef::of(hold_); }
  /// Where survivors go.
  SWIM_MEM_API HoldRef outer() const { return outer_; }

  /// Stow the survivors into the outer hold, all or nothing (see try_stow_all).
  /// Error::unsupported when there is no outer hold.
  template <stowable... L>
  SWIM_MEM_API Error try_keep(L&... survivors) {
    if (!outer_) return Error::unsupported;
    return try_stow_all(outer_, survivors...);
  }

 private:
  Hold hold_;
  HoldRef outer_;
  unsigned long long* leaks_;  // (the type device atomics take)
};

/// A scope: a LocalScope whose outer hold is the thread's current hold when it
/// begins, and whose own hold is the thread's current hold until it ends. Survivors
/// must be moved out first with try_keep; a scope that ends with live objects
/// reports them to the leak handler (the hold's own destructor then reports them
/// too). Scopes must nest: use them as local variables. (One ended out of order is
/// still taken off the thread's stack, but the scopes inside it keep it as their
/// outer hold.) Non-copyable, non-movable. Host only.
template <class Hold>
class Scope {
 public:
  template <class... Args>
  explicit Scope(Args&&... args) : scope_(current_hold(), nullptr, static_cast<Args&&>(args)...) {
    entry_.hold = scope_.ref();
    detail::push_scope(entry_);
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

  ~Scope() { detail::pop_scope(entry_); }  // then the LocalScope ends (leak check)

  Hold& hold() { return scope_.hold(); }
  HoldRef ref() const { return entry_.hold; }
  /// The hold that was current when the scope began (where survivors go).
  HoldRef outer() const { return scope_.outer(); }

  /// Stow the survivors into the outer hold, all or nothing (see try_stow_all).
  /// Error::unsupported when there is no outer hold.
  template <stowable... L>
  Error try_keep(L&... survivors) {
    return scope_.try_keep(survivors...);
  }

 private:
  LocalScope<Hold> scope_;
  ScopeEntry entry_;
};

}  // namespace swim::mem
