// The device suite: kernels and their host launchers, written once for CUDA and HIP.
//
// Included by kernels.cu (nvcc) and kernels.hip (clang HIP), never compiled on its
// own. Before including it, the translation unit defines
//   SWIM_MEM_LAUNCHER(name)   the C name of a launcher (see launchers.hpp), and
//   namespace swim_mem_gpu    a thin runtime shim: error_t, success, allocate,
//                             release, to_host, to_device, zero, synchronize,
//                             launch_error, device_count, describe.
// Kernels use only what both languages share: __global__, <<<blocks, threads>>>,
// blockIdx/blockDim/threadIdx, and swim-mem's own portable headers.
//
// Adding an allocator kernel: write the kernels and a launcher here, declare the
// launcher in launchers.hpp, and call it from gpu_tests.cpp and hip_runner.cpp.
//
// No gtest here: clang-15 crashes compiling <gtest/gtest.h> as C++20 HIP.

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#include "launchers.hpp"
#include "swim/mem/config.hpp"
#include "swim/mem/heaps/addr_space.hpp"
#include "swim/mem/heaps/slab.hpp"
#include "swim/mem/holds/hold.hpp"
#include "swim/mem/holds/pack.hpp"
#include "swim/mem/holds/pool.hpp"
#include "swim/mem/physical.hpp"
#include "swim/mem/sources/static_region.hpp"

namespace swim::mem::device_suite {

using u64 = unsigned long long;

// ---- Shared helpers ------------------------------------------------------------------------

SWIM_MEM_DEVICE inline u64 global_id() {
  return static_cast<u64>(blockIdx.x) * blockDim.x + threadIdx.x;
}

/// Count a failed check (device side).
SWIM_MEM_DEVICE inline void check(bool ok, u64* failures) {
  if (!ok) atomic_ref<u64>(*failures).fetch_add(1, order::relaxed);
}

// Host only; the launchers are not meant to be called from several threads at once.
inline const char* g_last_error = "";

/// Record a runtime failure for last_error() and turn it into a status.
inline int runtime_failure(swim_mem_gpu::error_t e, const char* what) {
  g_last_error = what;
  (void)e;
  return SWIM_MEM_GPU_RUNTIME;
}

#define SWIM_MEM_GPU_TRY(call)                                                  \
  do {                                                                          \
    const swim_mem_gpu::error_t swim_mem_gpu_e_ = (call);                       \
    if (swim_mem_gpu_e_ != swim_mem_gpu::success) {                             \
      return ::swim::mem::device_suite::runtime_failure(                        \
          swim_mem_gpu_e_, swim_mem_gpu::describe(swim_mem_gpu_e_));            \
    }                                                                           \
  } while (0)

// A kernel launch: its own error, then the kernel's (a fault surfaces at sync).
#define SWIM_MEM_GPU_LAUNCHED()                    \
  do {                                             \
    SWIM_MEM_GPU_TRY(swim_mem_gpu::launch_error()); \
    SWIM_MEM_GPU_TRY(swim_mem_gpu::synchronize());  \
  } while (0)

/// Device memory for n T's, freed on scope exit.
template <class T>
class DeviceArray {
 public:
  explicit DeviceArray(std::size_t n) : n_(n) {
    status_ = swim_mem_gpu::allocate(reinterpret_cast<void**>(&p_), n == 0 ? 1 : n * sizeof(T));
    if (status_ == swim_mem_gpu::success) status_ = swim_mem_gpu::zero(p_, n * sizeof(T));
  }
  ~DeviceArray() {
    if (p_ != nullptr) (void)swim_mem_gpu::release(p_);
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  swim_mem_gpu::error_t status() const { return status_; }
  T* get() const { return p_; }
  std::size_t bytes() const { return n_ * sizeof(T); }
  swim_mem_gpu::error_t to_host(std::vector<T>& out) const {
    out.resize(n_);
    return swim_mem_gpu::to_host(out.data(), p_, bytes());
  }
  swim_mem_gpu::error_t to_host(T& out) const { return swim_mem_gpu::to_host(&out, p_, sizeof(T)); }
  swim_mem_gpu::error_t to_device(const T& in) { return swim_mem_gpu::to_device(p_, &in, sizeof(T)); }

 private:
  T* p_ = nullptr;
  std::size_t n_;
  swim_mem_gpu::error_t status_ = swim_mem_gpu::success;
};

inline int failures_status(u64 failures) {
  return failures > static_cast<u64>(INT_MAX) ? INT_MAX : static_cast<int>(failures);
}

inline int no_device_or_zero() {
  int n = 0;
  if (swim_mem_gpu::device_count(&n) != swim_mem_gpu::success || n == 0) {
    g_last_error = "no device";
    return SWIM_MEM_GPU_NO_DEVICE;
  }
  return SWIM_MEM_GPU_OK;
}

// ---- Layout --------------------------------------------------------------------------------

SWIM_MEM_API inline u64 mix(u64 h, u64 v) {
  return h ^ (v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2));
}

SWIM_MEM_API inline u64 fold(u64 h, const Result<Layout>& r) {
  h = mix(h, static_cast<u64>(r.error()));
  return r ? mix(mix(h, r->size), r->align) : h;
}
SWIM_MEM_API inline u64 fold(u64 h, const Result<Extended>& r) {
  h = mix(h, static_cast<u64>(r.error()));
  return r ? mix(mix(mix(h, r->layout.size), r->layout.align), r->offset) : h;
}
SWIM_MEM_API inline u64 fold(u64 h, const Result<Repeated>& r) {
  h = mix(h, static_cast<u64>(r.error()));
  return r ? mix(mix(mix(h, r->layout.size), r->layout.align), r->stride) : h;
}

/// Every Layout operation on inputs derived from i, folded into one number. The
/// same function runs on the host, so any host/device divergence shows.
SWIM_MEM_API inline u64 layout_digest(u64 i) {
  constexpr std::size_t kMax = ~std::size_t(0);
  const std::size_t size = static_cast<std::size_t>((i * 2654435761ull) % 100000ull);
  const std::size_t align = std::size_t(1) << (i % 33);  // up to 2^32: past max_align
  const std::size_t near_max = kMax - static_cast<std::size_t>(i % 200);
  u64 h = i;
  const Result<Layout> l = Layout::from_size_align(size, align);
  h = fold(h, l);
  h = fold(h, Layout::from_size_align(near_max, std::size_t(1) << (i % 9)));
  h = fold(h, Layout::array<double>(kMax / (1 + i % 16)));
  h = fold(h, Layout::array<std::uint16_t>(static_cast<std::size_t>(i * 977)));
  if (l) {
    h = fold(h, l->padded());
    h = fold(h, l->extend(Layout{size % 97, std::size_t(1) << (i % 7)}));
    h = fold(h, l->extend(Layout{near_max, 1}));
    h = fold(h, l->repeat(static_cast<std::size_t>(i % 1000)));
    h = fold(h, l->repeat(kMax / (1 + i % 5)));
    h = fold(h, l->aligned_to(std::size_t(1) << ((i + 3) % 40)));
  }
  return h;
}

__global__ void layout_kernel(u64* digests, u64 n, u64* failures) {
  const u64 i = global_id();
  if (i >= n) return;
  digests[i] = layout_digest(i);

  // The documented error codes, on the device.
  const std::size_t kMax = ~std::size_t(0);
  const std::size_t align = std::size_t(1) << (i % 32);
  check(Layout::from_size_align(i, align).ok(), failures);
  check(Layout::from_size_align(i, align)->align == align, failures);
  check(Layout::from_size_align(8, 3 + 2 * (i % 50)).error() == Error::misaligned, failures);
  check(Layout::from_size_align(8, 0).error() == Error::misaligned, failures);
  check(Layout::from_size_align(kMax - i % (align == 1 ? 1 : align - 1), align).error() ==
            (align == 1 ? Error::none : Error::oversized),
        failures);
  check(Layout::array<u64>(kMax / 8 + 1 + i).error() == Error::oversized, failures);
  check(Layout{kMax, 1}.extend(Layout{1, 2}).error() == Error::oversized, failures);
  check(Layout{8, 8}.repeat(kMax / 8 + 1).error() == Error::oversized, failures);
  const Result<Extended> e = Layout{i % 13, 1}.extend(Layout{8, 8});
  check(e.ok() && e->offset == ((i % 13) + 7) / 8 * 8 && e->layout.align == 8, failures);
}

}  // namespace swim::mem::device_suite

extern "C" int SWIM_MEM_LAUNCHER(device_count)(void) {
  int n = 0;  // left unwritten when the call fails
  const swim_mem_gpu::error_t e = swim_mem_gpu::device_count(&n);
  if (e != swim_mem_gpu::success) return -static_cast<int>(e);
  return n;
}

extern "C" const char* SWIM_MEM_LAUNCHER(last_error)(void) {
  return swim::mem::device_suite::g_last_error;
}

extern "C" int SWIM_MEM_LAUNCHER(check_layout)(unsigned blocks, unsigned threads) {
  using namespace swim::mem::device_suite;
  if (const int s = no_device_or_zero(); s != SWIM_MEM_GPU_OK) return s;
  const u64 n = static_cast<u64>(blocks) * threads;
  DeviceArray<u64> digests(n);
  DeviceArray<u64> failures(1);
  SWIM_MEM_GPU_TRY(digests.status());
  SWIM_MEM_GPU_TRY(failures.status());
  layout_kernel<<<blocks, threads>>>(digests.get(), n, failures.get());
  SWIM_MEM_GPU_LAUNCHED();

  std::vector<u64> got;
  u64 failed = 0;
  SWIM_MEM_GPU_TRY(digests.to_host(got));
  SWIM_MEM_GPU_TRY(failures.to_host(failed));
  for (u64 i = 0; i < n; ++i) {
    if (got[i] != layout_digest(i)) ++failed;
  }
  return failures_status(failed);
}

// ---- atomic_ref and cell -------------------------------------------------------------------

namespace swim::mem::device_suite {

struct AtomicState {
  u64 sum;                       // atomic_ref fetch_add(1) per iteration
  cell<u64, concurrent> sum64;   // cell fetch_add(2) per iteration
  cell<unsigned, concurrent> sum32;  // cell<u32> fetch_add(1) per iteration
  unsigned pad;
  u64 down;                      // fetch_sub(1) per iteration from threads*iterations
  u64 cas_sum;                   // bounded CAS increment per iteration
  u64 cas_gave_up;               // bounded CAS loops that ran out
  u64 bits;                      // fetch_or(1 << (id % 64))
  u64 mask;                      // fetch_and(~(1 << (id % 64))) from all ones
  u64 swapped;                   // exchange(id + 1)
  u64 swapped_out;               // sum of the values exchange returned
  cell<u64, concurrent> peak;    // raise_to(id)
};

__global__ void atomics_kernel(AtomicState* s, u64 n, unsigned iterations, u64* failures) {
  const u64 id = global_id();
  if (id >= n) return;
  const atomic_ref<u64> sum(s->sum), down(s->down), cas_sum(s->cas_sum), bits(s->bits),
      mask(s->mask), swapped(s->swapped), swapped_out(s->swapped_out), gave_up(s->cas_gave_up);
  for (unsigned k = 0; k < iterations; ++k) {
    sum.fetch_add(1, order::relaxed);
    s->sum64.fetch_add(2, order::relaxed);
    s->sum32.fetch_add(1u, order::relaxed);
    down.fetch_sub(1, order::acq_rel);
    bool done = false;
    u64 cur = cas_sum.load(order::relaxed);
    for (unsigned attempt = 0; attempt < (1u << 20) && !done; ++attempt) {
      done = cas_sum.compare_exchange(cur, cur + 1, order::acq_rel);
    }
    if (!done) gave_up.fetch_add(1, order::relaxed);
  }
  bits.fetch_or(u64(1) << (id % 64), order::release);
  mask.fetch_and(~(u64(1) << (id % 64)), order::acq_rel);
  swapped_out.fetch_add(swapped.exchange(id + 1, order::acq_rel), order::relaxed);
  raise_to(s->peak, id);

  // single_owner: plain loads and stores, same results.
  cell<u64, single_owner> own{id};
  check(own.fetch_add(5) == id && own.load() == id + 5, failures);
  u64 expected = id;
  check(!own.compare_exchange(expected, 1) && expected == id + 5, failures);
  check(own.compare_exchange(expected, 7) && own.exchange(9) == 7, failures);
  check(own.fetch_or(6) == 9 && own.fetch_and(3) == 15 && own.fetch_sub(3) == 3, failures);
  check(own.load() == 0, failures);
}

}  // namespace swim::mem::device_suite

extern "C" int SWIM_MEM_LAUNCHER(check_atomics)(unsigned blocks, unsigned threads,
                                                unsigned iterations) {
  using namespace swim::mem::device_suite;
  if (const int s = no_device_or_zero(); s != SWIM_MEM_GPU_OK) return s;
  const u64 n = static_cast<u64>(blocks) * threads;
  const u64 total = n * iterations;
  AtomicState init{};
  init.down = total;
  init.mask = ~u64(0);
  DeviceArray<AtomicState> state(1);
  DeviceArray<u64> failures(1);
  SWIM_MEM_GPU_TRY(state.status());
  SWIM_MEM_GPU_TRY(failures.status());
  SWIM_MEM_GPU_TRY(state.to_device(init));
  atomics_kernel<<<blocks, threads>>>(state.get(), n, iterations, failures.get());
  SWIM_MEM_GPU_LAUNCHED();

  AtomicState s{};
  u64 failed = 0;
  SWIM_MEM_GPU_TRY(state.to_host(s));
  SWIM_MEM_GPU_TRY(failures.to_host(failed));
  const u64 lanes = n < 64 ? n : 64;
  const u64 lane_bits = lanes == 64 ? ~u64(0) : (u64(1) << lanes) - 1;
  failed += s.sum != total;
  failed += s.sum64.raw != 2 * total;
  failed += s.sum32.raw != static_cast<unsigned>(total);
  failed += s.down != 0;
  failed += s.cas_sum + s.cas_gave_up != total;
  failed += s.cas_gave_up != 0;  // 2^20 attempts each: giving up means livelock
  failed += s.bits != lane_bits;
  failed += s.mask != ~lane_bits;
  // Every id + 1 went in once and came out once (or is still there).
  failed += s.swapped_out + s.swapped != n * (n + 1) / 2;
  failed += n != 0 && s.peak.raw != n - 1;
  return failures_status(failed);
}

// ---- StaticRegion --------------------------------------------------------------------------

namespace swim::mem::device_suite {

using DeviceRegion = StaticRegion<RegionAccess::device>;

/// What one thread got.
struct Grant {
  Block block;
  unsigned error;
  unsigned attempts;
};

SWIM_MEM_API inline std::size_t request_size(u64 i) { return 1 + static_cast<std::size_t>((i * 37) % 64); }
SWIM_MEM_API inline std::size_t request_align(u64 i) { return std::size_t(1) << (i % 8); }
SWIM_MEM_API inline unsigned char pattern(u64 i) { return static_cast<unsigned char>(i * 131 + 7); }

// The control block lives in device memory and is built there: StaticRegion is
// not copyable, so it is never memcpy'd from the host.
__global__ void region_init(DeviceRegion* r, Block region, unsigned retries) {
  if (global_id() == 0) ::new (static_cast<void*>(r)) DeviceRegion(region, retries);
}

__global__ void region_used(const DeviceRegion* r, u64* used) {
  if (global_id() == 0) *used = r->used();
}

__global__ void region_acquire(DeviceRegion* r, Grant* out, u64 n, unsigned outer_retries) {
  const u64 i = global_id();
  if (i >= n) return;
  Result<Block> b = Error::contended;
  unsigned k = 0;
  for (; k < outer_retries; ++k) {
    b = r->try_acquire(request_size(i), request_align(i));
    if (b.error() != Error::contended) break;
  }
  out[i] = Grant{b.ok() ? *b : Block{}, static_cast<unsigned>(b.error()), k};
  if (b.ok()) {
    unsigned char* p = static_cast<unsigned char*>(b->ptr);
    for (std::size_t j = 0; j < b->size; ++j) p[j] = pattern(i);
  }
}

// A separate launch: every write of region_acquire is visible, so an overlap shows
// as a byte with another thread's pattern.
__global__ void region_verify(const Grant* in, u64 n, Block region, u64* failures) {
  const u64 i = global_id();
  if (i >= n) return;
  const Grant g = in[i];
  if (g.error != static_cast<unsigned>(Error::none)) return;
  check(g.block.size == request_size(i), failures);
  check(g.block.address() % request_align(i) == 0, failures);
  check(region.contains(g.block.ptr, g.block.size), failures);
  const unsigned char* p = static_cast<const unsigned char*>(g.block.ptr);
  bool intact = true;
  for (std::size_t j = 0; j < g.block.size; ++j) intact = intact && p[j] == pattern(i);
  check(intact, failures);
}

// Acquire, write, check, release, over and over: rollbacks race with bumps.
__global__ void region_churn(DeviceRegion* r, u64 n, unsigned rounds, u64* failures) {
  const u64 i = global_id();
  if (i >= n) return;
  for (unsigned k = 0; k < rounds; ++k) {
    const Result<Block> b = r->try_acquire(8, 8);
    if (!b.ok()) {
      check(b.error() == Error::contended || b.error() == Error::out_of_memory, failures);
      continue;
    }
    const u64 mark = (i << 20) | k;
    atomic_ref<u64> word(*static_cast<u64*>(b->ptr));
    word.store(mark, order::relaxed);
    check(word.load(order::relaxed) == mark, failures);
    check(r->release(*b) == Error::none, failures);
  }
}

/// Host: disjoint granted blocks, and the tallies of a phase.
struct Tally {
  u64 granted = 0, out_of_memory = 0, other = 0, bytes = 0, overlaps = 0;
};

/// `prefix`: bytes in front of each block that belong to it too (a hold's tag word).
inline Tally tally(const std::vector<Grant>& grants, std::size_t prefix = 0) {
  Tally t;
  std::vector<Block> blocks;
  for (const Grant& g : grants) {
    if (g.error == static_cast<unsigned>(Error::none)) {
      ++t.granted;
      t.bytes += g.block.size;
      blocks.push_back(g.block);
    } else if (g.error == static_cast<unsigned>(Error::out_of_memory)) {
      ++t.out_of_memory;
    } else {
      ++t.other;
    }
  }
  std::sort(blocks.begin(), blocks.end(),
            [](const Block& a, const Block& b) { return a.address() < b.address(); });
  for (std::size_t k = 1; k < blocks.size(); ++k) {
    if (blocks[k - 1].address() + blocks[k - 1].size + prefix > blocks[k].address()) {
      ++t.overlaps;
    }
  }
  return t;
}

}  // namespace swim::mem::device_suite

extern "C" int SWIM_MEM_LAUNCHER(check_static_region)(unsigned blocks, unsigned threads) {
  using namespace swim::mem::device_suite;
  using swim::mem::Block;
  if (const int s = no_device_or_zero(); s != SWIM_MEM_GPU_OK) return s;
  const u64 n = static_cast<u64>(blocks) * threads;
  u64 worst = 0, plain = 0;  // bytes for every request with worst-case padding / with none
  for (u64 i = 0; i < n; ++i) {
    worst += request_size(i) + request_align(i) - 1;
    plain += request_size(i);
  }
  constexpr unsigned kOuterRetries = 1u << 16;
  u64 failed = 0;

  DeviceArray<DeviceRegion> region(1);
  DeviceArray<Grant> grants(n);
  DeviceArray<u64> failures(1);
  DeviceArray<u64> used(1);
  DeviceArray<unsigned char> memory(worst + 256);  // phase 2 needs >= 191 bytes
  DeviceArray<unsigned char> churn_memory(4096);
  SWIM_MEM_GPU_TRY(region.status());
  SWIM_MEM_GPU_TRY(grants.status());
  SWIM_MEM_GPU_TRY(failures.status());
  SWIM_MEM_GPU_TRY(used.status());
  SWIM_MEM_GPU_TRY(memory.status());
  SWIM_MEM_GPU_TRY(churn_memory.status());
  std::vector<Grant> got;
  u64 used_bytes = 0;

  // Phase 1: room for everyone, whatever the order: every thread is served.
  const Block all{memory.get(), static_cast<std::size_t>(worst)};
  region_init<<<1, 1>>>(region.get(), all, DeviceRegion::default_retries);
  SWIM_MEM_GPU_LAUNCHED();
  region_acquire<<<blocks, threads>>>(region.get(), grants.get(), n, kOuterRetries);
  SWIM_MEM_GPU_LAUNCHED();
  region_verify<<<blocks, threads>>>(grants.get(), n, all, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  region_used<<<1, 1>>>(region.get(), used.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(grants.to_host(got));
  SWIM_MEM_GPU_TRY(used.to_host(used_bytes));
  Tally t = tally(got);
  failed += t.granted != n;
  failed += t.overlaps;
  failed += used_bytes > worst || used_bytes < plain;

  // Phase 2: room for half the bytes (at least one worst-case request, so that
  // nothing is oversized): some run out, none overlap, and the region ends nearly
  // full (a thread fails only when less than its need, <= 64 + 127, is left).
  const Block half{memory.get(), static_cast<std::size_t>(plain / 2 > 191 ? plain / 2 : 191)};
  region_init<<<1, 1>>>(region.get(), half, DeviceRegion::default_retries);
  SWIM_MEM_GPU_LAUNCHED();
  region_acquire<<<blocks, threads>>>(region.get(), grants.get(), n, kOuterRetries);
  SWIM_MEM_GPU_LAUNCHED();
  region_verify<<<blocks, threads>>>(grants.get(), n, half, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  region_used<<<1, 1>>>(region.get(), used.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(grants.to_host(got));
  SWIM_MEM_GPU_TRY(used.to_host(used_bytes));
  t = tally(got);
  failed += t.overlaps;
  failed += t.other;
  failed += t.granted + t.out_of_memory != n;
  failed += used_bytes > half.size || t.bytes > used_bytes;
  if (t.out_of_memory > 0) failed += used_bytes + 64 + 127 < half.size;

  // Phase 3: acquire/release churn on a small region.
  const Block small{churn_memory.get(), 4096};
  region_init<<<1, 1>>>(region.get(), small, DeviceRegion::default_retries);
  SWIM_MEM_GPU_LAUNCHED();
  region_churn<<<blocks, threads>>>(region.get(), n, 64, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  region_used<<<1, 1>>>(region.get(), used.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(used.to_host(used_bytes));
  failed += used_bytes > small.size;

  u64 device_failed = 0;
  SWIM_MEM_GPU_TRY(failures.to_host(device_failed));
  return failures_status(failed + device_failed);
}

// ---- Allocators: shared pieces -------------------------------------------------------------
//
// Every allocator below is built in device memory by placement new in a kernel and
// destroyed in one: they are not copyable, and their control blocks hold pointers
// into device memory, so a host-built copy would be wrong. A concurrent allocator is
// then driven by every thread of the grid; a single_owner one by thread 0 of block 0
// only (the other threads of that launch return at once). Each phase is a separate
// launch, so what one kernel wrote is visible to the next (kernel boundaries order
// them); overlaps between threads are looked for by content in a later launch, by
// address on the host, and for Slab by a per-unit owner word claimed with a CAS.

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

// ---- Slab ----------------------------------------------------------------------------------

/// The owner word of the unit at `p`. Units are `unit` bytes apart from a base at or
/// after the hunk's start, so (p - hunk start) / unit is one index per unit.
SWIM_MEM_DEVICE inline atomic_ref<u64> owner_of(u64* owners, Block hunk, const void* p,
                                                std::size_t unit) {
  return atomic_ref<u64>(owners[(reinterpret_cast<std::uintptr_t>(p) - hunk.address()) / unit]);
}

/// Each thread takes k units (sizes 1..unit, alignments 1..the Slab's guarantee),
/// claims each unit's owner word (a unit with two owners fails the CAS) and stamps it.
template <class S>
__global__ void slab_alloc(S* s, Block hunk, Grant* out, u64 n, unsigned k, u64* owners,
                           u64* failures) {
  const u64 i = global_id();
  if (i >= n) return;
  const std::size_t unit = s->unit();
  const unsigned align_bits = detail::countr_zero(s->alignment()) + 1;
  for (unsigned j = 0; j < k; ++j) {
    const Layout l{1 + static_cast<std::size_t>((i * 13 + j * 7) % unit),
                   std::size_t(1) << ((i + j) % align_bits)};
    unsigned tries = 0;
    const Result<Block> r = allocate_bounded(*s, l, kNoOomRetry, tries);
    record(out[i * k + j], r, tries);
    if (!r.ok()) continue;
    const bool inside = hunk.contains(r->ptr, r->size);
    check(inside && r->size == unit && r->address() % l.align == 0, failures);
    if (!inside) continue;
    u64 unowned = 0;
    check(owner_of(owners, hunk, r->ptr, unit).compare_exchange(unowned, i + 1, order::relaxed),
          failures);
    fill_words(*r, stamp(i, j));
  }
}

/// Thread t checks and frees the units of thread partner(t): intact stamps, the owner
/// word still names that thread, the free succeeds.
template <class S>
__global__ void slab_release(S* s, Block hunk, const Grant* in, u64 n, unsigned k, u64* owners,
                             u64* failures) {
  const u64 t = global_id();
  if (t >= n) return;
  const u64 i = partner(t, n);
  const std::size_t unit = s->unit();
  for (unsigned j = 0; j < k; ++j) {
    const Grant g = in[i * k + j];
    if (g.error != kOk || !hunk.contains(g.block.ptr, g.block.size)) continue;
    check(words_intact(g.block, stamp(i, j)), failures);
    // Cleared before the free: the unit's next owner claims it after the free.
    check(owner_of(owners, hunk, g.block.ptr, unit).exchange(0, order::relaxed) == i + 1,
          failures);
    check(free_bounded([&] { return s->try_deallocate(g.block); }) == Error::none, failures);
  }
}

/// After every unit was freed (and nothing allocates), checked Slabs only: a second
/// free of each is a double free; pointers inside a unit or blocks larger than a unit
/// are foreign. None of it may change the Slab. (An unchecked Slab trusts the blocks
/// it is given back: misuse there is a precondition violation, heaps/slab.hpp.)
template <class S>
__global__ void slab_misuse(S* s, const Grant* in, u64 n, unsigned k, bool checked,
                            u64* failures) {
  const u64 i = global_id();
  if (i >= n || !checked) return;
  for (unsigned j = 0; j < k; ++j) {
    const Grant g = in[i * k + j];
    if (g.error != kOk) continue;
    check(s->try_deallocate(g.block) == Error::double_free, failures);
    check(s->try_deallocate(Block{g.block.begin() + 8, 8}) == Error::foreign_pointer, failures);
    check(s->try_deallocate(Block{g.block.ptr, g.block.size + 1}) == Error::foreign_pointer,
          failures);
  }
}

/// Allocate, claim, stamp, check, unclaim, free, `rounds` times per thread on a Slab
/// with fewer units than threads: pops race with pushes of the same units (the ABA
/// case the head's counter guards against). Exhaustion is counted, not a failure.
template <class S>
__global__ void slab_churn(S* s, Block hunk, u64 n, unsigned rounds, u64* owners, u64* failures,
                           u64* exhausted) {
  const u64 i = global_id();
  if (i >= n) return;
  const std::size_t unit = s->unit();
  for (unsigned r = 0; r < rounds; ++r) {
    unsigned tries = 0;
    const Result<Block> b = allocate_bounded(*s, Layout{8, 8}, kNoOomRetry, tries);
    if (!b.ok()) {
      count_failure(b.error(), exhausted, failures);
      continue;
    }
    if (!hunk.contains(b->ptr, b->size)) {
      check(false, failures);
      continue;
    }
    const atomic_ref<u64> owner = owner_of(owners, hunk, b->ptr, unit);
    u64 unowned = 0;
    check(owner.compare_exchange(unowned, i + 1, order::relaxed), failures);
    const u64 v = stamp(i, r);
    fill_words(*b, v);
    check(words_intact(*b, v), failures);
    // Relaxed is enough: the free's release CAS orders this before the next pop.
    check(owner.exchange(0, order::relaxed) == i + 1, failures);
    check(free_bounded([&] { return s->try_deallocate(*b); }) == Error::none, failures);
  }
}

/// A single_owner Slab, built, used and destroyed by thread 0 alone: every unit is
/// handed out once per round (then out_of_memory, leaving the Slab unchanged), the
/// units are disjoint, they all come back, and misuse is reported.
template <class S>
__global__ void slab_single(S* at, Block hunk, std::size_t unit, Block* scratch, u64 scratch_n,
                            bool checked, u64* failures) {
  if (global_id() != 0) return;  // single_owner: exactly one thread ever touches it
  S* s = ::new (static_cast<void*>(at)) S(hunk, unit);
  check(s->init_error() == Error::none, failures);
  const u64 count = s->block_count();
  if (count == 0 || count > scratch_n) {
    check(false, failures);
    s->~S();
    return;
  }
  check(s->try_allocate(Layout{unit + 1, 1}).error() == Error::oversized, failures);
  check(s->try_allocate(Layout{8, s->alignment() * 2}).error() == Error::misaligned, failures);
  const Result<Block> z = s->try_allocate(Layout{0, 8});
  check(z.ok() && z->size == 0 && s->stats().live == 0, failures);
  for (unsigned round = 0; round < 2; ++round) {
    for (u64 q = 0; q < count; ++q) {
      const Result<Block> r = s->try_allocate(Layout{unit, 8});
      check(r.ok() && hunk.contains(r->ptr, r->size), failures);
      scratch[q] = r.ok() && hunk.contains(r->ptr, r->size) ? *r : Block{};
      if (!scratch[q].is_null()) fill_words(scratch[q], stamp(q, round));
    }
    const Stats full = s->stats();
    check(s->try_allocate(Layout{1, 1}).error() == Error::out_of_memory, failures);
    const Stats after = s->stats();
    check(full.live == count && full.bytes_free == 0 && full.bytes_in_use == count * unit,
          failures);
    check(after.live == full.live && after.bytes_free == full.bytes_free, failures);
    for (u64 q = 0; q < count; ++q) {
      if (!scratch[q].is_null()) check(words_intact(scratch[q], stamp(q, round)), failures);
    }
    // Even units first, then odd ones: the free list comes out shuffled.
    for (u64 parity = 0; parity < 2; ++parity) {
      for (u64 q = parity; q < count; q += 2) {
        if (!scratch[q].is_null()) check(s->try_deallocate(scratch[q]) == Error::none, failures);
      }
    }
    const Stats empty = s->stats();
    check(empty.live == 0 && empty.bytes_in_use == 0 && empty.bytes_free == count * unit &&
              empty.peak_bytes == count * unit,
          failures);
  }
  if (!scratch[0].is_null() && checked) {  // unchecked Slabs do not validate frees
    check(s->try_deallocate(scratch[0]) == Error::double_free, failures);
    check(s->try_deallocate(Block{scratch[0].begin() + 8, 8}) == Error::foreign_pointer,
          failures);
  }
  check(s->stats().live == 0, failures);
  s->~S();
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

/// The concurrent Slab<concurrent, Checked> phases on blocks x threads.
template <bool Checked>
int slab_suite(unsigned blocks, unsigned threads, u64& failed) {
  using S = Slab<concurrent, Checked>;
  constexpr unsigned k = 4;
  constexpr std::size_t unit = 64;
  const u64 n = static_cast<u64>(blocks) * threads;
  const u64 want = n * k;
  constexpr u64 units = 256;  // of the single_owner Slab (phase 4)
  const std::size_t bytes = std::max(slab_bytes(want, unit), slab_bytes(units, unit));
  DeviceArray<S> slab(1);
  DeviceArray<HeapInfo> info(1);
  DeviceArray<unsigned char> memory(bytes);
  DeviceArray<Grant> grants(want);
  DeviceArray<u64> owners(bytes / unit + 1);
  DeviceArray<u64> failures(1);
  DeviceArray<u64> exhausted(1);
  DeviceArray<Stats> stats(1);
  SWIM_MEM_GPU_TRY(slab.status());
  SWIM_MEM_GPU_TRY(info.status());
  SWIM_MEM_GPU_TRY(memory.status());
  SWIM_MEM_GPU_TRY(grants.status());
  SWIM_MEM_GPU_TRY(owners.status());
  SWIM_MEM_GPU_TRY(failures.status());
  SWIM_MEM_GPU_TRY(exhausted.status());
  SWIM_MEM_GPU_TRY(stats.status());
  std::vector<Grant> got;
  HeapInfo in{};
  Stats st{};

  // Phase 1: a unit for every request. All granted, disjoint, stamped; partners free
  // them; everything comes back; misuse is reported and changes nothing.
  const Block all{memory.get(), bytes};
  heap_init<S><<<1, 1>>>(slab.get(), all, unit, info.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(info.to_host(in));
  failed += in.error != kOk || in.count < want;
  slab_alloc<S><<<blocks, threads>>>(slab.get(), all, grants.get(), n, k, owners.get(),
                                     failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(grants.to_host(got));
  Tally t = tally(got, 0);
  failed += t.granted != want;
  failed += t.overlaps;
  SWIM_MEM_GPU_STEP(read_stats(slab.get(), stats, st));
  failed += st.live != want || st.bytes_in_use != want * unit || st.peak_bytes != want * unit ||
            st.bytes_free != (in.count - want) * unit;
  slab_release<S><<<blocks, threads>>>(slab.get(), all, grants.get(), n, k, owners.get(),
                                       failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_STEP(read_stats(slab.get(), stats, st));
  failed += st.live != 0 || st.bytes_in_use != 0 || st.bytes_free != in.count * unit;
  slab_misuse<S><<<blocks, threads>>>(slab.get(), grants.get(), n, k, Checked, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_STEP(read_stats(slab.get(), stats, st));
  failed += st.live != 0 || st.bytes_free != in.count * unit;
  destroy_kernel<S><<<1, 1>>>(slab.get());
  SWIM_MEM_GPU_LAUNCHED();

  // Phase 2: about half the units needed. Each unit goes to exactly one thread; once
  // one request got out_of_memory, every unit was handed out (nothing is freed here).
  const u64 few = want / 2 + 1;
  const Block part{memory.get(), static_cast<std::size_t>(few) * unit +
                                     static_cast<std::size_t>((few + 63) / 64) * 8};
  SWIM_MEM_GPU_TRY(swim_mem_gpu::zero(owners.get(), owners.bytes()));
  heap_init<S><<<1, 1>>>(slab.get(), part, unit, info.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(info.to_host(in));
  failed += in.error != kOk || in.count == 0;
  slab_alloc<S><<<blocks, threads>>>(slab.get(), part, grants.get(), n, k, owners.get(),
                                     failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(grants.to_host(got));
  t = tally(got, 0);
  failed += t.overlaps;
  failed += t.other;
  failed += t.granted != std::min<u64>(want, in.count);
  failed += t.granted + t.out_of_memory != want;
  SWIM_MEM_GPU_STEP(read_stats(slab.get(), stats, st));
  failed += st.live != t.granted;
  slab_release<S><<<blocks, threads>>>(slab.get(), part, grants.get(), n, k, owners.get(),
                                       failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_STEP(read_stats(slab.get(), stats, st));
  failed += st.live != 0 || st.bytes_free != in.count * unit;
  destroy_kernel<S><<<1, 1>>>(slab.get());
  SWIM_MEM_GPU_LAUNCHED();

  // Phase 3: churn on a quarter as many units as threads.
  const u64 quarter = n / 4 + 1;
  const Block churn{memory.get(), slab_bytes(quarter, unit)};
  SWIM_MEM_GPU_TRY(swim_mem_gpu::zero(owners.get(), owners.bytes()));
  heap_init<S><<<1, 1>>>(slab.get(), churn, unit, info.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(info.to_host(in));
  failed += in.error != kOk || in.count == 0;
  slab_churn<S><<<blocks, threads>>>(slab.get(), churn, n, 16, owners.get(), failures.get(),
                                     exhausted.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_STEP(read_stats(slab.get(), stats, st));
  failed += st.live != 0 || st.bytes_in_use != 0 || st.bytes_free != in.count * unit;
  destroy_kernel<S><<<1, 1>>>(slab.get());
  SWIM_MEM_GPU_LAUNCHED();

  // Phase 4: the single_owner Slab of the same configuration, by one thread.
  using Single = Slab<single_owner, Checked>;
  const Block single_hunk{memory.get(), slab_bytes(units, unit)};
  DeviceArray<Single> single(1);
  DeviceArray<Block> scratch(units + 2);
  SWIM_MEM_GPU_TRY(single.status());
  SWIM_MEM_GPU_TRY(scratch.status());
  slab_single<Single><<<blocks, threads>>>(single.get(), single_hunk, unit, scratch.get(),
                                           units + 2, Checked, failures.get());
  SWIM_MEM_GPU_LAUNCHED();

  u64 device_failed = 0;
  SWIM_MEM_GPU_TRY(failures.to_host(device_failed));
  failed += device_failed;
  return SWIM_MEM_GPU_OK;
}

}  // namespace swim::mem::device_suite

extern "C" int SWIM_MEM_LAUNCHER(check_slab)(unsigned blocks, unsigned threads) {
  using namespace swim::mem::device_suite;
  if (const int s = no_device_or_zero(); s != SWIM_MEM_GPU_OK) return s;
  u64 failed = 0;
  SWIM_MEM_GPU_STEP(slab_suite<true>(blocks, threads, failed));
  SWIM_MEM_GPU_STEP(slab_suite<false>(blocks, threads, failed));
  return failures_status(failed);
}

// ---- Pack ----------------------------------------------------------------------------------

namespace swim::mem::device_suite {

/// Request shapes of the hold phases: sizes and alignments per (thread, j).
struct PackRequests {
  SWIM_MEM_API static std::size_t size(u64 i, unsigned j) {
    return 1 + static_cast<std::size_t>((i * 53 + j * 29) % 96);
  }
  SWIM_MEM_API static std::size_t align(u64 i, unsigned j) {
    return std::size_t(8) << ((i + j) % 6);  // 8 .. 256
  }
};
struct PoolRequests {
  SWIM_MEM_API static std::size_t size(u64 i, unsigned j) {
    return 16 + static_cast<std::size_t>((i * 131 + j * 71) % 497);  // 16 .. 512
  }
  SWIM_MEM_API static std::size_t align(u64 i, unsigned j) {
    return std::size_t(8) << ((i + j) % 4);  // 8 .. 64
  }
};

/// Each thread takes k tagged objects from a hold (Pack or Pool) and stamps them.
/// Objects (with their tag word) must lie inside `region`.
template <class H, class Requests>
__global__ void hold_alloc(H* h, Block region, Grant* out, u64 n, unsigned k, unsigned oom_retries,
                           u64* failures) {
  const u64 i = global_id();
  if (i >= n) return;
  for (unsigned j = 0; j < k; ++j) {
    const Layout l{Requests::size(i, j), Requests::align(i, j)};
    unsigned tries = 0;
    const Result<Block> r = allocate_bounded(*h, l, oom_retries, tries);
    record(out[i * k + j], r, tries);
    if (!r.ok()) continue;
    void* const tag = r->begin() - detail::tag_size;
    const bool inside = region.contains(tag, r->size + detail::tag_size);
    check(inside && r->size == round8(l.size) && r->address() % l.align == 0, failures);
    if (inside) fill_words(*r, stamp(i, j));
  }
}

/// Thread t checks the objects of thread partner(t) and frees them newest first,
/// through the tag (hold_deallocate) or, with `typed_too`, every other one through the
/// hold's own try_deallocate.
template <class H>
__global__ void hold_release(H* h, const Grant* in, u64 n, unsigned k, bool typed_too,
                             u64* failures) {
  const u64 t = global_id();
  if (t >= n) return;
  const u64 i = partner(t, n);
  for (unsigned j = k; j-- > 0;) {
    const Grant g = in[i * k + j];
    if (g.error != kOk) continue;
    check(words_intact(g.block, stamp(i, j)), failures);
    const bool typed = typed_too && j % 2 == 1;
    check(free_bounded([&] {
            return typed ? h->try_deallocate(g.block) : hold_deallocate(g.block);
          }) == Error::none,
          failures);
  }
}

/// After all objects were freed (and nothing allocates), freeing one again through its
/// tag is a double free: the first free cleared the tag.
__global__ void hold_double_free(const Grant* in, u64 n, unsigned k, u64* failures) {
  const u64 i = global_id();
  if (i >= n) return;
  for (unsigned j = 0; j < k; ++j) {
    const Grant g = in[i * k + j];
    if (g.error == kOk) check(hold_deallocate(g.block) == Error::double_free, failures);
  }
}

/// Allocate, stamp, check, free (through the tag), `rounds` times per thread.
/// Exhaustion is counted, not a failure.
template <class H>
__global__ void hold_churn(H* h, u64 n, unsigned rounds, std::size_t max_size, u64* failures,
                           u64* exhausted) {
  const u64 i = global_id();
  if (i >= n) return;
  for (unsigned r = 0; r < rounds; ++r) {
    const Layout l{1 + static_cast<std::size_t>((i * 31 + r * 17) % max_size),
                   std::size_t(8) << ((i + r) % 4)};
    unsigned tries = 0;
    const Result<Block> b = allocate_bounded(*h, l, kNoOomRetry, tries);
    if (!b.ok()) {
      count_failure(b.error(), exhausted, failures);
      continue;
    }
    const u64 v = stamp(i, r);
    fill_words(*b, v);
    check(words_intact(*b, v), failures);
    check(free_bounded([&] { return hold_deallocate(*b); }) == Error::none, failures);
  }
}

/// One thread, one Pack (either mode): exact LIFO arithmetic, alignment, reset on the
/// last free, double frees and foreign pointers, zero-size objects, exhaustion.
/// `region` is granule-aligned and `scratch` holds region.size / 72 + 2 blocks.
template <class P>
__global__ void pack_single(P* at, Block region, Block* scratch, u64 scratch_n, u64* failures) {
  if (global_id() != 0) return;  // one thread, whatever the mode
  P* p = ::new (static_cast<void*>(at)) P(region);
  check(p->init_error() == Error::none, failures);
  const std::size_t cap = p->capacity();
  check(cap == region.size && p->stats().bytes_free == cap, failures);

  // Bump: each object costs its tag plus its size, rounded to 8.
  const Result<Block> a = p->try_allocate(Layout{24, 8});
  const std::size_t free_a = p->stats().bytes_free;
  const Result<Block> b = p->try_allocate(Layout{100, 8});
  if (!a.ok() || !b.ok()) {
    check(false, failures);
    return;
  }
  check(a->size == 24 && free_a == cap - 32, failures);
  check(b->size == 104 && b->address() == a->address() + 24 + detail::tag_size, failures);
  check(p->stats().bytes_free == free_a - 112 && p->stats().live == 2, failures);
  // LIFO: freeing the newest object gives its bytes back.
  check(hold_deallocate(*b) == Error::none, failures);
  check(p->stats().bytes_free == free_a && p->stats().live == 1, failures);
  const Result<Block> c = p->try_allocate(Layout{40, 256});
  if (!c.ok()) {
    check(false, failures);
    return;
  }
  check(c->size == 40 && c->address() % 256 == 0, failures);
  fill_words(*a, stamp(1, 0));
  fill_words(*c, stamp(3, 0));
  check(words_intact(*a, stamp(1, 0)) && words_intact(*c, stamp(3, 0)), failures);
  // Not the newest: it only counts; the last free resets the whole region.
  const std::size_t free_c = p->stats().bytes_free;
  check(p->try_deallocate(*a) == Error::none, failures);
  check(p->stats().bytes_free == free_c && p->stats().live == 1, failures);
  check(words_intact(*c, stamp(3, 0)), failures);
  check(hold_deallocate(*c) == Error::none, failures);
  Stats s = p->stats();
  check(s.live == 0 && s.bytes_in_use == 0 && s.bytes_free == cap, failures);
  // Double frees, through the tag and typed; a foreign pointer.
  check(hold_deallocate(*a) == Error::double_free, failures);
  check(hold_deallocate(*c) == Error::double_free, failures);
  check(p->try_deallocate(*b) == Error::double_free, failures);
  check(p->try_deallocate(Block{reinterpret_cast<void*>(region.address() + region.size + 64), 8}) ==
            Error::foreign_pointer,
        failures);
  // Zero-size objects count but take no bytes; they are freed through the tag too.
  const Result<Block> z = p->try_allocate(Layout{0, 8});
  check(z.ok() && z->size == 0 && p->stats().live == 1 && p->stats().bytes_free == cap, failures);
  if (z.ok()) {
    check(hold_deallocate(*z) == Error::none, failures);
    check(p->try_deallocate(*z) == Error::double_free, failures);
  }
  check(p->try_allocate(Layout{cap + 8, 8}).error() == Error::oversized, failures);
  // Exhaustion: 72 bytes per object; the failure changes nothing.
  u64 count = 0;
  bool exhausted = false;
  for (; count < scratch_n; ++count) {
    const Result<Block> r = p->try_allocate(Layout{64, 8});
    if (!r.ok()) {
      check(r.error() == Error::out_of_memory, failures);
      exhausted = true;
      break;
    }
    scratch[count] = *r;
    fill_words(*r, stamp(count, 1));
  }
  s = p->stats();
  check(exhausted && count == cap / 72 && s.live == count && s.bytes_free == cap - count * 72,
        failures);
  // Newest first: every free gives its bytes back.
  for (u64 q = count; q-- > 0;) {
    check(words_intact(scratch[q], stamp(q, 1)), failures);
    check(hold_deallocate(scratch[q]) == Error::none, failures);
    check(p->stats().bytes_free == cap - q * 72, failures);
  }
  s = p->stats();
  check(s.live == 0 && s.bytes_in_use == 0 && s.bytes_free == cap, failures);
  p->~P();
}

/// Host: the Pack phases.
inline int pack_suite(unsigned blocks, unsigned threads, u64& failed) {
  using P = Pack<concurrent>;
  constexpr unsigned k = 4;
  const u64 n = static_cast<u64>(blocks) * threads;
  const u64 want = n * k;
  // Room for every request with worst-case padding (tag + alignment), and their bytes.
  std::size_t worst = 64, plain = 0;
  for (u64 i = 0; i < n; ++i) {
    for (unsigned j = 0; j < k; ++j) {
      worst += round8(PackRequests::size(i, j)) + PackRequests::align(i, j);
      plain += round8(PackRequests::size(i, j));
    }
  }
  constexpr std::size_t single_bytes = 4096;
  constexpr std::size_t churn_bytes = 64 * 1024;
  const std::size_t bytes = std::max(worst, churn_bytes);
  DeviceArray<P> pack(1);
  DeviceArray<HeapInfo> info(1);
  DeviceArray<unsigned char> memory(bytes);
  DeviceArray<Grant> grants(want);
  DeviceArray<u64> failures(1);
  DeviceArray<u64> exhausted(1);
  DeviceArray<Stats> stats(1);
  DeviceArray<Pack<single_owner>> single(1);
  DeviceArray<Block> scratch(single_bytes / 72 + 2);
  SWIM_MEM_GPU_TRY(pack.status());
  SWIM_MEM_GPU_TRY(info.status());
  SWIM_MEM_GPU_TRY(memory.status());
  SWIM_MEM_GPU_TRY(grants.status());
  SWIM_MEM_GPU_TRY(failures.status());
  SWIM_MEM_GPU_TRY(exhausted.status());
  SWIM_MEM_GPU_TRY(stats.status());
  SWIM_MEM_GPU_TRY(single.status());
  SWIM_MEM_GPU_TRY(scratch.status());
  std::vector<Grant> got;
  HeapInfo in{};
  Stats st{};

  // Phase 1: room for everyone. All granted, aligned, disjoint (tags included);
  // partners free them newest first (half through the tag, half typed); the last free
  // resets the Pack; a second free through the tag is a double free.
  const Block all{memory.get(), worst};
  pack_init<P><<<1, 1>>>(pack.get(), all, info.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(info.to_host(in));
  failed += in.error != kOk || in.capacity != worst;
  hold_alloc<P, PackRequests><<<blocks, threads>>>(pack.get(), all, grants.get(), n, k,
                                                   kNoOomRetry, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(grants.to_host(got));
  Tally t = tally(got, detail::tag_size);
  failed += t.granted != want;
  failed += t.overlaps;
  failed += t.bytes != plain;
  SWIM_MEM_GPU_STEP(read_stats(pack.get(), stats, st));
  failed += st.live != want || st.bytes_in_use != plain || st.peak_bytes != plain;
  hold_release<P><<<blocks, threads>>>(pack.get(), grants.get(), n, k, true, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_STEP(read_stats(pack.get(), stats, st));
  failed += st.live != 0 || st.bytes_in_use != 0 || st.bytes_free != in.capacity;
  hold_double_free<<<blocks, threads>>>(grants.get(), n, k, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_STEP(read_stats(pack.get(), stats, st));
  failed += st.live != 0 || st.bytes_free != in.capacity;
  destroy_kernel<P><<<1, 1>>>(pack.get());
  SWIM_MEM_GPU_LAUNCHED();

  // Phase 2: a third of the room. Granted or out_of_memory, disjoint; no frees, so the
  // mark only grows: after a failure less than the largest need (352 bytes) is left.
  const Block third{memory.get(), round8(std::max<std::size_t>(worst / 3, 512))};
  pack_init<P><<<1, 1>>>(pack.get(), third, info.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(info.to_host(in));
  failed += in.error != kOk;
  hold_alloc<P, PackRequests><<<blocks, threads>>>(pack.get(), third, grants.get(), n, k,
                                                   kNoOomRetry, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(grants.to_host(got));
  t = tally(got, detail::tag_size);
  failed += t.overlaps;
  failed += t.other;
  failed += t.granted + t.out_of_memory != want;
  SWIM_MEM_GPU_STEP(read_stats(pack.get(), stats, st));
  failed += st.live != t.granted || st.bytes_in_use != t.bytes || t.bytes > in.capacity;
  if (t.out_of_memory > 0) failed += st.bytes_free >= 352;
  hold_release<P><<<blocks, threads>>>(pack.get(), grants.get(), n, k, false, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_STEP(read_stats(pack.get(), stats, st));
  failed += st.live != 0 || st.bytes_in_use != 0 || st.bytes_free != in.capacity;
  destroy_kernel<P><<<1, 1>>>(pack.get());
  SWIM_MEM_GPU_LAUNCHED();

  // Phase 3: churn on 64 KiB. Whatever the interleaving, once every object is freed
  // the Pack is reset (the last free resets it in the same CAS).
  const Block churn{memory.get(), churn_bytes};
  pack_init<P><<<1, 1>>>(pack.get(), churn, info.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(info.to_host(in));
  failed += in.error != kOk;
  hold_churn<P><<<blocks, threads>>>(pack.get(), n, 16, 200, failures.get(), exhausted.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_STEP(read_stats(pack.get(), stats, st));
  failed += st.live != 0 || st.bytes_in_use != 0 || st.bytes_free != in.capacity;
  destroy_kernel<P><<<1, 1>>>(pack.get());
  SWIM_MEM_GPU_LAUNCHED();

  // Phase 4: deterministic single-thread checks, on a concurrent Pack (used by one
  // thread) and on a single_owner Pack.
  const Block small{memory.get(), single_bytes};
  pack_single<P><<<blocks, threads>>>(pack.get(), small, scratch.get(), single_bytes / 72 + 2,
                                      failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  pack_single<Pack<single_owner>><<<blocks, threads>>>(single.get(), small, scratch.get(),
                                                       single_bytes / 72 + 2, failures.get());
  SWIM_MEM_GPU_LAUNCHED();

  u64 device_failed = 0;
  SWIM_MEM_GPU_TRY(failures.to_host(device_failed));
  failed += device_failed;
  return SWIM_MEM_GPU_OK;
}

}  // namespace swim::mem::device_suite

extern "C" int SWIM_MEM_LAUNCHER(check_pack)(unsigned blocks, unsigned threads) {
  using namespace swim::mem::device_suite;
  if (const int s = no_device_or_zero(); s != SWIM_MEM_GPU_OK) return s;
  u64 failed = 0;
  SWIM_MEM_GPU_STEP(pack_suite(blocks, threads, failed));
  return failures_status(failed);
}

// ---- Pool ----------------------------------------------------------------------------------

namespace swim::mem::device_suite {

/// A Pool and its upstream heap at one instant (quiescent: between kernels).
struct PoolSnapshot {
  Stats pool;
  Stats upstream;
  u64 hunks;
  u64 reserved;
};

template <class P, class H>
__global__ void pool_snapshot(const P* p, const H* h, PoolSnapshot* out) {
  if (global_id() != 0) return;
  *out = PoolSnapshot{p->stats(), h->stats(), p->hunk_count(), p->reserved_bytes()};
}

/// trim() needs no concurrent allocation: one thread, in a launch of its own.
template <class P>
__global__ void pool_trim(P* p) {
  if (global_id() == 0) p->trim();
}

/// One thread, a single_owner Pool over a single_owner heap H (built here from
/// `region` with units/pages of `hunk` bytes): hunks grow; after frees through the
/// tag (round 0, then trim()) or typed (round 1) only the head hunk is held; zero-size
/// objects; double frees; destroying the Pool returns every hunk.
template <class P, class H>
__global__ void pool_single(P* pool_at, H* heap_at, Block region, std::size_t hunk, Block* scratch,
                            u64 scratch_n, u64* failures) {
  if (global_id() != 0) return;  // single_owner: exactly one thread ever touches them
  H* h = ::new (static_cast<void*>(heap_at)) H(region, hunk);
  check(h->init_error() == Error::none, failures);
  P* p = ::new (static_cast<void*>(pool_at)) P(*h, hunk);
  for (unsigned round = 0; round < 2; ++round) {
    for (u64 q = 0; q < scratch_n; ++q) {
      const Layout l{PoolRequests::size(q, round), PoolRequests::align(q, round)};
      const Result<Block> r = p->try_allocate(l);
      check(r.ok() && r->size == round8(l.size) && r->address() % l.align == 0, failures);
      scratch[q] = r.ok() ? *r : Block{};
      if (r.ok()) fill_words(*r, stamp(q, round));
    }
    check(p->hunk_count() >= 2 && h->stats().live == p->hunk_count() &&
              p->reserved_bytes() == p->hunk_count() * hunk && p->stats().live == scratch_n,
          failures);
    for (u64 q = 0; q < scratch_n; ++q) {
      if (!scratch[q].is_null()) check(words_intact(scratch[q], stamp(q, round)), failures);
    }
    for (u64 q = 0; q < scratch_n; ++q) {
      if (scratch[q].is_null()) continue;
      check((round == 0 ? hold_deallocate(scratch[q]) : p->try_deallocate(scratch[q])) ==
                Error::none,
            failures);
    }
    const Stats s = p->stats();
    check(s.live == 0 && s.bytes_in_use == 0, failures);
    // The newest object sits in the head hunk, which is never given back, so its
    // tag is still readable (and cleared).
    const Block last = scratch[scratch_n - 1];
    if (!last.is_null()) {
      check((round == 0 ? hold_deallocate(last) : p->try_deallocate(last)) == Error::double_free,
            failures);
    }
    // A single_owner Pool may give an emptied hunk back at once; trim() returns any
    // spare that is left. Either way only the (reset) head hunk remains.
    if (round == 0) p->trim();
    // Only the head hunk (reset) is left.
    check(h->stats().live <= 1 && h->stats().live == p->hunk_count(), failures);
  }
  const Result<Block> z = p->try_allocate(Layout{0, 8});
  check(z.ok() && z->size == 0 && p->stats().live == 1, failures);
  if (z.ok()) {
    check(hold_deallocate(*z) == Error::none, failures);
    check(hold_deallocate(*z) == Error::double_free, failures);
  }
  check(p->stats().live == 0, failures);
  p->~P();
  check(h->stats().live == 0 && h->stats().bytes_in_use == 0, failures);
  h->~H();
}

/// Host: the concurrent Pool phases over an upstream heap H (Slab or AddrSpace, both
/// built as H(region, 4096) and concurrent) in device memory.
template <class H>
int pool_suite(unsigned blocks, unsigned threads, std::size_t region_bytes, u64& failed) {
  using P = Pool<H, concurrent>;
  constexpr unsigned k = 4;
  constexpr std::size_t hunk = 4096;
  constexpr std::size_t header = 64;  // a hunk's in-band header
  const u64 n = static_cast<u64>(blocks) * threads;
  const u64 want = n * k;
  std::size_t plain = 0, tagged = 0;
  for (u64 i = 0; i < n; ++i) {
    for (unsigned j = 0; j < k; ++j) {
      plain += round8(PoolRequests::size(i, j));
      tagged += round8(PoolRequests::size(i, j)) + detail::tag_size;
    }
  }
  // No hunk can serve more than this, so at least this many hunks are needed.
  const u64 min_hunks = (tagged + (hunk - header) - 1) / (hunk - header);
  DeviceArray<H> heap(1);
  DeviceArray<P> pool(1);
  DeviceArray<HeapInfo> info(1);
  DeviceArray<unsigned char> memory(region_bytes);
  DeviceArray<Grant> grants(want);
  DeviceArray<u64> failures(1);
  DeviceArray<u64> exhausted(1);
  DeviceArray<Stats> stats(1);
  DeviceArray<PoolSnapshot> snap(1);
  SWIM_MEM_GPU_TRY(heap.status());
  SWIM_MEM_GPU_TRY(pool.status());
  SWIM_MEM_GPU_TRY(info.status());
  SWIM_MEM_GPU_TRY(memory.status());
  SWIM_MEM_GPU_TRY(grants.status());
  SWIM_MEM_GPU_TRY(failures.status());
  SWIM_MEM_GPU_TRY(exhausted.status());
  SWIM_MEM_GPU_TRY(stats.status());
  SWIM_MEM_GPU_TRY(snap.status());
  std::vector<Grant> got;
  HeapInfo in{};
  PoolSnapshot ps{};
  Stats st{};
  auto snapshot = [&]() -> int {
    pool_snapshot<P, H><<<1, 1>>>(pool.get(), heap.get(), snap.get());
    SWIM_MEM_GPU_LAUNCHED();
    SWIM_MEM_GPU_TRY(snap.to_host(ps));
    return SWIM_MEM_GPU_OK;
  };

  const Block region{memory.get(), region_bytes};
  heap_init<H><<<1, 1>>>(heap.get(), region, hunk, info.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(info.to_host(in));
  // The region holds a hunk for every object: even if every allocation had to start
  // its own hunk, the upstream could not run out.
  failed += in.error != kOk || in.capacity < (want + 1) * hunk;
  pool_init<P, H><<<1, 1>>>(pool.get(), heap.get(), hunk);
  SWIM_MEM_GPU_LAUNCHED();

  // Phase 1: every thread allocates k objects of 16..512 bytes; the pool grows hunk by
  // hunk; all granted, aligned, disjoint; partners free them through the tag.
  hold_alloc<P, PoolRequests><<<blocks, threads>>>(pool.get(), region, grants.get(), n, k,
                                                   kOomRetries, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(grants.to_host(got));
  Tally t = tally(got, detail::tag_size);
  failed += t.granted != want;
  failed += t.overlaps;
  failed += t.bytes != plain;
  SWIM_MEM_GPU_STEP(snapshot());
  failed += ps.pool.live != want || ps.pool.bytes_in_use != plain;
  failed += ps.hunks < min_hunks || ps.upstream.live != ps.hunks || ps.reserved != ps.hunks * hunk;
  const u64 grown = ps.hunks;
  hold_release<P><<<blocks, threads>>>(pool.get(), grants.get(), n, k, false, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_STEP(snapshot());
  // Emptied hunks are retired, not yet given back.
  failed += ps.pool.live != 0 || ps.pool.bytes_in_use != 0 || ps.hunks != grown ||
            ps.upstream.live != grown;
  hold_double_free<<<blocks, threads>>>(grants.get(), n, k, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_STEP(snapshot());
  failed += ps.pool.live != 0 || ps.pool.bytes_in_use != 0;
  // trim() gives every spare hunk back: only the (reset) head is left.
  pool_trim<P><<<1, 1>>>(pool.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_STEP(snapshot());
  failed += ps.hunks > 1 || ps.upstream.live != ps.hunks || ps.reserved != ps.hunks * hunk;

  // Phase 2: churn (allocate, stamp, check, free through the tag), then trim again.
  hold_churn<P><<<blocks, threads>>>(pool.get(), n, 8, 512, failures.get(), exhausted.get());
  SWIM_MEM_GPU_LAUNCHED();
  pool_trim<P><<<1, 1>>>(pool.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_STEP(snapshot());
  failed += ps.pool.live != 0 || ps.pool.bytes_in_use != 0 || ps.hunks > 1 ||
            ps.upstream.live != ps.hunks;

  // Destroyed in a kernel, the Pool gives its last hunk back.
  destroy_kernel<P><<<1, 1>>>(pool.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_STEP(read_stats(heap.get(), stats, st));
  failed += st.live != 0 || st.bytes_in_use != 0;
  destroy_kernel<H><<<1, 1>>>(heap.get());
  SWIM_MEM_GPU_LAUNCHED();

  u64 device_failed = 0;
  SWIM_MEM_GPU_TRY(failures.to_host(device_failed));
  failed += device_failed;
  return SWIM_MEM_GPU_OK;
}

/// Host: a single_owner Pool over a single_owner heap, by one thread.
template <class H>
int pool_single_suite(unsigned blocks, unsigned threads, std::size_t region_bytes, u64& failed) {
  using P = Pool<H, single_owner>;
  constexpr u64 objects = 64;  // about 19 KiB with tags: several 4 KiB hunks
  DeviceArray<H> heap(1);
  DeviceArray<P> pool(1);
  DeviceArray<unsigned char> memory(region_bytes);
  DeviceArray<Block> scratch(objects);
  DeviceArray<u64> failures(1);
  SWIM_MEM_GPU_TRY(heap.status());
  SWIM_MEM_GPU_TRY(pool.status());
  SWIM_MEM_GPU_TRY(memory.status());
  SWIM_MEM_GPU_TRY(scratch.status());
  SWIM_MEM_GPU_TRY(failures.status());
  pool_single<P, H><<<blocks, threads>>>(pool.get(), heap.get(), Block{memory.get(), region_bytes},
                                         4096, scratch.get(), objects, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  u64 device_failed = 0;
  SWIM_MEM_GPU_TRY(failures.to_host(device_failed));
  failed += device_failed;
  return SWIM_MEM_GPU_OK;
}

/// Bytes for an AddrSpace of `pages` pages: its in-band metadata (order table,
/// bitmaps, one tag per page) is far below 64 bytes per page, plus one page of slack
/// for aligning the base.
inline std::size_t addr_space_bytes(u64 pages, std::size_t page) {
  return static_cast<std::size_t>(pages + 1) * page + static_cast<std::size_t>(pages) * 64 + 65536;
}

}  // namespace swim::mem::device_suite

extern "C" int SWIM_MEM_LAUNCHER(check_pool)(unsigned blocks, unsigned threads) {
  using namespace swim::mem::device_suite;
  using swim::mem::AddrSpace;
  using swim::mem::Slab;
  using swim::mem::concurrent;
  using swim::mem::single_owner;
  if (const int s = no_device_or_zero(); s != SWIM_MEM_GPU_OK) return s;
  const u64 hunks = static_cast<u64>(blocks) * threads * 4 + 2;
  u64 failed = 0;
  SWIM_MEM_GPU_STEP(pool_suite<Slab<concurrent, true>>(blocks, threads, slab_bytes(hunks, 4096),
                                                       failed));
  SWIM_MEM_GPU_STEP(pool_suite<AddrSpace<concurrent, true>>(
      blocks, threads, addr_space_bytes(hunks, 4096), failed));
  SWIM_MEM_GPU_STEP(pool_single_suite<Slab<single_owner, true>>(blocks, threads,
                                                                slab_bytes(64, 4096), failed));
  SWIM_MEM_GPU_STEP(pool_single_suite<AddrSpace<single_owner, true>>(
      blocks, threads, addr_space_bytes(64, 4096), failed));
  return failures_status(failed);
}

// ---- AddrSpace -----------------------------------------------------------------------------

namespace swim::mem::device_suite {

/// Pages per request: 1..16, rounded up by the heap to a power of two.
SWIM_MEM_API inline std::size_t request_pages(u64 i, unsigned j) {
  return 1 + static_cast<std::size_t>((i * 7 + j * 3) % 16);
}

/// Each thread takes k page blocks: the whole power-of-two block, aligned to its size
/// (up to max_align), inside the region, every page stamped.
template <class A>
__global__ void as_alloc(A* a, Block region, Grant* out, u64 n, unsigned k, unsigned oom_retries,
                         u64* failures) {
  const u64 i = global_id();
  if (i >= n) return;
  const std::size_t page = a->page_size();
  const std::size_t max_align = a->max_align();
  for (unsigned j = 0; j < k; ++j) {
    const std::size_t pages = request_pages(i, j);
    unsigned tries = 0;
    const Result<Block> r = allocate_bounded(*a, Layout{pages * page, 8}, oom_retries, tries);
    record(out[i * k + j], r, tries);
    if (!r.ok()) continue;
    const std::size_t bytes = pow2_at_least(pages) * page;
    const bool inside = region.contains(r->ptr, r->size);
    check(inside && r->size == bytes && r->address() % detail::min_of(bytes, max_align) == 0,
          failures);
    if (inside) fill_pages(*r, page, stamp(i, j));
  }
}

/// Thread t checks and frees the blocks of thread partner(t).
template <class A>
__global__ void as_release(A* a, Block region, const Grant* in, u64 n, unsigned k,
                           u64* failures) {
  const u64 t = global_id();
  if (t >= n) return;
  const u64 i = partner(t, n);
  for (unsigned j = 0; j < k; ++j) {
    const Grant g = in[i * k + j];
    if (g.error != kOk || !region.contains(g.block.ptr, g.block.size)) continue;
    check(pages_intact(g.block, a->page_size(), stamp(i, j)), failures);
    check(free_bounded([&] { return a->try_deallocate(g.block); }) == Error::none, failures);
  }
}

/// After every block was freed (and nothing allocates): a second free is a double
/// free (checked), a pointer that is not page-aligned is foreign; nothing changes.
template <class A>
__global__ void as_misuse(A* a, const Grant* in, u64 n, unsigned k, bool checked, u64* failures) {
  const u64 i = global_id();
  if (i >= n) return;
  for (unsigned j = 0; j < k; ++j) {
    const Grant g = in[i * k + j];
    if (g.error != kOk) continue;
    if (checked) check(a->try_deallocate(g.block) == Error::double_free, failures);
    check(a->try_deallocate(Block{g.block.begin() + 64, g.block.size - 64}) ==
              Error::foreign_pointer,
          failures);
  }
}

/// One thread, on a quiescent heap with nothing live: free blocks have coalesced, so
/// the largest block there is can be allocated (and freed) again.
template <class A>
__global__ void as_whole(A* a, u64* failures) {
  if (global_id() != 0) return;
  const Stats before = a->stats();
  const Result<Block> r = a->try_allocate(Layout{a->max_block(), 8});
  check(r.ok() && r->size == a->max_block(), failures);
  if (r.ok()) check(a->try_deallocate(*r) == Error::none, failures);
  const Stats after = a->stats();
  check(before.live == 0 && after.live == 0 && after.bytes_in_use == 0 &&
            after.bytes_free == a->capacity(),
        failures);
}

/// Allocate 1..4 pages, stamp, check, free, `rounds` times per thread on a small heap.
/// Splits race with merges. Exhaustion is counted, not a failure.
template <class A>
__global__ void as_churn(A* a, Block region, u64 n, unsigned rounds, u64* failures,
                         u64* exhausted) {
  const u64 i = global_id();
  if (i >= n) return;
  const std::size_t page = a->page_size();
  for (unsigned r = 0; r < rounds; ++r) {
    const std::size_t pages = 1 + static_cast<std::size_t>((i + r) % 4);
    unsigned tries = 0;
    const Result<Block> b = allocate_bounded(*a, Layout{pages * page, 8}, kNoOomRetry, tries);
    if (!b.ok()) {
      count_failure(b.error(), exhausted, failures);
      continue;
    }
    if (!region.contains(b->ptr, b->size)) {
      check(false, failures);
      continue;
    }
    const u64 v = stamp(i, r);
    fill_pages(*b, page, v);
    check(pages_intact(*b, page, v), failures);
    check(free_bounded([&] { return a->try_deallocate(*b); }) == Error::none, failures);
  }
}

/// One thread, an AddrSpace of either mode: argument errors, fill until out_of_memory
/// (which changes nothing), disjoint blocks, every byte back, the largest block after
/// coalescing, double frees (checked) and foreign pointers.
template <class A>
__global__ void as_single(A* at, Block region, std::size_t page, Block* scratch, u64 scratch_n,
                          bool checked, u64* failures) {
  if (global_id() != 0) return;  // one thread, whatever the mode
  A* a = ::new (static_cast<void*>(at)) A(region, page);
  check(a->init_error() == Error::none, failures);
  const std::size_t cap = a->capacity();
  const std::size_t top = a->max_block();
  if (cap == 0 || cap / page + 1 > scratch_n) {
    check(false, failures);
    a->~A();
    return;
  }
  check(a->try_allocate(Layout{top + 1, 8}).error() == Error::oversized, failures);
  check(a->try_allocate(Layout{page, a->max_align() * 2}).error() == Error::misaligned, failures);
  const Result<Block> z = a->try_allocate(Layout{0, 8});
  check(z.ok() && z->size == 0 && a->stats().live == 0, failures);

  u64 count = 0;
  std::size_t used = 0;
  bool exhausted = false;
  for (; count < scratch_n; ++count) {
    const Result<Block> r = a->try_allocate(Layout{(1 + count % 3) * page, 8});
    if (!r.ok()) {
      check(r.error() == Error::out_of_memory, failures);
      exhausted = true;
      break;
    }
    check(region.contains(r->ptr, r->size), failures);
    scratch[count] = *r;
    used += r->size;
    fill_pages(*r, page, stamp(count, 0));
  }
  Stats s = a->stats();
  check(exhausted && s.live == count && s.bytes_in_use == used && used <= cap, failures);
  for (u64 q = 0; q < count; ++q) check(pages_intact(scratch[q], page, stamp(q, 0)), failures);
  // Odd blocks first, then even ones: merges happen in both directions.
  for (u64 parity = 1; parity < 3; ++parity) {
    for (u64 q = parity % 2; q < count; q += 2) {
      check(a->try_deallocate(scratch[q]) == Error::none, failures);
    }
  }
  s = a->stats();
  check(s.live == 0 && s.bytes_in_use == 0 && s.bytes_free == cap, failures);
  const Result<Block> whole = a->try_allocate(Layout{top, 8});
  check(whole.ok() && whole->size == top, failures);
  if (whole.ok()) {
    fill_pages(*whole, page, stamp(1, 1));
    check(pages_intact(*whole, page, stamp(1, 1)), failures);
    check(a->try_deallocate(*whole) == Error::none, failures);
    if (checked) check(a->try_deallocate(*whole) == Error::double_free, failures);
    check(a->try_deallocate(Block{whole->begin() + 64, page}) == Error::foreign_pointer, failures);
  }
  check(a->stats().live == 0, failures);
  a->~A();
}

/// Host: the AddrSpace phases with pages of `page` bytes.
inline int addr_space_suite(unsigned blocks, unsigned threads, std::size_t page, u64& failed) {
  using A = AddrSpace<concurrent, true>;
  constexpr unsigned k = 1;
  const u64 n = static_cast<u64>(blocks) * threads;
  const u64 want = n * k;
  u64 demand = 0;  // pages, as the heap rounds them
  for (u64 i = 0; i < n; ++i) {
    for (unsigned j = 0; j < k; ++j) demand += pow2_at_least(request_pages(i, j));
  }
  // Twice the demand: concurrent splits may take a larger block than a sequential
  // best fit would, so the room is generous; transient out_of_memory is retried.
  const std::size_t plenty = addr_space_bytes(2 * demand + 64, page);
  const std::size_t short_of = addr_space_bytes(demand / 3 + 16, page);
  const std::size_t churn_bytes = addr_space_bytes(256, page);
  constexpr u64 single_pages = 64;
  const std::size_t single_bytes = addr_space_bytes(single_pages, page);
  DeviceArray<A> heap(1);
  DeviceArray<HeapInfo> info(1);
  DeviceArray<unsigned char> memory(plenty);
  DeviceArray<Grant> grants(want);
  DeviceArray<u64> failures(1);
  DeviceArray<u64> exhausted(1);
  DeviceArray<Stats> stats(1);
  DeviceArray<AddrSpace<single_owner, true>> single(1);
  DeviceArray<AddrSpace<single_owner, false>> single_unchecked(1);
  DeviceArray<Block> scratch(single_bytes / page + 2);
  SWIM_MEM_GPU_TRY(heap.status());
  SWIM_MEM_GPU_TRY(info.status());
  SWIM_MEM_GPU_TRY(memory.status());
  SWIM_MEM_GPU_TRY(grants.status());
  SWIM_MEM_GPU_TRY(failures.status());
  SWIM_MEM_GPU_TRY(exhausted.status());
  SWIM_MEM_GPU_TRY(stats.status());
  SWIM_MEM_GPU_TRY(single.status());
  SWIM_MEM_GPU_TRY(single_unchecked.status());
  SWIM_MEM_GPU_TRY(scratch.status());
  std::vector<Grant> got;
  HeapInfo in{};
  Stats st{};

  // Phase 1: plenty of room. All granted, disjoint, stamped; partners free them; then
  // misuse is reported, and the largest block is whole again.
  const Block all{memory.get(), plenty};
  heap_init<A><<<1, 1>>>(heap.get(), all, page, info.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(info.to_host(in));
  failed += in.error != kOk || in.count < 2 * demand || in.max_block < 16 * page;
  as_alloc<A><<<blocks, threads>>>(heap.get(), all, grants.get(), n, k, kOomRetries,
                                   failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(grants.to_host(got));
  Tally t = tally(got, 0);
  failed += t.granted != want;
  failed += t.overlaps;
  failed += t.bytes != demand * page;
  SWIM_MEM_GPU_STEP(read_stats(heap.get(), stats, st));
  failed += st.live != want || st.bytes_in_use != demand * page ||
            st.bytes_free != in.capacity - demand * page;
  as_release<A><<<blocks, threads>>>(heap.get(), all, grants.get(), n, k, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_STEP(read_stats(heap.get(), stats, st));
  failed += st.live != 0 || st.bytes_in_use != 0 || st.bytes_free != in.capacity;
  as_misuse<A><<<blocks, threads>>>(heap.get(), grants.get(), n, k, true, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  as_whole<A><<<1, 1>>>(heap.get(), failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  destroy_kernel<A><<<1, 1>>>(heap.get());
  SWIM_MEM_GPU_LAUNCHED();

  // Phase 2: a third of the demand. Granted or out_of_memory, disjoint, within the
  // capacity; after the frees everything has coalesced again.
  const Block few{memory.get(), short_of};
  heap_init<A><<<1, 1>>>(heap.get(), few, page, info.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(info.to_host(in));
  failed += in.error != kOk;
  as_alloc<A><<<blocks, threads>>>(heap.get(), few, grants.get(), n, k, kSomeOomRetries,
                                   failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(grants.to_host(got));
  t = tally(got, 0);
  failed += t.overlaps;
  failed += t.other;
  failed += t.granted + t.out_of_memory != want;
  failed += t.bytes > in.capacity;
  SWIM_MEM_GPU_STEP(read_stats(heap.get(), stats, st));
  failed += st.live != t.granted || st.bytes_in_use != t.bytes;
  as_release<A><<<blocks, threads>>>(heap.get(), few, grants.get(), n, k, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  as_whole<A><<<1, 1>>>(heap.get(), failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  destroy_kernel<A><<<1, 1>>>(heap.get());
  SWIM_MEM_GPU_LAUNCHED();

  // Phase 3: churn on 256 pages. Afterwards nothing is live and every byte is free
  // (a merge that lost too many races may leave a pair of buddies unmerged, so the
  // largest block is not asked for here).
  const Block churn{memory.get(), churn_bytes};
  heap_init<A><<<1, 1>>>(heap.get(), churn, page, info.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(info.to_host(in));
  failed += in.error != kOk;
  as_churn<A><<<blocks, threads>>>(heap.get(), churn, n, 8, failures.get(), exhausted.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_STEP(read_stats(heap.get(), stats, st));
  failed += st.live != 0 || st.bytes_in_use != 0 || st.bytes_free != in.capacity;
  destroy_kernel<A><<<1, 1>>>(heap.get());
  SWIM_MEM_GPU_LAUNCHED();

  // Phase 4: single_owner AddrSpaces (checked and not), by one thread.
  const Block small{memory.get(), single_bytes};
  as_single<AddrSpace<single_owner, true>><<<blocks, threads>>>(
      single.get(), small, page, scratch.get(), single_bytes / page + 2, true, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  as_single<AddrSpace<single_owner, false>><<<blocks, threads>>>(
      single_unchecked.get(), small, page, scratch.get(), single_bytes / page + 2, false,
      failures.get());
  SWIM_MEM_GPU_LAUNCHED();

  u64 device_failed = 0;
  SWIM_MEM_GPU_TRY(failures.to_host(device_failed));
  failed += device_failed;
  return SWIM_MEM_GPU_OK;
}

}  // namespace swim::mem::device_suite

extern "C" int SWIM_MEM_LAUNCHER(check_addr_space)(unsigned blocks, unsigned threads) {
  using namespace swim::mem::device_suite;
  if (const int s = no_device_or_zero(); s != SWIM_MEM_GPU_OK) return s;
  u64 failed = 0;
  SWIM_MEM_GPU_STEP(addr_space_suite(blocks, threads, 4096, failed));
  SWIM_MEM_GPU_STEP(addr_space_suite(blocks, threads, 256, failed));
  return failures_status(failed);
}

#undef SWIM_MEM_GPU_STEP

#undef SWIM_MEM_GPU_LAUNCHED
#undef SWIM_MEM_GPU_TRY
