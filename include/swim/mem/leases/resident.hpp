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
//
// Optional (a resident without them simply cannot be cloned: cloneable_resident):
//   static meta_type R::clone_meta(const meta_type&)
//                                              metadata of a clone (a Buf or String
//                                              shrinks to fit: capacity = length)
//   static Error  R::clone(const value_type* src, const meta_type& src_meta,
//                          value_type* dst, meta_type& dst_meta)
//                                              copy-construct the payload into dst (raw
//                                              memory allocated for dst_meta =
//                                              clone_meta(src_meta)), reading from src
//                                              only, never from dst; on error
//                                              nothing is left constructed in dst
// Declare clone as a constrained member template (`template <class U = T> requires
// std::is_copy_constructible_v<U>`), never with a plain requires-clause: a lease of
// a recursive type (a node holding Raw<Box<Node>>) instantiates the resident while
// the element type is still incomplete, and the condition must not be evaluated then.
//
// What a lease offers its resident's mixin, besides the members every lease has
// (try_make, data(), meta(), and try_regrow where the lease can grow):
//   static constexpr bool L::is_exclusive      the lease is the only reference to its
//                                              object (true; only Raw and Ptr define it)
//   template <class Take> Error L::try_release_for_unwrap(Take&& take)
//                                              optional; the unwrap primitive. Null
//                                              lease: Error::invalid_argument. A lease
//                                              that cannot own its object alone right
//                                              now (an aliased arc) returns an error
//                                              and changes nothing. Otherwise it calls
//                                              `void take(value_type*, meta_type&)`,
//                                              which moves the payload's value out and
//                                              destroys what is left of it, then frees
//                                              the object without R::destroy and
//                                              becomes null. A mixin offers its
//                                              try_unwrap() only on leases that have it
//                                              (detail::lease_unwrappable): Raw, Ptr,
//                                              Mut, Ref and Hard (an arc lease only
//                                              while it is the resident's only strong
//                                              reference); not Soft, which keeps no
//                                              resident.
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

/// A resident whose payload can be copied into a new object (R::clone, R::clone_meta);
/// what Raw/Ptr's try_clone and try_clone_into need.
template <class R>
concept cloneable_resident =
    resident<R> && requires(const typename R::value_type* src, typename R::value_type* dst,
                            const typename R::meta_type& src_meta,
                            typename R::meta_type& dst_meta) {
      { R::clone_meta(src_meta) } -> std::same_as<typename R::meta_type>;
      { R::clone(src, src_meta, dst, dst_meta) } -> std::same_as<Error>;
    };

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
/// "L can be cloned" (its resident is cloneable) and "L can give its object up for
/// an unwrap" (it has try_release_for_unwrap), tested as late as the two above.
template <class Self, class L>
concept lease_cloneable =
    std::same_as<Self, L> && cloneable_resident<typename Self::resident_type>;
template <class Self, class L>
concept lease_unwrappable =
    std::same_as<Self, L> &&
    requires(Self& lease, void (*take)(typename Self::value_type*, typename Self::meta_type&)) {
      { lease.try_release_for_unwrap(take) } -> std::same_as<Error>;
    };

/// Uninitialised room for one T (device-safe; the value is constructed and
/// destroyed by hand).
template <class T>
struct RawSlot {
  alignas(T) unsigned char bytes[sizeof(T)];
  SWIM_MEM_API T* get() { return reinterpret_cast<T*>(bytes); }
};
}  // namespace detail

}  // namespace swim::mem
