// Layer 5 (holds): operations on any memory object through its tag, and HoldRef.
//
// A lease or resident knows only its object; these functions find the owning
// hold from the tag and dispatch on its kind. Every dispatch here is generated
// from the list in holds/hold_kinds.hpp (no vtables, no switch written by hand),
// so they work in device code and a new kind of hold needs no edit here.
#pragma once

#include "swim/mem/holds/hold_kinds.hpp"
#include "swim/mem/holds/pack.hpp"
#include "swim/mem/holds/pool.hpp"
#include "swim/mem/holds/size_classes.hpp"
#include "swim/mem/holds/tag.hpp"

namespace swim::mem {
namespace detail {

template <class... Cs>
SWIM_MEM_API constexpr bool controls_aligned(type_list<Cs...>) {
  return ((alignof(Cs) >= control_align) && ...);
}
static_assert(controls_aligned(hold_kinds{}),
              "every control block must leave the tag's kind bits free");

/// A control block type that a HoldRef may designate (a hold proper).
template <class C>
concept hold_control = requires(C& c, const C& cc, Layout l, Block b) {
  { c.tag_allocate(l) } -> std::same_as<Result<Block>>;
  { c.checked_free(b) } -> std::same_as<Error>;
  { cc.stats() } -> std::same_as<Stats>;
};

/// Whether control block type C tags its objects relatively (holds/tag.hpp).
template <class C>
inline constexpr bool relative_tags_v = requires { requires C::relative_tags; };

/// Call f(control) with the control block a HoldRef word names (an absolute
/// {address | kind}), as its type; nothing for none, freed or an unknown kind.
template <class F>
SWIM_MEM_API SWIM_MEM_FORCEINLINE void visit_control(std::uint64_t word, F&& f) {
  void* const control = tag_control(word);
  dispatch_kind(hold_kinds{}, static_cast<unsigned>(tag_kind(word)), [&](auto* type) {
    f(static_cast<decltype(type)>(control));
  });
}

/// The same for the tag in front of `object`: absolute, or relative to the object
/// for the kinds whose tags are (relative_tags_v).
template <class F>
SWIM_MEM_API SWIM_MEM_FORCEINLINE void visit_object_control(std::uint64_t tag, const void* object,
                                                           F&& f) {
  dispatch_kind(hold_kinds{}, static_cast<unsigned>(tag_kind(tag)), [&](auto* type) {
    using C = std::remove_pointer_t<decltype(type)>;
    f(static_cast<C*>(control_at<relative_tags_v<C>>(tag, object)));
  });
}

/// The answer to an operation on a block whose tag names no live object.
SWIM_MEM_API inline Error untagged_error(std::uint64_t tag) {
  return tag_kind(tag) == HoldKind::freed ? Error::double_free : Error::foreign_pointer;
}

}  // namespace detail

/// Free a memory object of any hold, given the block its hold returned.
/// Double frees return Error::double_free. The tag in front of `block.ptr` is
/// trusted: a pointer that no hold produced is undefined behaviour here (use
/// HoldRef::try_deallocate or the owning allocator's try_deallocate to have
/// foreign pointers rejected). Thread-safety and host/device validity: those of
/// the owning hold.
SWIM_MEM_NOINLINE SWIM_MEM_API inline Error hold_deallocate(Block block) {
  if (block.ptr == nullptr || block.address() % detail::tag_size != 0) {
    return Error::foreign_pointer;
  }
  const std::uint64_t tag = detail::tag_of<concurrent>(block.ptr).load(order::relaxed);
  Error e = detail::untagged_error(tag);
  detail::visit_object_control(tag, block.ptr, [&](auto* c) { e = c->tag_free(block); });
  return e;
}

/// Resize a memory object of any hold in place (it never moves). The tag is
/// trusted, as by hold_deallocate.
SWIM_MEM_NOINLINE SWIM_MEM_API inline Result<Block> hold_resize(Block block, Layout layout) {
  if (block.ptr == nullptr || block.size == 0 || block.address() % detail::tag_size != 0) {
    return Error::foreign_pointer;
  }
  const std::uint64_t tag = detail::tag_of<concurrent>(block.ptr).load(order::relaxed);
  Result<Block> r = detail::untagged_error(tag);
  detail::visit_object_control(tag, block.ptr, [&](auto* c) { r = c->tag_resize(block, layout); });
  return r;
}

/// A one-word, device-valid, non-owning reference to any hold (a Pack or a Pool,
/// any mode): what a lease keeps to allocate "in the same hold" and what stow
/// takes as its target. The word is the complement of the hold's own tag (its
/// control block address and kind): a HoldRef that a program keeps in an object
/// must never read as the tag of the object after it, which a validated free would
/// then accept. Trivially copyable. Thread-safety and host/device validity: the
/// hold's.
class HoldRef {
 public:
  constexpr HoldRef() = default;

  template <concurrency_mode Mode, class Addr>
  SWIM_MEM_API static HoldRef of(Pack<Mode, Addr>& pack) {
    return HoldRef(~pack.tag_owner());
  }
  template <class Heap, concurrency_mode Mode, bool Checked, class Addr>
  SWIM_MEM_API static HoldRef of(Pool<Heap, Mode, Checked, Addr>& pool) {
    return HoldRef(~pool.tag_owner());
  }
  template <class Heap, concurrency_mode Mode, bool Checked, class Addr>
  SWIM_MEM_API static HoldRef of(SizeClasses<Heap, Mode, Checked, Addr>& hold) {
    return HoldRef(~hold.tag_owner());
  }
  /// The hold that owns a memory object (read from its tag, which is trusted as
  /// by hold_deallocate). Null for a freed object.
  SWIM_MEM_API static HoldRef owner_of(const void* object) {
    const std::uint64_t tag = detail::tag_of<concurrent>(object).load(order::relaxed);
    HoldRef r;
    detail::visit_object_control(tag, object, [&](auto* c) { r.word_ = ~c->tag_owner(); });
    return r;
  }

  SWIM_MEM_API explicit operator bool() const { return word_ != 0; }
  SWIM_MEM_API friend bool operator==(HoldRef a, HoldRef b) { return a.word_ == b.word_; }
  SWIM_MEM_API HoldKind kind() const {
    return word_ == 0 ? HoldKind::none : detail::tag_kind(~word_);
  }

  /// A tagged object of this hold (see Pack::try_allocate, Pool::try_allocate).
  /// A Pool that must grow does so through its HeapRef (Error::unsupported when
  /// its upstream heap is outside heaps/heap_kinds.hpp, or is host-only and this
  /// is device code). A null HoldRef answers Error::unsupported.
  SWIM_MEM_NOINLINE SWIM_MEM_API Result<Block> try_allocate(Layout layout) const {
    Result<Block> r = Error::unsupported;
    visit_hold([&](auto* c) { r = c->tag_allocate(layout); });
    return r;
  }

  /// Free an object of this hold. Validated before anything is followed: a
  /// pointer that is not a live object of this hold gives Error::foreign_pointer
  /// (Error::double_free for an object of this hold freed already) and changes
  /// nothing. Only the word in front of block.ptr is read, which must be readable
  /// (for a SizeClasses object tagged with the hold itself, a large one, also the
  /// two words before that tag).
  SWIM_MEM_NOINLINE SWIM_MEM_API Error try_deallocate(Block block) const {
    if (block.ptr == nullptr || block.address() % detail::tag_size != 0) {
      return Error::foreign_pointer;
    }
    Error e = Error::unsupported;
    visit_hold([&](auto* c) { e = c->checked_free(block); });
    return e;
  }

  /// Resize or move an object of this hold (its tag is trusted, as by
  /// hold_deallocate). In place when possible; otherwise a new object is allocated
  /// in the same hold, the first min(old, new) bytes are copied and the old object
  /// is freed. A freed block is double_free before anything is allocated. On
  /// failure the old object is untouched.
  SWIM_MEM_NOINLINE SWIM_MEM_API Result<Block> try_reallocate(Block block, Layout layout) const {
    if (!detail::is_pow2(layout.align)) return Error::misaligned;
    if (block.size != 0 && layout.size != 0) {
      const Result<Block> in_place = hold_resize(block, layout);
      if (in_place) return in_place;
      // Not an object (freed, foreign): refuse before anything is allocated.
      if (in_place.error() == Error::double_free || in_place.error() == Error::foreign_pointer) {
        return in_place.error();
      }
    }
    const Result<Block> fresh = try_allocate(layout);
    if (!fresh) return fresh;
    const std::size_t n = block.size < fresh->size ? block.size : fresh->size;
    // Hold objects are 8-byte aligned: whole words, then the bytes of a size that is
    // not a multiple of 8 (the size the caller asked for, say).
    auto* to = static_cast<std::uint64_t*>(fresh->ptr);
    const auto* from = static_cast<const std::uint64_t*>(block.ptr);
    for (std::size_t i = 0; i < n / 8; ++i) to[i] = from[i];
    for (std::size_t i = n & ~std::size_t(7); i < n; ++i) {
      static_cast<std::byte*>(fresh->ptr)[i] = static_cast<const std::byte*>(block.ptr)[i];
    }
    const Error e = hold_deallocate(block);
    if (e != Error::none) {
      hold_deallocate(*fresh);
      return e;
    }
    return fresh;
  }

  /// The hold's statistics (zeros for a null HoldRef).
  SWIM_MEM_API Stats stats() const {
    Stats s{};
    visit_hold([&](auto* c) { s = c->stats(); });
    return s;
  }

 private:
  SWIM_MEM_API explicit HoldRef(std::uint64_t word) : word_(word) {}

  // f(hold) for the hold this refers to (never a control block that is not a hold).
  template <class F>
  SWIM_MEM_API void visit_hold(F&& f) const {
    if (word_ == 0) return;
    detail::visit_control(~word_, [&](auto* c) {
      if constexpr (detail::hold_control<std::remove_pointer_t<decltype(c)>>) f(c);
    });
  }

  std::uint64_t word_ = 0;  // ~(the hold's tag), or 0 for no hold
};

}  // namespace swim::mem
