// Layer 7 (residents): Box<T, M>, one value of type T (and optional user
// metadata M) in a leased object.
//
//   Raw<Box<T>>  a unique pointer (one word: the metadata is empty)
//   Ptr<Box<T, M>>  one word, M stored in the object in front of the value
// A Box is stowed by stowing its value (stow_traits<T>), which is where the
// recursion into a data structure happens.
// Raw/Ptr of a Box can be cloned when T is copy-constructible (try_clone,
// try_clone_into) and unwrapped (std::move(lease).try_unwrap()) when T is
// move-constructible.
#pragma once

#include <type_traits>

#include "swim/mem/leases.hpp"

namespace swim::mem {

template <class T, class M = NoMeta>
struct Box {
  using value_type = T;
  using meta_type = M;
  using user_meta_type = M;

  SWIM_MEM_API static Layout layout(const M&) { return Layout::of<T>(); }
  SWIM_MEM_API static M stow_meta(const M& m) { return m; }
  SWIM_MEM_API static void destroy(T* value, M&) { value->~T(); }
  SWIM_MEM_API static Error stow(const T* src, const M&, T* dst, M&, StowContext& cx) {
    return stow_traits<T>::stow(src, dst, cx);
  }
  SWIM_MEM_API static void unstow(const T* src, const M&, T* dst, M&) {
    stow_traits<T>::unstow(src, dst);
  }
  /// The bytes a stow of the value takes (leases/stow.hpp, stow_bytes; 0 for a T
  /// that cannot say, which makes the estimate short, not wrong).
  SWIM_MEM_API static std::size_t stow_bytes(const T* value, const M&) {
    if constexpr (stow_measurable<T>) {
      return stow_traits<T>::stow_bytes(value);
    } else {
      (void)value;
      return 0;
    }
  }
  /// Rebase (leases/rebase.hpp): the value's.
  SWIM_MEM_API static Error rebase(T* value, M&, RebaseContext& cx) {
    static_assert(shippable<T>, "Box<T>: T cannot be rebased (shipped)");
    return stow_traits<T>::rebase(value, cx);
  }

  // Clone (leases/resident.hpp, optional part): copy-construct the value, keep the user
  // metadata. Only for a copy-constructible T (a template, so that the condition is
  // not evaluated while T may still be incomplete). A T that owns leases of its own
  // is move-only, so a Box of it has no clone; copy constructors are assumed not to
  // throw (nothing in this library does).
  SWIM_MEM_API static M clone_meta(const M& m) { return m; }
  template <class U = T>
    requires std::is_copy_constructible_v<U>
  SWIM_MEM_API static Error clone(const U* src, const M&, U* dst, M&) {
    detail::construct_at(dst, *src);
    return Error::none;
  }

  /// What a lease of a Box offers (L is the lease type).
  template <class L>
  class interface {
   public:
    /// Allocate a T in `hold`, constructed from `args`.
    template <class... Args>
    SWIM_MEM_API static Result<L> try_new(HoldRef hold, Args&&... args) {
      return try_new_with_meta(hold, M{}, static_cast<Args&&>(args)...);
    }
    /// The same, with user metadata.
    template <class... Args>
    SWIM_MEM_API static Result<L> try_new_with_meta(HoldRef hold, const M& meta,
                                                     Args&&... args) {
      return L::try_make(hold, meta, [&](T* data, M&) {
        detail::construct_at(data, static_cast<Args&&>(args)...);
        return Error::none;
      });
    }

    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API T& operator*() const {
      return *self().data();
    }
    template <detail::lease_mutable<L> Self = L>
    SWIM_MEM_API T* operator->() const {
      return self().data();
    }
    template <detail::lease_readable<L> Self = L>
      requires(!Self::is_mutable)
    SWIM_MEM_API const T& operator*() const {
      return *self().data();
    }
    template <detail::lease_readable<L> Self = L>
      requires(!Self::is_mutable)
    SWIM_MEM_API const T* operator->() const {
      return self().data();
    }
    /// The user metadata.
    SWIM_MEM_API M& metadata() const { return self().meta(); }

    /// Move the value out and free the object: the moved-from T is destroyed, the
    /// lease becomes null (`auto v = std::move(lease).try_unwrap();`). Offered on
    /// leases with the unwrap primitive (leases/resident.hpp): Raw, Ptr, and Mut, Ref
    /// and Hard while theirs is the resident's only strong reference (not Soft).
    /// Errors (nothing changes): invalid_argument for a null lease; for the shared
    /// leases also aliased, relocating and contended (leases/arc_lease.hpp).
    /// (Buf and String have no unwrap: there is no device-safe owning container to
    /// move their elements into; move the elements out one by one instead.)
    template <detail::lease_unwrappable<L> Self = L>
      requires std::is_move_constructible_v<T>
    SWIM_MEM_API Result<T> try_unwrap() && {
      detail::RawSlot<T> slot{};  // (zeroed: GCC cannot see that take runs before the read)
      const Error e = static_cast<Self&>(*this).try_release_for_unwrap([&](T* value, M&) {
        detail::construct_at(slot.get(), static_cast<T&&>(*value));
        value->~T();
      });
      if (e != Error::none) return e;
      Result<T> out(static_cast<T&&>(*slot.get()));
      slot.get()->~T();
      return out;
    }

   private:
    SWIM_MEM_API const L& self() const { return static_cast<const L&>(*this); }
  };
};

}  // namespace swim::mem
