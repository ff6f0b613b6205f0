// Layer 6 (leases): stow, the customization point that moves a data structure
// into another hold, recursively and transactionally.
//
// stow_traits<T> says how to stow a T:
//   static Error stow(const T* src, T* dst, StowContext& cx)
//       Construct *dst (raw memory) as a copy of *src whose owned memory lives in
//       cx.target(), children included (stow them with the same cx). *src is not
//       changed. On error nothing is left constructed in dst, and everything this
//       call allocated or counted has been given back (shared arcs it relocated stay
//       in cx's log until the transaction ends: see below).
//   static void unstow(const T* src, T* dst)
//       Undo a successful stow: release what it allocated in the target and leave
//       *dst unconstructed; *src is as before the stow.
//   static Error rebase(T* obj, RebaseContext& cx)     (optional)
//       Make a byte copy of a stowed T valid at a new address (leases/rebase.hpp);
//       what shipping a structure to another process needs (shippable<T>).
//   static std::size_t stow_bytes(const T* obj)       (optional)
//       At least the bytes a stow of *obj takes in a Pack (tags, alignment and the
//       8-byte rounding included): what sizes a Parcel (residents/parcel.hpp) in one
//       try instead of doubling.
// A whole stow is copy-then-destroy: try_stow() copies the structure, and only if
// every part succeeded destroys the source (which frees the old memory).
//
// Shared (arc) leases relocate instead of copying, so that every existing pointer
// to them follows; their relocations are logged in the StowContext
// (leases/stow_context.hpp, leases/arc_stow_log.hpp) and published or undone
// together when the top-level stow ends.
//
// Provided: every trivially copyable type (a bitwise copy), every lease and
// resident of swim-mem, and stow_members<T, &T::a, &T::b, ...> for user structs.
#pragma once

#include <cstdint>
#include <type_traits>

#include "swim/mem/holds.hpp"
#include "swim/mem/leases/rebase.hpp"
#include "swim/mem/leases/resident.hpp"
#include "swim/mem/leases/stow_context.hpp"

namespace swim::mem {

/// The stow customization point; specialize it for your types (or derive the
/// specialization from stow_members). Left undefined for types that cannot be
/// stowed, so that stowing them is a compile error.
template <class T, class Enable = void>
struct stow_traits;

template <class T>
struct stow_traits<T, std::enable_if_t<std::is_trivially_copyable_v<T>>> {
  SWIM_MEM_API static Error stow(const T* src, T* dst, StowContext&) {
    detail::construct_at(dst, *src);
    return Error::none;
  }
  SWIM_MEM_API static void unstow(const T*, T* dst) { dst->~T(); }
  SWIM_MEM_API static Error rebase(T*, RebaseContext&) { return Error::none; }
  SWIM_MEM_API static std::size_t stow_bytes(const T*) { return 0; }
};

template <class T>
concept stowable = requires(const T* s, T* d, StowContext& cx) {
  { stow_traits<T>::stow(s, d, cx) } -> std::same_as<Error>;
  stow_traits<T>::unstow(s, d);
};

/// A stowable type that says how many bytes its stow takes in a Pack (stow_bytes).
template <class T>
concept stow_measurable = stowable<T> && requires(const T* obj) {
  { stow_traits<T>::stow_bytes(obj) } -> std::same_as<std::size_t>;
};

/// A stowable type whose stowed copy can also be rebased (leases/rebase.hpp): what
/// a structure needs to travel to another process in one piece.
template <class T>
concept shippable = stowable<T> && requires(T* obj, RebaseContext& cx) {
  { stow_traits<T>::rebase(obj, cx) } -> std::same_as<Error>;
};

/// Stow the members of a struct, in order, rolling back in reverse on failure.
/// T must be default-constructible and its members move-assignable; each member
/// type must be stowable. Use: `template <> struct swim::mem::stow_traits<Node>
/// : swim::mem::stow_members<Node, &Node::value, &Node::next> {};`
template <class T, auto... Members>
struct stow_members {
  SWIM_MEM_API static Error stow(const T* src, T* dst, StowContext& cx) {
    detail::construct_at(dst);
    const Error e = stow_from<0, Members...>(src, dst, cx);
    if (e != Error::none) dst->~T();
    return e;
  }
  SWIM_MEM_API static void unstow(const T* src, T* dst) {
    unstow_from<0, Members...>(src, dst);
    dst->~T();
  }
  /// The members in order (the order stow allocated their objects). Every member
  /// type must be shippable (checked when it is used: a recursive type's members
  /// are incomplete when this is declared).
  /// Members not listed did not travel (stow left them default-constructed): the
  /// bytes that arrived for them are never followed, and *obj is rebuilt as a default
  /// T holding the listed members.
  SWIM_MEM_API static Error rebase(T* obj, RebaseContext& cx) {
    Error e = Error::none;
    ((e = e == Error::none ? rebase_one<Members>(obj, cx) : e), ...);
    if (e != Error::none) return e;
    // When the listed members fill T (no byte left for anything else), there is
    // nothing unlisted to reset.
    if constexpr (sizeof(T) == (std::size_t(0) + ... + sizeof(member_t<Members>))) {
      return Error::none;
    }
    storage<T> kept;
    detail::construct_at(kept.get());
    ((kept.get()->*Members = detail::move(obj->*Members)), ...);
    detail::construct_at(obj);  // over the bytes that arrived, without destroying them
    ((obj->*Members = detail::move(kept.get()->*Members)), ...);
    kept.get()->~T();
    return Error::none;
  }
  /// The members' stow_bytes, summed (0 for a member that cannot say: an estimate
  /// that is short makes a Parcel grow, it is never wrong).
  SWIM_MEM_API static std::size_t stow_bytes(const T* obj) {
    return (std::size_t(0) + ... + bytes_one<Members>(obj));
  }

 private:
  template <auto Member>
  using member_t = std::remove_const_t<
      std::remove_reference_t<decltype(static_cast<T*>(nullptr)->*Member)>>;

  template <auto Member>
  SWIM_MEM_API static std::size_t bytes_one(const T* obj) {
    using M = std::remove_const_t<std::remove_reference_t<decltype(obj->*Member)>>;
    if constexpr (stow_measurable<M>) {
      return stow_traits<M>::stow_bytes(&(obj->*Member));
    } else {
      (void)obj;
      return 0;
    }
  }
  template <auto Member>
  SWIM_MEM_API static Error rebase_one(T* obj, RebaseContext& cx) {
    using M = std::remove_const_t<std::remove_reference_t<decltype(obj->*Member)>>;
    static_assert(shippable<M>, "a member of this type cannot be rebased (shipped)");
    return stow_traits<M>::rebase(const_cast<M*>(&(obj->*Member)), cx);
  }

  template <class M>
  struct storage {
    alignas(M) unsigned char bytes[sizeof(M)];
    SWIM_MEM_API M* get() { return reinterpret_cast<M*>(bytes); }
  };

  template <int I>
  SWIM_MEM_API static Error stow_from(const T*, T*, StowContext&) {
    return Error::none;
  }
  template <int I, auto First, auto... Rest>
  SWIM_MEM_API static Error stow_from(const T* src, T* dst, StowContext& cx) {
    using M = std::remove_reference_t<decltype(src->*First)>;
    storage<std::remove_const_t<M>> tmp;
    Error e = stow_traits<std::remove_const_t<M>>::stow(&(src->*First), tmp.get(), cx);
    if (e != Error::none) return e;
    dst->*First = detail::move(*tmp.get());
    tmp.get()->~M();
    e = stow_from<I + 1, Rest...>(src, dst, cx);
    if (e != Error::none) unstow_one<First>(src, dst);
    return e;
  }

  template <int I>
  SWIM_MEM_API static void unstow_from(const T*, T*) {}
  template <int I, auto First, auto... Rest>
  SWIM_MEM_API static void unstow_from(const T* src, T* dst) {
    unstow_from<I + 1, Rest...>(src, dst);  // reverse order
    unstow_one<First>(src, dst);
  }

  // Move the member out of dst, undo its stow, and leave dst's member as if
  // default-constructed.
  template <auto Member>
  SWIM_MEM_API static void unstow_one(const T* src, T* dst) {
    using M = std::remove_const_t<std::remove_reference_t<decltype(src->*Member)>>;
    storage<M> tmp;
    detail::construct_at(tmp.get(), detail::move(dst->*Member));
    dst->*Member = M{};
    stow_traits<M>::unstow(&(src->*Member), tmp.get());
  }
};

/// Stow `src` into `target`. On success the result owns a copy in `target` and
/// `src` has been destroyed and reset (its old memory freed); on failure `src` is
/// untouched and nothing was left in `target`.
/// Thread-safety: `src` must not be used concurrently (shared leases inside it may
/// be, see leases/arc_core.hpp). Host and device.
template <stowable L>
SWIM_MEM_API Result<L> try_stow(L& src, HoldRef target) {
  alignas(L) unsigned char bytes[sizeof(L)];
  L* dst = reinterpret_cast<L*>(bytes);
  StowContext cx(target, &src);
  const Error e = stow_traits<L>::stow(&src, dst, cx);
  if (e != Error::none) {
    cx.rollback();
    return e;
  }
  cx.commit();
  Result<L> out(detail::move(*dst));
  dst->~L();
  src = L{};
  return out;
}

namespace detail {

template <class T>
struct StowSlot {
  alignas(T) unsigned char bytes[sizeof(T)];
  SWIM_MEM_API T* get() { return reinterpret_cast<T*>(bytes); }
};

// The end of the chain: every copy succeeded; `all_copied` runs, then the shared
// relocations are published, before any lease is replaced.
template <class Gate>
SWIM_MEM_API Error stow_chain(StowContext& cx, Gate& all_copied) {
  all_copied();
  cx.commit();
  return Error::none;
}

// Copy `first`, then the rest; replace `first` only once everything after it was
// copied (and committed), else undo its copy. So commits happen only when every
// copy succeeded, and a failure anywhere leaves every lease untouched.
template <class Gate, class L, class... Rest>
SWIM_MEM_API Error stow_chain(StowContext& cx, Gate& all_copied, L& first, Rest&... rest) {
  StowSlot<L> slot;
  Error e = stow_traits<L>::stow(&first, slot.get(), cx);
  if (e != Error::none) return e;
  e = stow_chain(cx, all_copied, rest...);
  if (e != Error::none) {
    stow_traits<L>::unstow(&first, slot.get());
    return e;
  }
  first = detail::move(*slot.get());
  slot.get()->~L();
  return Error::none;
}

/// stow_chain as one transaction: rolled back on failure.
template <class Gate, class... L>
SWIM_MEM_API Error stow_transaction(HoldRef target, Gate& all_copied, L&... leases) {
  StowContext cx(target, &all_copied);
  const Error e = stow_chain(cx, all_copied, leases...);
  if (e != Error::none) cx.rollback();
  return e;
}

}  // namespace detail

/// Stow several leases into `target` as one transaction: on success each lease is
/// replaced by its stowed copy (the originals destroyed, freeing their memory); on
/// failure every lease is untouched and nothing is left in the target.
template <stowable... L>
SWIM_MEM_API Error try_stow_all(HoldRef target, L&... leases) {
  auto nothing = [] {};
  return detail::stow_transaction(target, nothing, leases...);
}

}  // namespace swim::mem
