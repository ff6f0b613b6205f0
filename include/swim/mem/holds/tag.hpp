// Layer 5 (holds): the tag, the one word of overhead in front of every memory
// object a hold hands out.
//
// The tag is {control block address | kind}: control blocks are at least
// 8-byte aligned, so the low three bits name which of the closed set of hold
// kinds the control block is. Freeing dispatches with a switch on the kind, never
// through a vtable, so a tag is as valid in device memory as on the host (the
// control block must of course live in memory the freeing code can reach).
// Freeing exchanges the tag with 0, which is how a double free is seen.
#pragma once

#include <cstdint>

#include "swim/mem/config.hpp"

namespace swim::mem {

enum class HoldKind : std::uint8_t {
  none = 0,
  pack_concurrent = 1,
  pack_single_owner = 2,
  pool_hunk_concurrent = 3,
  pool_hunk_single_owner = 4,
  pool_zero_concurrent = 5,    // zero-size objects of a Pool
  pool_zero_single_owner = 6,
};

namespace detail {

inline constexpr std::uint64_t tag_kind_mask = 7;
inline constexpr std::size_t tag_size = sizeof(std::uint64_t);

SWIM_MEM_API inline std::uint64_t make_tag(const void* control, HoldKind kind) {
  return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(control)) |
         static_cast<std::uint64_t>(kind);
}
SWIM_MEM_API inline HoldKind tag_kind(std::uint64_t tag) {
  return static_cast<HoldKind>(tag & tag_kind_mask);
}
SWIM_MEM_API inline void* tag_control(std::uint64_t tag) {
  return reinterpret_cast<void*>(static_cast<std::uintptr_t>(tag & ~tag_kind_mask));
}
/// The tag word in front of an object.
/// The shared tag of a hold's zero-size objects, placed so that the object
/// address just past it is 64-byte aligned (zero-size requests may ask for
/// alignment too; larger alignments get a real 8-byte object instead).
struct alignas(64) ZeroTag {
  static constexpr std::size_t max_align = 64;
  std::uint64_t pad_[7];
  std::uint64_t tag;
  SWIM_MEM_API void* object() { return &tag + 1; }
};

template <concurrency_mode Mode>
SWIM_MEM_API inline cell<std::uint64_t, Mode>& tag_of(const void* object) {
  return *reinterpret_cast<cell<std::uint64_t, Mode>*>(
      const_cast<std::uint64_t*>(static_cast<const std::uint64_t*>(object) - 1));
}

}  // namespace detail
}  // namespace swim::mem
