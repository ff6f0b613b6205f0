// Layer 5 (holds): the one-call form, malloc's shape on swim-mem: try_malloc and
// try_free over a process-wide SizeClasses hold with a cache per thread.
//
//   Result<Block> b = try_malloc(bytes);          // or try_malloc(bytes, align)
//   ... b->ptr, b->size (>= bytes) ...
//   try_free(b->ptr);                             // from any thread
//
// The hold draws its hunks from OS pages (SourceHeap<OsPages>: an empty hunk that
// trim_process_hold() gives back is unmapped). Each thread keeps up to 32 freed
// objects of each size class (state in src/process_hold.cpp): a try_malloc of a
// cached class takes one without touching shared state, a try_free puts one back;
// a full cache hands 16 to the other threads (one CAS; a bounded number wait per
// class, past that they go back to their hunks), an empty one takes 16 handed
// over, else fills 8 from the hold, and a thread's cache goes back when the
// thread exits. Objects freed by another thread than the one that allocated them
// simply enter the freeing thread's cache. Everything here is an object of one hold, so the tag
// works as ever: hold_deallocate, leases (HoldRef process_hold()) and stow.
//
// Host only (thread-local state). Errors are values: exhaustion is
// Error::out_of_memory, a bad alignment Error::misaligned; try_free reports a
// double free it sees (Error::double_free: the tag says freed) and refuses objects
// of other holds (Error::foreign_pointer); a pointer that is not preceded by some
// hold's tag is undefined behaviour, as for hold_deallocate.
#pragma once

#include <cstddef>

#include "swim/mem/holds/hold.hpp"
#include "swim/mem/physical.hpp"

namespace swim::mem {

namespace detail {
// In src/process_hold.cpp. process_malloc returns the block, or {nullptr, the
// Error}: a Block comes back in registers where a Result<Block> would not.
Block process_malloc(std::size_t bytes, std::size_t align) noexcept;
Error process_free(void* p) noexcept;
Error process_free_checked(void* p) noexcept;
}  // namespace detail

/// `bytes` (0 counts as 1) aligned to `align` (a power of two; 16 is what a class
/// object gets anyway; 32 and 64 take a class whose objects all are, from the
/// thread's cache too), from the process-wide hold. Block.size is the capacity.
inline Result<Block> try_malloc(std::size_t bytes, std::size_t align = 16) noexcept {
  const Block b = detail::process_malloc(bytes, align);
  if (b.ptr != nullptr) return b;
  return static_cast<Error>(b.size);
}

/// Free an object of try_malloc. Error::none for a null pointer; double_free for
/// one the tag says is freed; foreign_pointer for an object of another hold (free
/// those with hold_deallocate and their block). A large object (above 32760
/// bytes, or aligned above 64) is unmapped when freed: freeing it again reads
/// unmapped memory, as a double free of malloc's large blocks does.
inline Error try_free(void* p) noexcept { return detail::process_free(p); }

/// try_free for pointers that may be anything: the word in front of `p` is read
/// (it must be readable, as for every validated free), and followed only if it
/// names a hunk in the process hold's registry with `p` at one of its units, or
/// the hold itself; anything else is Error::foreign_pointer. A little slower than
/// try_free (the registry walk); what the adapters that promise validation use.
inline Error try_free_checked(void* p) noexcept { return detail::process_free_checked(p); }

/// The process-wide hold, for leases and residents that should live in it.
HoldRef process_hold() noexcept;

/// Statistics of the process-wide hold. Objects in threads' caches count as live;
/// objects waiting to pass from one thread's cache to another's do not.
/// largest_free is the hold's (SizeClasses::stats), or an object of the largest
/// class that has objects waiting to pass, if that is larger (a try_malloc whose
/// cache is empty takes them). Bounded: the hold's stats and one load per class.
Stats process_hold_stats() noexcept;

/// The occupancy walk of the process-wide hold (SizeClasses::walk, physical/region.hpp):
/// `visit(region, context)` once per region. Needs exclusive use, as
/// trim_process_hold() does: no thread may allocate or free through the process
/// hold meanwhile. Objects in threads' caches and waiting to pass between them
/// read free (their tags say freed), though process_hold_stats() counts the
/// former as live.
void walk_process_hold(void (*visit)(const Region& region, void* context), void* context) noexcept;

/// Give the calling thread's cached objects back to the hold (also done at
/// thread exit).
void flush_thread_cache() noexcept;

/// Give the hold's empty hunks back to the OS. Needs exclusive use: call it only
/// while no other thread allocates or frees through the process hold (each
/// thread's cache is its own and is unaffected).
std::size_t trim_process_hold() noexcept;

}  // namespace swim::mem
