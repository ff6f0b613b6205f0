// Layer 5 (holds): operations on any memory object through its tag.
//
// A lease or resident knows only its object; these functions find the owning
// hold from the tag and dispatch with a switch over the closed set of hold kinds
// (no vtables, so they work in device code).
#pragma once

#include "swim/mem/holds/pack.hpp"
#include "swim/mem/holds/pool.hpp"
#include "swim/mem/holds/tag.hpp"

namespace swim::mem {

/// Free a memory object of any hold, given the block its hold returned.
/// Double frees return Error::double_free. The word in front of `block.ptr` must
/// be readable: a pointer that no hold produced is undefined behaviour here (use
/// the owning allocator's try_deallocate to have foreign pointers rejected).
/// Thread-safety and host/device validity: those of the owning hold.
SWIM_MEM_NOINLINE SWIM_MEM_API inline Error hold_deallocate(Block block) {
  if (block.ptr == nullptr) return Error::foreign_pointer;
  const std::uint64_t tag = detail::tag_of<concurrent>(block.ptr).load(order::relaxed);
  void* control = detail::tag_control(tag);
  switch (detail::tag_kind(tag)) {
    case HoldKind::none:
      return tag == 0 ? Error::double_free : Error::foreign_pointer;
    case HoldKind::pack_concurrent:
      return static_cast<Pack<concurrent>*>(control)->try_deallocate(block);
    case HoldKind::pack_single_owner:
      return static_cast<Pack<single_owner>*>(control)->try_deallocate(block);
    case HoldKind::pool_hunk_concurrent: {
      auto* h = static_cast<detail::PoolHunk<concurrent>*>(control);
      return h->pool->release_in_hunk(h, block);
    }
    case HoldKind::pool_hunk_single_owner: {
      auto* h = static_cast<detail::PoolHunk<single_owner>*>(control);
      return h->pool->release_in_hunk(h, block);
    }
    case HoldKind::pool_zero_concurrent:
      return static_cast<detail::PoolCore<concurrent>*>(control)->release_zero(block);
    case HoldKind::pool_zero_single_owner:
      return static_cast<detail::PoolCore<single_owner>*>(control)->release_zero(block);
  }
  return Error::foreign_pointer;
}

/// Resize a memory object of any hold in place (it never moves).
SWIM_MEM_NOINLINE SWIM_MEM_API inline Result<Block> hold_resize(Block block, Layout layout) {
  if (block.ptr == nullptr || block.size == 0) return Error::foreign_pointer;
  const std::uint64_t tag = detail::tag_of<concurrent>(block.ptr).load(order::relaxed);
  void* control = detail::tag_control(tag);
  switch (detail::tag_kind(tag)) {
    case HoldKind::pack_concurrent:
      return static_cast<Pack<concurrent>*>(control)->try_resize(block, layout);
    case HoldKind::pack_single_owner:
      return static_cast<Pack<single_owner>*>(control)->try_resize(block, layout);
    case HoldKind::pool_hunk_concurrent:
      return static_cast<detail::PoolHunk<concurrent>*>(control)->pool->try_resize(block, layout);
    case HoldKind::pool_hunk_single_owner:
      return static_cast<detail::PoolHunk<single_owner>*>(control)->pool->try_resize(block,
                                                                                       layout);
    case HoldKind::none:
      return tag == 0 ? Error::double_free : Error::foreign_pointer;
    default:
      return Error::foreign_pointer;
  }
}

/// A one-word, device-valid, non-owning reference to any hold (Pack or Pool, any
/// mode): what a lease keeps to allocate "in the same hold" and what stow takes as
/// its target. Same encoding as a tag: the control block's address and its kind.
/// Trivially copyable. Thread-safety and host/device validity: the hold's.
class HoldRef {
 public:
  constexpr HoldRef() = default;

  template <concurrency_mode Mode>
  SWIM_MEM_API static HoldRef of(Pack<Mode>& pack) {
    return HoldRef(detail::make_tag(&pack, Pack<Mode>::kind));
  }
  template <class Heap, concurrency_mode Mode>
  SWIM_MEM_API static HoldRef of(Pool<Heap, Mode>& pool) {
    detail::PoolCore<Mode>& core = pool;
    return HoldRef(detail::make_tag(&core, detail::PoolCore<Mode>::zero_kind));
  }
  /// The hold that owns a memory object (read from its tag). Null for a freed object.
  SWIM_MEM_API static HoldRef owner_of(const void* object) {
    const std::uint64_t tag = detail::tag_of<concurrent>(object).load(order::relaxed);
    void* control = detail::tag_control(tag);
    switch (detail::tag_kind(tag)) {
      case HoldKind::pool_hunk_concurrent:
        return HoldRef(detail::make_tag(
            static_cast<detail::PoolHunk<concurrent>*>(control)->pool,
            HoldKind::pool_zero_concurrent));
      case HoldKind::pool_hunk_single_owner:
        return HoldRef(detail::make_tag(
            static_cast<detail::PoolHunk<single_owner>*>(control)->pool,
            HoldKind::pool_zero_single_owner));
      case HoldKind::none:
        return HoldRef();
      default:
        return HoldRef(tag);
    }
  }

  SWIM_MEM_API explicit operator bool() const { return word_ != 0; }
  SWIM_MEM_API friend bool operator==(HoldRef a, HoldRef b) { return a.word_ == b.word_; }
  SWIM_MEM_API HoldKind kind() const { return detail::tag_kind(word_); }

  /// A tagged object of this hold (see Pack::try_allocate, Pool::try_allocate).
  /// A Pool that must grow does so through its HeapRef (Error::unsupported when its
  /// upstream heap is outside HeapRef's set).
  SWIM_MEM_NOINLINE SWIM_MEM_API Result<Block> try_allocate(Layout layout) const {
    void* control = detail::tag_control(word_);
    switch (kind()) {
      case HoldKind::pack_concurrent:
        return static_cast<Pack<concurrent>*>(control)->try_allocate(layout);
      case HoldKind::pack_single_owner:
        return static_cast<Pack<single_owner>*>(control)->try_allocate(layout);
      case HoldKind::pool_zero_concurrent:
        return static_cast<detail::PoolCore<concurrent>*>(control)->try_allocate_any(layout);
      case HoldKind::pool_zero_single_owner:
        return static_cast<detail::PoolCore<single_owner>*>(control)->try_allocate_any(layout);
      default:
        return Error::unsupported;
    }
  }

  /// Free an object; it must belong to this hold (Error::foreign_pointer if not).
  SWIM_MEM_API Error try_deallocate(Block block) const {
    if (block.ptr == nullptr) return Error::foreign_pointer;
    if (owner_of(block.ptr) != *this) {
      return detail::tag_of<concurrent>(block.ptr).load(order::relaxed) == 0
                 ? Error::double_free
                 : Error::foreign_pointer;
    }
    return hold_deallocate(block);
  }

  /// Resize or move an object of this hold. In place when possible; otherwise a new
  /// object is allocated in the same hold, the first min(old, new) bytes are copied
  /// (the crate's realloc did not copy, memory-model.md §12.1) and the old object is
  /// freed. On failure the old object is untouched.
  SWIM_MEM_NOINLINE SWIM_MEM_API Result<Block> try_reallocate(Block block, Layout layout) const {
    if (block.size != 0 && layout.size != 0) {
      const Result<Block> in_place = hold_resize(block, layout);
      if (in_place) return in_place;
    }
    const Result<Block> fresh = try_allocate(layout);
    if (!fresh) return fresh;
    const std::size_t n = block.size < fresh->size ? block.size : fresh->size;
    // Hold objects are 8-byte aligned and sized in 8-byte granules.
    auto* to = static_cast<std::uint64_t*>(fresh->ptr);
    const auto* from = static_cast<const std::uint64_t*>(block.ptr);
    for (std::size_t i = 0; i < n / 8; ++i) to[i] = from[i];
    const Error e = hold_deallocate(block);
    if (e != Error::none) {
      hold_deallocate(*fresh);
      return e;
    }
    return fresh;
  }

  SWIM_MEM_API Stats stats() const {
    void* control = detail::tag_control(word_);
    switch (kind()) {
      case HoldKind::pack_concurrent: return static_cast<Pack<concurrent>*>(control)->stats();
      case HoldKind::pack_single_owner:
        return static_cast<Pack<single_owner>*>(control)->stats();
      case HoldKind::pool_zero_concurrent:
        return static_cast<detail::PoolCore<concurrent>*>(control)->stats();
      case HoldKind::pool_zero_single_owner:
        return static_cast<detail::PoolCore<single_owner>*>(control)->stats();
      default:
        return Stats{};
    }
  }

 private:
  SWIM_MEM_API explicit HoldRef(std::uint64_t word) : word_(word) {}
  std::uint64_t word_ = 0;
};

}  // namespace swim::mem
