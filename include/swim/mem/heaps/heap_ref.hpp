// Layer 4 (heaps): HeapRef, a one-word, device-valid reference to a heap of the
// closed set swim-mem knows, dispatched with a switch (no vtable).
//
// A Pool keeps one so that it can grow when an allocation reaches it through an
// object's tag (a lease growing a buffer, a stow into "the same hold"), where the
// heap's static type is not known. Heaps outside the set still work as a Pool's
// upstream through the typed Pool<Heap> path; only tag-driven growth then reports
// Error::unsupported.
#pragma once

#include <cstdint>

#include "swim/mem/heaps/addr_space.hpp"
#include "swim/mem/heaps/slab.hpp"
#include "swim/mem/heaps/source_heap.hpp"
#include "swim/mem/physical.hpp"
#include "swim/mem/sources/os_pages.hpp"

namespace swim::mem {

enum class HeapKind : std::uint8_t {
  none = 0,
  slab_concurrent_checked,
  slab_concurrent,
  slab_single_owner_checked,
  slab_single_owner,
  addr_space_concurrent_checked,
  addr_space_concurrent,
  addr_space_single_owner_checked,
  addr_space_single_owner,
  os_pages_concurrent,    // host only
  os_pages_single_owner,  // host only
};

namespace detail {
template <class H>
struct heap_kind_of {
  static constexpr HeapKind value = HeapKind::none;
};
template <>
struct heap_kind_of<Slab<concurrent, true>> {
  static constexpr HeapKind value = HeapKind::slab_concurrent_checked;
};
template <>
struct heap_kind_of<Slab<concurrent, false>> {
  static constexpr HeapKind value = HeapKind::slab_concurrent;
};
template <>
struct heap_kind_of<Slab<single_owner, true>> {
  static constexpr HeapKind value = HeapKind::slab_single_owner_checked;
};
template <>
struct heap_kind_of<Slab<single_owner, false>> {
  static constexpr HeapKind value = HeapKind::slab_single_owner;
};
template <>
struct heap_kind_of<AddrSpace<concurrent, true>> {
  static constexpr HeapKind value = HeapKind::addr_space_concurrent_checked;
};
template <>
struct heap_kind_of<AddrSpace<concurrent, false>> {
  static constexpr HeapKind value = HeapKind::addr_space_concurrent;
};
template <>
struct heap_kind_of<AddrSpace<single_owner, true>> {
  static constexpr HeapKind value = HeapKind::addr_space_single_owner_checked;
};
template <>
struct heap_kind_of<AddrSpace<single_owner, false>> {
  static constexpr HeapKind value = HeapKind::addr_space_single_owner;
};
template <>
struct heap_kind_of<SourceHeap<OsPages, concurrent>> {
  static constexpr HeapKind value = HeapKind::os_pages_concurrent;
};
template <>
struct heap_kind_of<SourceHeap<OsPages, single_owner>> {
  static constexpr HeapKind value = HeapKind::os_pages_single_owner;
};
}  // namespace detail

/// True when HeapRef can refer to a heap of type H.
template <class H>
inline constexpr bool heap_ref_supports = detail::heap_kind_of<H>::value != HeapKind::none;

/// A non-owning reference to a heap, valid on the side(s) where that heap is.
/// Trivially copyable; satisfies the `heap` concept. Thread-safety: the heap's.
class HeapRef {
 public:
  constexpr HeapRef() = default;

  /// A reference to `h`, or a null reference (kind none) if H is not in the set.
  template <class H>
  SWIM_MEM_API static HeapRef of(H& h) {
    HeapRef r;
    r.heap_ = heap_ref_supports<H> ? &h : nullptr;
    r.kind_ = detail::heap_kind_of<H>::value;
    return r;
  }

  SWIM_MEM_API HeapKind kind() const { return kind_; }
  SWIM_MEM_API explicit operator bool() const { return kind_ != HeapKind::none; }

  SWIM_MEM_API Result<Block> try_allocate(Layout layout) const {
    Result<Block> r = Error::unsupported;
    visit([&](auto& h) { r = h.try_allocate(layout); });
    return r;
  }
  SWIM_MEM_API Error try_deallocate(Block block) const {
    Error e = Error::unsupported;
    visit([&](auto& h) { e = h.try_deallocate(block); });
    return e;
  }
  SWIM_MEM_API Stats stats() const {
    Stats s{};
    visit([&](auto& h) { s = h.stats(); });
    return s;
  }

 private:
  template <class F>
  SWIM_MEM_API void visit(F&& f) const {
    switch (kind_) {
      case HeapKind::none: return;
      case HeapKind::slab_concurrent_checked: return f(*static_cast<Slab<concurrent, true>*>(heap_));
      case HeapKind::slab_concurrent: return f(*static_cast<Slab<concurrent, false>*>(heap_));
      case HeapKind::slab_single_owner_checked:
        return f(*static_cast<Slab<single_owner, true>*>(heap_));
      case HeapKind::slab_single_owner: return f(*static_cast<Slab<single_owner, false>*>(heap_));
      case HeapKind::addr_space_concurrent_checked:
        return f(*static_cast<AddrSpace<concurrent, true>*>(heap_));
      case HeapKind::addr_space_concurrent:
        return f(*static_cast<AddrSpace<concurrent, false>*>(heap_));
      case HeapKind::addr_space_single_owner_checked:
        return f(*static_cast<AddrSpace<single_owner, true>*>(heap_));
      case HeapKind::addr_space_single_owner:
        return f(*static_cast<AddrSpace<single_owner, false>*>(heap_));
      case HeapKind::os_pages_concurrent:
        SWIM_MEM_IF_TARGET((return f(*static_cast<SourceHeap<OsPages, concurrent>*>(heap_));),
                           (return;))
      case HeapKind::os_pages_single_owner:
        SWIM_MEM_IF_TARGET((return f(*static_cast<SourceHeap<OsPages, single_owner>*>(heap_));),
                           (return;))
    }
  }

  void* heap_ = nullptr;
  HeapKind kind_ = HeapKind::none;
};

}  // namespace swim::mem
