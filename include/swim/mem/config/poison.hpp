// Layer 1 (config): telling memory checkers which bytes of an arena no live object
// owns, debug fill, and the fault-injection point.
//
// To AddressSanitizer and valgrind an arena is one big block that the program
// owns, so a use after free or an overflow into a neighbour inside it goes
// unseen. Every heap and hold therefore calls, on the host:
//   poison(p, n)         when [p, p+n) stops belonging to a live object (freed,
//                        cached by a front, never handed out yet);
//   unpoison(p, n)       when it is handed out (valgrind: contents undefined);
//   unpoison_meta(p, n)  around its own bookkeeping inside free memory (a free
//                        list's link word, a freed object's tag): accessible and
//                        defined.
// ASan shadows memory in 8-byte granules: poison() rounds inwards and unpoison()
// outwards to granule bounds, so a block that shares a granule with a live
// neighbour never poisons that neighbour (a missed report at the edge, never a
// false one), and concurrent calls on distinct blocks only ever clear a shared
// granule, never race to set it. With neither checker the calls compile to
// nothing; in device code they are always nothing.
//
// Valgrind's client requests are compiled in when SWIM_MEM_VALGRIND is 1 (they
// cost a few instructions when the program does not run under valgrind).
//
// Debug fill: when SWIM_MEM_DEBUG_FILL is 1 (the default in checked builds,
// SWIM_MEM_CHECKED), fill_fresh() writes fresh_byte over memory as it is handed out
// and fill_freed() writes freed_byte over memory as it is freed, so code that
// reads memory it never wrote, or reads after a free, sees a recognisable pattern
// rather than plausible old data (the first fill_limit bytes of each). Objects are filled (the holds, and Slab units);
// the extents and buddy blocks of ExtentHeap and AddrSpace are not (they may be
// large, and their pages are committed only as they are used). A free fills only
// where it can no longer fail (single-owner modes and per-thread caches), since a
// failed free must leave the object as it was.
//
// Fault injection: when SWIM_MEM_FAULT_INJECTION is defined (tests only), every
// heap and hold asks fault_point() before it allocates, and answers
// Error::out_of_memory, changing nothing, when it returns true. The program
// defines `bool swim_mem_fault_point() noexcept` (host code; device code never
// fails this way). Every translation unit of that program must be built with the
// macro, since it changes inline functions.
#pragma once

#include <cstddef>
#include <cstdint>

#include "swim/mem/config/macros.hpp"

#if defined(SWIM_MEM_ASAN) && !defined(SWIM_MEM_COMPILER_CUDA) && !defined(SWIM_MEM_COMPILER_HIP)
#include <sanitizer/asan_interface.h>
#define SWIM_MEM_DETAIL_POISON_ASAN 1
#endif

#ifndef SWIM_MEM_VALGRIND
#define SWIM_MEM_VALGRIND 0
#endif
#if SWIM_MEM_VALGRIND && !defined(SWIM_MEM_COMPILER_CUDA) && !defined(SWIM_MEM_COMPILER_HIP)
#include <valgrind/memcheck.h>
#define SWIM_MEM_DETAIL_POISON_VALGRIND 1
#endif

#ifndef SWIM_MEM_DEBUG_FILL
#define SWIM_MEM_DEBUG_FILL SWIM_MEM_CHECKED
#endif

// Reads that may meet poisoned memory on purpose: a lock-free pop reading the link
// of a unit another thread has just taken (and an upper layer may have poisoned),
// or a checked free reading the word in front of a pointer that may be foreign.
#if defined(SWIM_MEM_DETAIL_POISON_ASAN)
#define SWIM_MEM_NO_SANITIZE_ADDRESS __attribute__((no_sanitize("address")))
#else
#define SWIM_MEM_NO_SANITIZE_ADDRESS
#endif

#if defined(SWIM_MEM_FAULT_INJECTION)
extern "C" bool swim_mem_fault_point() noexcept;
#endif

namespace swim::mem::detail {

inline constexpr unsigned char fresh_byte = 0xA5;
inline constexpr unsigned char freed_byte = 0xDD;
/// Debug fill covers at most the first fill_limit bytes of an object: a pattern at the
/// start is what a reader meets first, and filling a large object whole would commit
/// pages the program may never touch (a Pack of 4 GiB, a large SizeClasses block).
inline constexpr std::size_t fill_limit = 4096;

/// True when a checker is watching arena memory in this build.
inline constexpr bool poisoning =
#if defined(SWIM_MEM_DETAIL_POISON_ASAN) || defined(SWIM_MEM_DETAIL_POISON_VALGRIND)
    true;
#else
    false;
#endif

inline constexpr std::uintptr_t poison_granule = 8;

/// What a checker is told about a range (see the file comment).
enum class Marking { noaccess, undefined, defined };

/// Tell the checkers in this build that [p, p + n), rounded to granules (inwards for
/// noaccess, outwards otherwise), is now `m`. The checkers exist only for plain host
/// compilers (see the #if above), so there is no host/device split: under nvcc and
/// hipcc, and without a checker, this is empty.
SWIM_MEM_API SWIM_MEM_FORCEINLINE void mark(const void* p, std::size_t n, Marking m) {
#if defined(SWIM_MEM_DETAIL_POISON_ASAN) || defined(SWIM_MEM_DETAIL_POISON_VALGRIND)
  if (p == nullptr || n == 0) return;
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  constexpr std::uintptr_t g = poison_granule - 1;
  const bool inwards = m == Marking::noaccess;
  const std::uintptr_t lo = inwards ? (a + g) & ~g : a & ~g;
  const std::uintptr_t hi = inwards ? (a + n) & ~g : (a + n + g) & ~g;
  if (hi <= lo) return;
#if defined(SWIM_MEM_DETAIL_POISON_ASAN)
  if (inwards) {
    __asan_poison_memory_region(reinterpret_cast<const void*>(lo), hi - lo);
  } else {
    __asan_unpoison_memory_region(reinterpret_cast<const void*>(lo), hi - lo);
  }
#endif
#if defined(SWIM_MEM_DETAIL_POISON_VALGRIND)
  if (m == Marking::noaccess) (void)VALGRIND_MAKE_MEM_NOACCESS(lo, hi - lo);
  if (m == Marking::undefined) (void)VALGRIND_MAKE_MEM_UNDEFINED(lo, hi - lo);
  if (m == Marking::defined) (void)VALGRIND_MAKE_MEM_DEFINED(lo, hi - lo);
#endif
#else
  (void)p;
  (void)n;
  (void)m;
#endif
}

SWIM_MEM_API SWIM_MEM_FORCEINLINE void poison(const void* p, std::size_t n) {
  mark(p, n, Marking::noaccess);
}
SWIM_MEM_API SWIM_MEM_FORCEINLINE void unpoison(const void* p, std::size_t n) {
  mark(p, n, Marking::undefined);
}
SWIM_MEM_API SWIM_MEM_FORCEINLINE void unpoison_meta(const void* p, std::size_t n) {
  mark(p, n, Marking::defined);
}

/// memset, out of line: inlined at a call whose pointer GCC cannot prove valid (a
/// free that validation refuses first, on a path it does not follow), -O1's
/// -Warray-bounds reports a write that never runs.
SWIM_MEM_NOINLINE inline void fill_bytes(void* p, unsigned char byte, std::size_t n) {
  __builtin_memset(p, byte, n);
}

/// Debug fill of memory being handed out (checked builds, host code; see the file comment).
SWIM_MEM_API SWIM_MEM_FORCEINLINE void fill_fresh(void* p, std::size_t n) {
#if SWIM_MEM_DEBUG_FILL
  SWIM_MEM_IF_TARGET((if (p != nullptr) fill_bytes(p, fresh_byte, n < fill_limit ? n : fill_limit);), ((void)p; (void)n;))
#else
  (void)p;
  (void)n;
#endif
}

/// Debug fill of memory being freed (checked builds, host code; see the file comment).
SWIM_MEM_API SWIM_MEM_FORCEINLINE void fill_freed(void* p, std::size_t n) {
#if SWIM_MEM_DEBUG_FILL
  SWIM_MEM_IF_TARGET((if (p != nullptr) fill_bytes(p, freed_byte, n < fill_limit ? n : fill_limit);), ((void)p; (void)n;))
#else
  (void)p;
  (void)n;
#endif
}

/// True when the fault-injection hook asks this allocation to fail.
SWIM_MEM_API SWIM_MEM_FORCEINLINE bool fault_point() {
#if defined(SWIM_MEM_FAULT_INJECTION)
  bool fail = false;
  SWIM_MEM_IF_TARGET((fail = swim_mem_fault_point();), (fail = false;))
  return fail;
#else
  return false;
#endif
}

}  // namespace swim::mem::detail
