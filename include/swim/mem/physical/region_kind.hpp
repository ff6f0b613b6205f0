// Layer 2 (physical): RegionKind, what a stretch of an allocator's memory is used for.
#pragma once

#include <cstdint>

#include "swim/mem/config/macros.hpp"

namespace swim::mem {

/// What an allocator's walk says a region of its memory is (see physical/region.hpp).
enum class RegionKind : std::uint8_t {
  live,     ///< handed out: objects, blocks or extents that are allocated now
  free,     ///< what the allocator's next allocations can be served from
  control,  ///< the allocator's own records kept in the memory: headers, bitmaps, tags
  unused,   ///< neither: alignment padding, a tail too short for a unit, room that
            ///< no allocation can reach until something else happens (the end of a
            ///< bump hunk that is no longer the one allocations go to)
};

/// Number of RegionKind values (for tables indexed by kind).
inline constexpr unsigned region_kind_count = 4;

/// The kind's name: "live", "free", "control", "unused".
SWIM_MEM_API constexpr const char* to_string(RegionKind k) {
  switch (k) {
    case RegionKind::live:
      return "live";
    case RegionKind::free:
      return "free";
    case RegionKind::control:
      return "control";
    case RegionKind::unused:
      return "unused";
  }
  return "?";
}

}  // namespace swim::mem
