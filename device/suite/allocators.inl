// The device suite, allocators: the pieces that slab.inl, pack.inl, pool.inl and
// addr_space.inl share. Checks nothing itself.
//
// Every allocator there is built in device memory by placement new in a kernel and
// destroyed in one: they are not copyable, and their control blocks hold pointers
// into device memory, so a host-built copy would be wrong. A concurrent allocator is
// then driven by every thread of the grid; a single_owner one by thread 0 of block 0
// only (the other threads of that launch return at once). Each phase is a separate
// launch, so what one kernel wrote is visible to the next (kernel boundaries order
// them); overlaps between threads are looked for by content in a later launch, by
// address on the host, and for Slab by a per-unit owner word claimed with a CAS.

//
// Here: HeapInfo and the kernels that build (heap_init, pack_init, pool_init), read
// (stats_kernel, read_stats) and destroy (destroy_kernel) an allocator in device
// memory; the bounded retries (allocate_bounded, free_bounded and their bounds);
// stamps and their checks on words and pages; partner() (whose blocks a thread
// frees); the bytes a Slab or an AddrSpace needs (slab_bytes, addr_space_bytes);
// SWIM_MEM_GPU_STEP (kernels.inl undefines it at its end).
#pragma once

#include <cstddef>
#include <new>

#include "common.inl"
#include "swim/mem/heaps/addr_space.hpp"
#include "swim/mem/heaps/slab.hpp"
#include "swim/mem/holds/pack.hpp"

namespace swim::mem::device_suite {

/// Outer bound on retrying an operation that gave Error::contended (each try is itself
/// bounded by the allocator), or, where a phase asks for it, a transient out_of_memory
/// (an AddrSpace may report one while another thread is splitting the block that
/// would serve it; a Pool passes its upstream's through). Generous on purpose: an
/// AddrSpace serves a burst of 33k threads nearly one claim at a time (few free blocks
/// are visible at once), so a thread may wait for tens of milliseconds, and a failed
/// try can return within a microsecond.
inline constexpr unsigned kRetries = 1u << 16;
inline constexpr unsigned kOk = static_cast<unsigned>(Error::none);

/// What a heap or hold reports about itself after construction.
struct HeapInfo {
  unsigned error;  ///< init_error()
  unsigned pad;
  u64 count;       ///< Slab: units; AddrSpace: pages; Pack: 0
  u64 capacity;    ///< bytes allocatable when nothing is live
  u64 max_block;   ///< Slab: the unit; AddrSpace: max_block(); Pack: capacity
  u64 align;       ///< Slab: alignment(); AddrSpace: max_align(); Pack: 8
};

template <concurrency_mode M, bool C>
SWIM_MEM_DEVICE void fill_info(const Slab<M, C>& s, HeapInfo& info) {
  info = HeapInfo{static_cast<unsigned>(s.init_error()), 0, s.block_count(),
                  s.block_count() * s.unit(), s.unit(), s.alignment()};
}
template <concurrency_mode M, bool C>
SWIM_MEM_DEVICE void fill_info(const AddrSpace<M, C>& a, HeapInfo& info) {
  info = HeapInfo{static_cast<unsigned>(a.init_error()), 0, a.capacity() / a.page_size(),
                  a.capacity(), a.max_block(), a.max_align()};
}
template <concurrency_mode M>
SWIM_MEM_DEVICE void fill_info(const Pack<M>& p, HeapInfo& info) {
  info = HeapInfo{static_cast<unsigned>(p.init_error()), 0, 0, p.capacity(), p.capacity(), 8};
}

/// Build a heap (Slab: unit bytes; AddrSpace: page bytes) in device memory.
template <class A>
__global__ void heap_init(A* at, Block region, std::size_t unit, HeapInfo* info) {
  if (global_id() != 0) return;
  const A* a = ::new (static_cast<void*>(at)) A(region, unit);
  fill_info(*a, *info);
}

template <class P>
__global__ void pack_init(P* at, Block region, HeapInfo* info) {
  if (global_id() != 0) return;
  const P* p = ::new (static_cast<void*>(at)) P(region);
  fill_info(*p, *info);
}

/// The Pool's control block and its upstream both live in device memory: the tags of
/// its objects point at hunk headers, which point back at the Pool.
template <class P, class H>
__global__ void pool_init(P* at, H* upstream, std::size_t hunk) {
  if (global_id() == 0) ::new (static_cast<void*>(at)) P(*upstream, hunk);
}

template <class A>
__global__ void destroy_kernel(A* a) {
  if (global_id() == 0) a->~A();
}

template <class A>
__global__ void stats_kernel(const A* a, Stats* out) {
  if (global_id() == 0) *out = a->stats();
}

/// How often an out_of_memory is retried: never (exact heaps, or exhaustion wanted),
/// a little (a short heap: let transient failures pass, keep the real ones quick),
/// or as often as contention (room for everyone: every failure is transient).
inline constexpr unsigned kNoOomRetry = 0;
inline constexpr unsigned kSomeOomRetries = 1u << 10;
inline constexpr unsigned kOomRetries = kRetries;

/// try_allocate, retried (boundedly) while it reports contended, and at most
/// `oom_retries` times while it reports out_of_memory. `tries` receives the number of
/// retries used.
template <class A>
SWIM_MEM_DEVICE Result<Block> allocate_bounded(A& a, Layout layout, unsigned oom_retries,
                                               unsigned& tries) {
  Result<Block> r = Error::contended;
  unsigned ooms = 0;
  for (tries = 0; tries < kRetries; ++tries) {
    r = a.try_allocate(layout);
    if (r.error() == Error::contended) continue;
    if (r.error() == Error::out_of_memory && ooms++ < oom_retries) continue;
    break;
  }
  return r;
}

/// A free, retried (boundedly) while it reports contended; a contended free leaves
/// the allocator unchanged, so retrying it is safe.
template <class Release>
SWIM_MEM_DEVICE Error free_bounded(Release release) {
  Error e = Error::contended;
  for (unsigned t = 0; t < kRetries && e == Error::contended; ++t) e = release();
  return e;
}

SWIM_MEM_DEVICE inline void record(Grant& g, const Result<Block>& r, unsigned tries) {
  g = Grant{r.ok() ? *r : Block{}, static_cast<unsigned>(r.error()), tries};
}

/// A word that names (owner, j): (owner << 8 | j) + 1 times an odd constant, so
/// distinct names give distinct words (a bijection mod 2^64), and never 0 (the
/// value of untouched, zero-filled memory).
SWIM_MEM_API inline u64 stamp(u64 owner, u64 j) {
  return (((owner << 8) | (j & 0xFF)) + 1) * 0x9e3779b97f4a7c15ull;
}

/// Fill / check every word of a block (sizes and addresses are multiples of 8).
SWIM_MEM_DEVICE inline void fill_words(Block b, u64 v) {
  u64* w = static_cast<u64*>(b.ptr);
  for (std::size_t q = 0; q < b.size / 8; ++q) w[q] = v ^ q;
}
SWIM_MEM_DEVICE inline bool words_intact(Block b, u64 v) {
  const u64* w = static_cast<const u64*>(b.ptr);
  bool ok = true;
  for (std::size_t q = 0; q < b.size / 8; ++q) ok = ok && w[q] == (v ^ q);
  return ok;
}

/// Page blocks are large: mark the first and last word of every page (two blocks
/// that overlap share at least one whole page).
SWIM_MEM_DEVICE inline void fill_pages(Block b, std::size_t page, u64 v) {
  for (std::size_t q = 0; q < b.size / page; ++q) {
    u64* w = reinterpret_cast<u64*>(b.begin() + q * page);
    w[0] = v ^ q;
    w[page / 8 - 1] = ~(v ^ q);
  }
}
SWIM_MEM_DEVICE inline bool pages_intact(Block b, std::size_t page, u64 v) {
  bool ok = true;
  for (std::size_t q = 0; q < b.size / page; ++q) {
    const u64* w = reinterpret_cast<const u64*>(b.begin() + q * page);
    ok = ok && w[0] == (v ^ q) && w[page / 8 - 1] == ~(v ^ q);
  }
  return ok;
}

/// The thread whose blocks thread t frees: itself for even t; for odd t, the odd
/// threads in reverse order (a bijection), so half the frees are of blocks another
/// thread, usually in another block of the grid, allocated.
SWIM_MEM_API inline u64 partner(u64 t, u64 n) {
  if (t % 2 == 0) return t;
  const u64 odd = n / 2;  // the odd ids below n: 1, 3, ..., 2 * odd - 1
  return 2 * (odd - 1 - (t - 1) / 2) + 1;
}

SWIM_MEM_API inline std::size_t round8(std::size_t n) { return (n + 7) & ~std::size_t(7); }

SWIM_MEM_API inline std::size_t pow2_at_least(std::size_t x) {
  std::size_t p = 1;
  for (unsigned k = 0; k < 63 && p < x; ++k) p <<= 1;
  return p;
}

/// Count an out_of_memory (tolerated where capacity is short on purpose), flag
/// anything else.
SWIM_MEM_DEVICE inline void count_failure(Error e, u64* exhausted, u64* failures) {
  check(e == Error::out_of_memory, failures);
  if (e == Error::out_of_memory) atomic_ref<u64>(*exhausted).fetch_add(1, order::relaxed);
}

// A host step that returns a status: pass a runtime failure on. (Variadic: template
// arguments contain commas.)
#define SWIM_MEM_GPU_STEP(...)                                      \
  do {                                                              \
    const int swim_mem_gpu_s_ = (__VA_ARGS__);                      \
    if (swim_mem_gpu_s_ != SWIM_MEM_GPU_OK) return swim_mem_gpu_s_; \
  } while (0)

/// Host: the statistics of an allocator in device memory.
template <class A>
int read_stats(const A* a, DeviceArray<Stats>& buffer, Stats& out) {
  stats_kernel<A><<<1, 1>>>(a, buffer.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(buffer.to_host(out));
  return SWIM_MEM_GPU_OK;
}

/// Bytes a Slab needs for `units` units of `unit` bytes, and no more (a checked
/// Slab of more than 64 units carves its bitmap from the front; up to `unit` - 1
/// bytes go to aligning the first unit).
inline std::size_t slab_bytes(u64 units, std::size_t unit) {
  const std::size_t bitmap = units > 64 ? static_cast<std::size_t>((units + 63) / 64) * 8 : 0;
  return static_cast<std::size_t>(units) * unit + bitmap + unit - 1;
}

/// Bytes for an AddrSpace of `pages` pages: its in-band metadata (order table,
/// bitmaps, one tag per page) is far below 64 bytes per page, plus one page of slack
/// for aligning the base.
inline std::size_t addr_space_bytes(u64 pages, std::size_t page) {
  return static_cast<std::size_t>(pages + 1) * page + static_cast<std::size_t>(pages) * 64 + 65536;
}

}  // namespace swim::mem::device_suite
