// Layer 7 (residents): Box<T, M>, one value of type T (and optional user
// metadata M) in a leased object.
//
//   Raw<Box<T>>  a unique pointer (one word: the metadata is empty)
//   Ptr<Box<T, M>>  one word, M stored in the object in front of the value
// A Box is stowed by stowing its value (stow_traits<T>), which is where the
// recursion into a data structure happens.
#pragma once

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

  /// What a lease of a Box offers (L is the lease type).
  template <class L>
  class interface {
   public:
    /// Allocate a T in `hold`, constructed from `args`.
    template <class... Args>
    SWIM_MEM_API static Outcome<L> try_new(HoldRef hold, Args&&... args) {
      return try_new_with_meta(hold, M{}, static_cast<Args&&>(args)...);
    }
    /// The same, with user metadata.
    template <class... Args>
    SWIM_MEM_API static Outcome<L> try_new_with_meta(HoldRef hold, const M& meta,
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

   private:
    SWIM_MEM_API const L& self() const { return static_cast<const L&>(*this); }
  };
};

}  // namespace swim::mem
