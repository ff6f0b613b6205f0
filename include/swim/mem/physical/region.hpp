// Layer 2 (physical): Region, one stretch of an allocator's memory as its walk
// reports it.
//
// The walk contract. Every heap and hold has
//   template <class F> void walk(F&& f) const
// which calls f(const Region&) once per region of the memory it holds. The memory
// comes in *ranges* (a heap's region, a hunk of a hold, a range of an arena, a
// records block kept apart from its range), each named by its first byte, `base`.
// Within a range the regions come in address order and tile it: the first has
// offset 0, each starts where the one before ended, and together they cover the
// range exactly once. Ranges come one after another, in the order the allocator
// keeps them (not necessarily by address); each allocator's walk says which
// ranges it has and how finely it can tell its regions apart.
//
// Quiescent only: no allocation or free of that allocator may run during a walk
// (it reads records that those operations change, without their synchronisation).
// The walk never writes, and reads only the allocator's own records (never the
// bytes of what is handed out or free).
#pragma once

#include <cstddef>
#include <cstdint>

#include "swim/mem/config/macros.hpp"
#include "swim/mem/physical/region_kind.hpp"

namespace swim::mem {

/// One region of an allocator's memory (see the walk contract above).
struct Region {
  const void* base = nullptr;  ///< the first byte of the range this region lies in
  std::size_t offset = 0;      ///< where the region starts, in bytes from base
  std::size_t size = 0;        ///< its bytes (never 0)
  RegionKind kind = RegionKind::unused;

  /// The address of the region's first byte.
  SWIM_MEM_API std::uintptr_t address() const {
    return reinterpret_cast<std::uintptr_t>(base) + offset;
  }
};

namespace detail {

/// Tiles one range for a walk (the contract above): emit(to, kind) reports the
/// bytes from where the last region ended up to `to` as one region of `kind`
/// (nothing when there are none) and moves on, so that the regions a walk emits
/// start at offset 0 and follow each other.
template <class F>
class RangeTiler {
 public:
  SWIM_MEM_API RangeTiler(const void* base, F& f)
      : base_(base), start_(reinterpret_cast<std::uintptr_t>(base)), at_(start_), f_(f) {}

  SWIM_MEM_EXEC_CHECK_DISABLE
  SWIM_MEM_API void emit(std::uintptr_t to, RegionKind kind) {
    if (to > at_) {
      f_(Region{base_, static_cast<std::size_t>(at_ - start_), static_cast<std::size_t>(to - at_),
                kind});
    }
    at_ = to;
  }
  /// Where the next region starts.
  SWIM_MEM_API std::uintptr_t at() const { return at_; }

 private:
  const void* base_;
  std::uintptr_t start_;
  std::uintptr_t at_;
  F& f_;
};

}  // namespace detail
}  // namespace swim::mem
