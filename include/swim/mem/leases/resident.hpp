// Layer 6 (leases): what a lease needs from a resident.
//
// A lease (Raw, Ptr, Mut, Ref, Hard, Soft) owns or governs one tagged memory
// object of a hold and says where the metadata lives; a *resident* (Box, Buf,
// String) says how the object is used: its payload layout for given metadata,
// how to destroy and to stow it, and the operations the lease offers
// (R::interface<Lease>, a mixin the lease derives from).
//
// Contract of a resident R:
//   typename R::value_type                     element type
//   typename R::meta_type                      what the lease keeps beside the pointer
//                                              (trivially copyable)
//   static Layout R::layout(const meta_type&)  payload layout now
//   static void   R::destroy(value_type*, meta_type&)
//                                              destroy the payload's contents
//   static meta_type R::stow_meta(const meta_type&)
//                                              metadata of a stowed copy (a Buf shrinks
//                                              to fit: capacity = length)
//   static Error  R::stow(const value_type* src, const meta_type& src_meta,
//                         value_type* dst, meta_type& dst_meta, StowContext& cx)
//                                              copy the payload into dst (allocated for
//                                              dst_meta = stow_meta(src_meta)) and its
//                                              children into cx.target() (stow_traits<T>
//                                              with the same cx); on error nothing is
//                                              left in dst or target
//   static void   R::unstow(const value_type* src, const meta_type& src_meta,
//                           value_type* dst, meta_type& dst_meta)
//                                              undo a successful stow
//   template <class L> class R::interface      operations offered by lease L
#pragma once

#include <concepts>
#include <type_traits>

#include "swim/mem/holds.hpp"

namespace swim::mem {

/// The default user metadata of a resident: nothing (and no space in a Raw handle).
struct NoMeta {
  SWIM_MEM_API friend constexpr bool operator==(NoMeta, NoMeta) { return true; }
};

template <class R>
concept resident = requires(const typename R::meta_type& m) {
  typename R::value_type;
  typename R::meta_type;
  { R::layout(m) } -> std::same_as<Layout>;
  { R::stow_meta(m) } -> std::same_as<typename R::meta_type>;
} && std::is_trivially_copyable_v<typename R::meta_type>;

namespace detail {
/// Placement-new without <new>'s host-only parts (the global placement form is
/// usable on both sides).
template <class T, class... Args>
SWIM_MEM_API inline T* construct_at(T* p, Args&&... args) {
  return ::new (static_cast<void*>(p)) T(static_cast<Args&&>(args)...);
}
template <class T>
SWIM_MEM_API constexpr T&& move(T& v) {
  return static_cast<T&&>(v);
}

/// Constraints of the mixins' members: "L is mutable" / "L is dereferenceable".
/// They test a template parameter of the member itself (Self = L), so they are
/// checked only when the member is used: clang 15 (hipcc) checks a non-template
/// member's requires-clause when the class is instantiated, and the mixin is
/// instantiated as the base of L, while L is still incomplete.
template <class Self, class L>
concept lease_mutable = std::same_as<Self, L> && Self::is_mutable;
template <class Self, class L>
concept lease_readable = std::same_as<Self, L> && Self::is_dereferenceable;
}  // namespace detail

}  // namespace swim::mem
