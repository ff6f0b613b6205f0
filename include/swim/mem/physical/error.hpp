// Layer 2 (physical): Error, the one set of error codes of the whole library.
//
// Errors are values. Every operation that can fail returns an Error or a
// Result<T> (physical/result.hpp); nothing in layers 1-7 throws or aborts on bad
// input or exhaustion. The allocators' codes and the shared leases' codes are one
// enum, so an error travels from a hold through a lease to the caller unchanged.
#pragma once

#include <cstdint>

#include "swim/mem/config/macros.hpp"

namespace swim::mem {

enum class Error : std::uint8_t {
  none = 0,
  // ---- Allocation ------------------------------------------------------------------
  out_of_memory,    ///< the allocator (or its source) is exhausted
  oversized,        ///< size arithmetic overflowed, or larger than the allocator can ever serve
  misaligned,       ///< alignment not a power of two, or more than the allocator can guarantee
  invalid_argument, ///< a parameter outside its documented domain (e.g. a region too small)
  double_free,      ///< the block was already freed (its tag says so)
  foreign_pointer,  ///< the block does not belong to this allocator
  contended,        ///< a bounded number of retries was used up; the caller may retry
  unsupported,      ///< the operation is not supported here (e.g. no GPU runtime)
  // ---- Shared leases (leases/arc_lease.hpp) ------------------------------------------
  cleared,              ///< the resident is gone (its last hard reference dropped), or the lease is null
  aliased,              ///< a conflicting borrow exists (a Mut, or a Ref for a Mut)
  relocating,           ///< a relocation of the object is in progress
  hard_count_overflow,  ///< the hard count is at its maximum; nothing changed
  soft_count_overflow,  ///< the soft count is at its maximum; nothing changed
  ref_count_overflow,   ///< the ref count is at its maximum; nothing changed
  // ---- Shipped structures (residents/parcel.hpp) -------------------------------------
  malformed,  ///< bytes that should hold a shipped structure do not (header, size, checksum, contents)
};

/// A short, static description of an error. Valid on host and device.
SWIM_MEM_API constexpr const char* to_string(Error e) {
  switch (e) {
    case Error::none: return "none";
    case Error::out_of_memory: return "out of memory";
    case Error::oversized: return "oversized";
    case Error::misaligned: return "misaligned";
    case Error::invalid_argument: return "invalid argument";
    case Error::double_free: return "double free";
    case Error::foreign_pointer: return "foreign pointer";
    case Error::contended: return "contended";
    case Error::unsupported: return "unsupported";
    case Error::cleared: return "cleared";
    case Error::aliased: return "aliased";
    case Error::relocating: return "relocating";
    case Error::hard_count_overflow: return "hard count overflow";
    case Error::soft_count_overflow: return "soft count overflow";
    case Error::ref_count_overflow: return "ref count overflow";
    case Error::malformed: return "malformed";
  }
  return "unknown";
}

/// Whether waiting and trying again can make the operation succeed: another lease
/// or thread holds what it needs for now (aliased, relocating) or won the races
/// (contended). Every other error stays what it is until the caller changes
/// something. (aliased from an unwrap or copy-on-write means other owners exist:
/// retrying helps only once they let go, never while the caller holds one.)
SWIM_MEM_API constexpr bool is_retryable(Error e) {
  return e == Error::aliased || e == Error::relocating || e == Error::contended;
}

}  // namespace swim::mem
