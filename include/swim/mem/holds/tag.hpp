// Layer 5 (holds): the tag, the one word of overhead in front of every memory
// object a hold hands out.
//
// The tag is {control block address | kind}: control blocks are aligned to
// detail::control_align, so the low tag_kind_bits bits name which type in the
// closed list holds/hold_kinds.hpp the control block is. Operations through a tag
// dispatch on the kind (generated from that list), never through a vtable, so a
// tag is as valid in device memory as on the host (the control block must of
// course live in memory the freeing code can reach).
// Freeing exchanges the tag with the freed tag, {same address | HoldKind::freed},
// which is how a double free is told apart from a pointer that never was an
// object (a word of 0, or anything else that is not this hold's tag).
#pragma once

#include <cstdint>

#include "swim/mem/config.hpp"
#include "swim/mem/holds/hold_kinds.hpp"

namespace swim::mem::detail {

inline constexpr std::size_t tag_size = sizeof(std::uint64_t);

SWIM_MEM_API inline std::uint64_t make_tag(const void* control, HoldKind kind) {
  return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(control)) |
         static_cast<std::uint64_t>(kind);
}
/// The tag an object of `control` has once freed.
SWIM_MEM_API inline std::uint64_t freed_tag(const void* control) {
  return make_tag(control, HoldKind::freed);
}
SWIM_MEM_API inline HoldKind tag_kind(std::uint64_t tag) {
  return static_cast<HoldKind>(tag & tag_kind_mask);
}
SWIM_MEM_API inline void* tag_control(std::uint64_t tag) {
  return reinterpret_cast<void*>(static_cast<std::uintptr_t>(tag & ~tag_kind_mask));
}

/// A relative tag, for holds that live with their objects in memory that processes
/// map at different addresses (a Pack<Mode, relative_address>): bits 63..6 hold the
/// signed distance from the object to its control block, bits 5..0 the kind, so the
/// tag names the same control block in every mapping. Which kinds are relative is a
/// property of the control block type (holds/hold.hpp decodes by kind).
SWIM_MEM_API inline std::uint64_t make_relative_tag(const void* control, const void* object,
                                                    HoldKind kind) {
  const std::uint64_t d = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(control) -
                                                     reinterpret_cast<std::uintptr_t>(object));
  return (d << tag_kind_bits) | static_cast<std::uint64_t>(kind);
}
/// The control block a relative tag in front of `object` names.
SWIM_MEM_API inline void* relative_tag_control(std::uint64_t tag, const void* object) {
  const std::int64_t d = static_cast<std::int64_t>(tag) >> tag_kind_bits;  // sign kept
  return reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(object) +
                                 static_cast<std::uintptr_t>(d));
}

/// The tag of an object at `object` whose control block is `control`, for `kind`
/// (HoldKind::freed: its freed tag): relative when Relative (the control block's
/// relative_tags), else `{control | kind}`, the same for every object.
template <bool Relative>
SWIM_MEM_API inline std::uint64_t tag_for(const void* control, const void* object, HoldKind kind) {
  if constexpr (Relative) {
    return make_relative_tag(control, object, kind);
  } else {
    (void)object;
    return make_tag(control, kind);
  }
}
/// The control block a tag in front of `object` names (the inverse of tag_for).
template <bool Relative>
SWIM_MEM_API inline void* control_at(std::uint64_t tag, const void* object) {
  if constexpr (Relative) {
    return relative_tag_control(tag, object);
  } else {
    (void)object;
    return tag_control(tag);
  }
}

/// The shared tag of a hold's zero-size objects, placed so that the object
/// address just past it is 64-byte aligned (zero-size requests may ask for
/// alignment too; larger alignments get a real 8-byte object instead). Being the
/// first member of a control block, it also gives the block its alignment.
struct alignas(64) ZeroTag {
  static constexpr std::size_t max_align = 64;
  std::uint64_t pad_[7];
  std::uint64_t tag;
  SWIM_MEM_API void* object() { return &tag + 1; }
  SWIM_MEM_API const void* object_at() const { return &tag + 1; }
};
static_assert(alignof(ZeroTag) >= control_align);

/// The word in front of `object` read for validation, before anything says it is a
/// tag: it may lie in arena memory that no live object owns (poisoned, see
/// config/poison.hpp), which such a read must not report. Compare the value before
/// acting on the word through tag_of.
SWIM_MEM_API SWIM_MEM_NO_SANITIZE_ADDRESS inline std::uint64_t peek_tag(const void* object) {
#if defined(SWIM_MEM_DETAIL_POISON_ASAN)
  return *(static_cast<const volatile std::uint64_t*>(object) - 1);
#elif defined(SWIM_MEM_DETAIL_POISON_VALGRIND)
  // memcheck has no unchecked read: its reports are switched off around this one.
  VALGRIND_DISABLE_ERROR_REPORTING;
  const std::uint64_t word = *(static_cast<const volatile std::uint64_t*>(object) - 1);
  VALGRIND_ENABLE_ERROR_REPORTING;
  return word;
#else
  return atomic_ref<std::uint64_t>(
             *const_cast<std::uint64_t*>(static_cast<const std::uint64_t*>(object) - 1))
      .load(order::relaxed);
#endif
}

/// The tag word in front of an object.
template <concurrency_mode Mode>
SWIM_MEM_API inline cell<std::uint64_t, Mode>& tag_of(const void* object) {
  return *reinterpret_cast<cell<std::uint64_t, Mode>*>(
      const_cast<std::uint64_t*>(static_cast<const std::uint64_t*>(object) - 1));
}

}  // namespace swim::mem::detail
