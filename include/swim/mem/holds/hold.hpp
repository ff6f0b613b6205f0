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
SWIM_MEM_API inline Error hold_deallocate(Block block) {
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
SWIM_MEM_API inline Result<Block> hold_resize(Block block, Layout layout) {
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

}  // namespace swim::mem
