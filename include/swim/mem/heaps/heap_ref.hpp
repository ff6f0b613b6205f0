// Layer 4 (heaps): HeapRef, a one-word, device-valid reference to a heap of any
// kind in heaps/heap_kinds.hpp, dispatched from that list (no vtable).
//
// A Pool keeps one so that it can grow when an allocation reaches it through an
// object's tag (a lease growing a buffer, a stow into "the same hold"), where the
// heap's static type is not known. Heaps outside the list still work as a Pool's
// upstream through the typed Pool<Heap> path; only tag-driven growth then reports
// Error::unsupported.
#pragma once

#include <cstdint>
#include <type_traits>

#include "swim/mem/config.hpp"
#include "swim/mem/heaps/heap_kinds.hpp"
#include "swim/mem/physical.hpp"

namespace swim::mem {
namespace detail {

/// The operations of a host_registered heap kind, as host functions.
struct HostHeapOps {
  Result<Block> (*allocate)(void* heap, Layout layout);
  Error (*deallocate)(void* heap, Block block);
  Stats (*stats)(const void* heap);
};

/// The table of host_registered kinds (src/heap_registry.cpp). Host only,
/// thread-safe; registering a kind twice is harmless (the same table).
void register_host_heap(unsigned kind, const HostHeapOps* ops) noexcept;
const HostHeapOps* host_heap(unsigned kind) noexcept;

template <class H>
struct HostHeapOpsOf {
  static Result<Block> allocate(void* h, Layout l) { return static_cast<H*>(h)->try_allocate(l); }
  static Error deallocate(void* h, Block b) { return static_cast<H*>(h)->try_deallocate(b); }
  static Stats stats(const void* h) { return static_cast<const H*>(h)->stats(); }
  static constexpr HostHeapOps ops{&allocate, &deallocate, &stats};
};

}  // namespace detail

/// A non-owning reference to a heap, valid on the side(s) where that heap is.
/// Trivially copyable; satisfies the `heap` concept. Thread-safety: the heap's.
/// Operations of a null reference, and of a host-only heap in device code, answer
/// Error::unsupported (stats: zeros).
class HeapRef {
 public:
  constexpr HeapRef() = default;

  /// A reference to `h`, or a null reference (kind none) if H is not in heap_kinds.
  template <class H>
  SWIM_MEM_API static HeapRef of(H& h) {
    HeapRef r;
    if constexpr (heap_ref_supports<H>) {
      r.heap_ = &h;
      r.kind_ = heap_kind_v<H>;
      if constexpr (heap_route_v<H> == HeapRoute::host_registered) {
        SWIM_MEM_IF_TARGET((detail::register_host_heap(static_cast<unsigned>(heap_kind_v<H>),
                                                       &detail::HostHeapOpsOf<H>::ops);),
                           ())
      }
    }
    return r;
  }

  SWIM_MEM_API HeapKind kind() const { return kind_; }
  SWIM_MEM_API explicit operator bool() const { return kind_ != HeapKind::none; }

  /// The heap's address, and a reference rebuilt from it and its kind: for a hold
  /// that keeps its heap as a distance (a relative Pool, holds/pool.hpp) and so
  /// meets it at another address in another mapping. A host_registered kind
  /// answers only in a process that made a reference to it with of().
  SWIM_MEM_API void* address() const { return heap_; }
  SWIM_MEM_API static HeapRef at(void* heap, HeapKind kind) {
    HeapRef r;
    r.heap_ = heap;
    r.kind_ = heap == nullptr ? HeapKind::none : kind;
    return r;
  }

  // Out of line, as HoldRef's dispatch is: inlined, the dispatch over every heap kind
  // is copied into each caller, once per iteration of an unrolled loop (a SizeClasses
  // trim() in a kernel became 130,000 lines of PTX, and ptxas took 10 minutes).
  SWIM_MEM_NOINLINE SWIM_MEM_API Result<Block> try_allocate(Layout layout) const {
    Result<Block> r = Error::unsupported;
    visit(
        [&](auto& h) { r = h.try_allocate(layout); },
        [&](const detail::HostHeapOps& ops) { r = ops.allocate(heap_, layout); });
    return r;
  }
  SWIM_MEM_NOINLINE SWIM_MEM_API Error try_deallocate(Block block) const {
    Error e = Error::unsupported;
    visit([&](auto& h) { e = h.try_deallocate(block); },
          [&](const detail::HostHeapOps& ops) { e = ops.deallocate(heap_, block); });
    return e;
  }
  /// Whether the heap can give the pages of a block that is out back while the
  /// block stays out (try_discard); false for a null reference, for kinds this
  /// side cannot run and for host-registered kinds.
  SWIM_MEM_API bool can_discard() const {
    bool yes = false;
    visit(
        [&](auto& h) {
          using H = std::remove_cvref_t<decltype(h)>;
          if constexpr (requires { requires H::can_discard; }) yes = true;
        },
        [&](const detail::HostHeapOps&) {});
    return yes;
  }
  /// Give the pages inside `part` (of a block that is out) back, the block
  /// staying out; unsupported where can_discard() is false.
  SWIM_MEM_NOINLINE SWIM_MEM_API Error try_discard(Block part) const {
    Error e = Error::unsupported;
    visit(
        [&](auto& h) {
          using H = std::remove_cvref_t<decltype(h)>;
          if constexpr (requires { requires H::can_discard; }) e = h.try_discard(part);
        },
        [&](const detail::HostHeapOps&) {});
    return e;
  }
  SWIM_MEM_API Stats stats() const {
    Stats s{};
    visit([&](auto& h) { s = h.stats(); },
          [&](const detail::HostHeapOps& ops) { s = ops.stats(heap_); });
    return s;
  }

 private:
  // Call `direct(heap)` for kinds whose code this side can run, `registered(ops)`
  // for host_registered kinds on the host; nothing otherwise.
  template <class Direct, class Registered>
  SWIM_MEM_API void visit(Direct&& direct, Registered&& registered) const {
    (void)registered;  // (unused in a device pass)
    void* const heap = heap_;
    const unsigned kind = static_cast<unsigned>(kind_);
    detail::dispatch_kind(heap_kinds{}, kind, [&](auto* entry) {
      using Entry = std::remove_pointer_t<decltype(entry)>;
      using H = typename Entry::type;
      if constexpr (Entry::route == HeapRoute::anywhere) {
        direct(*static_cast<H*>(heap));
      } else if constexpr (Entry::route == HeapRoute::host) {
        SWIM_MEM_IF_TARGET((direct(*static_cast<H*>(heap));), ())
      } else {
        SWIM_MEM_IF_TARGET((if (const detail::HostHeapOps* ops = detail::host_heap(kind)) {
                             registered(*ops);
                           }),
                           ())
      }
    });
  }

  void* heap_ = nullptr;
  HeapKind kind_ = HeapKind::none;
};

}  // namespace swim::mem
