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

inline Tally tally(const std::vector<Grant>& grants) {
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
    if (blocks[k - 1].address() + blocks[k - 1].size > blocks[k].address()) ++t.overlaps;
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

#undef SWIM_MEM_GPU_LAUNCHED
#undef SWIM_MEM_GPU_TRY
