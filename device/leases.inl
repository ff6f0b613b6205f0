// The device suite, leases: Raw, Ptr, Box, Buf, stow, the shared family (Hard,
// Soft, Ref, Mut; try forms only) and parallel compaction inside kernels, written
// once for CUDA and HIP.
//
// Included by leases.cu (nvcc) and leases.hip (clang HIP), never compiled on its
// own. Before including it, the translation unit defines
//   SWIM_MEM_LAUNCHER(name)   the C name of a launcher (see launchers.hpp), and
//   namespace swim_mem_lease_gpu   a thin runtime shim: error_t, success, allocate,
//                             release, to_host, zero, synchronize, launch_error,
//                             device_count, describe, stack_size, set_stack_size.
// Same conventions as kernels.inl: kernels plus extern "C" launchers that return a
// status; allocators built by placement new in one-thread kernels, in device memory.
// No gtest here (clang-15 crashes on it as C++20 HIP).
//
// What one thread does (counters, checks, LeaseNode/CycleNode, the exclusive, stow,
// shared-family and scope steps, lease_worker, arc_make/arc_share/arc_after/
// arc_snapshot) is in lease_workers.hpp, which includes one header per lease family
// from lease_workers/: SWIM_MEM_API code with no device built-in, which
// tests/test_device_workers.cpp also runs on the host with std::threads, so CI
// checks the workers' logic without a GPU. This file adds the kernels that call
// them (section 4) and the launchers (section 5); lease_compaction.inl, included at
// the end, adds check_compaction's. A failed check's line, in last_error(), is a line
// of one of the headers in lease_workers/.
//
// Compile time: the library's allocation and free paths (HoldRef::try_allocate
// reaches every heap HeapRef knows) are large; the library keeps them out of line
// (SWIM_MEM_NOINLINE), and so do the workers with their per-thread steps
// (SWIM_MEM_LEASES_NOINLINE), so that each is compiled once. Each lease type is
// instantiated with as few initializers as possible (one try_push overload, one
// retry helper per shape), and every scenario runs through the same kernels (an
// exhaustion run is the same kernel on a smaller heap). Measure with `nvcc --time`
// after a change: with those paths inlined, ptxas needed about 7 CPU minutes and
// 9 GB for this file, per architecture; out of line, about 10 s and 0.4 GB.

#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <new>

#include "launchers.hpp"
#include "lease_workers.hpp"

namespace swim::mem::device_leases {

// ---- 4. Kernels ------------------------------------------------------------------------

SWIM_MEM_DEVICE inline u64 global_id() {
  return static_cast<u64>(blockIdx.x) * blockDim.x + threadIdx.x;
}

/// The shared pool and its upstream Slab at one instant (quiescent: between kernels).
struct PoolState {
  Stats pool;
  Stats heap;
  u64 hunks;
  u64 heap_units;
  u64 heap_error;
  Stats heap_after_destroy;  ///< the Slab once the Pool was destroyed
};

/// Build the Slab over `region` (units of kHunk bytes) and the Pool over it.
__global__ void pool_init(LeaseHeap* heap_at, LeasePool* pool_at, Block region, PoolState* st) {
  if (global_id() != 0) return;
  LeaseHeap* heap = ::new (static_cast<void*>(heap_at)) LeaseHeap(region, kHunk);
  ::new (static_cast<void*>(pool_at)) LeasePool(*heap, kHunk);
  st->heap_error = static_cast<u64>(heap->init_error());
  st->heap_units = heap->block_count();
}

__global__ void pool_state(const LeasePool* pool, const LeaseHeap* heap, PoolState* st) {
  if (global_id() != 0) return;
  st->pool = pool->stats();
  st->heap = heap->stats();
  st->hunks = pool->hunk_count();
}

/// Destroying the Pool gives every hunk back (it has no live object by then).
__global__ void pool_destroy(LeasePool* pool, LeaseHeap* heap, PoolState* st) {
  if (global_id() != 0) return;
  pool->~LeasePool();
  st->heap_after_destroy = heap->stats();
  heap->~LeaseHeap();
}

__global__ void lease_work(LeasePool* pool, Pack<single_owner>* packs, unsigned char* slices,
                           u64 n, bool short_heap, LeaseCounters* c) {
  const u64 i = global_id();
  if (i < n) lease_worker(pool, packs, slices, i, short_heap, c);
}

__global__ void arc_make_kernel(LeasePool* pool, HardBox* slot, u64 value, LeaseCounters* c) {
  if (global_id() == 0) arc_make(pool, slot, value, c);
}

__global__ void arc_share_kernel(const HardBox* shared, SoftBox* softs, u64 n, u64 value,
                                 LeaseCounters* c) {
  const u64 i = global_id();
  if (i < n) arc_share(shared, softs, i, n, value, c);
}

__global__ void arc_snapshot_kernel(const HardBox* shared, ArcSnapshot* out) {
  if (global_id() == 0) arc_snapshot(shared, out);
}

/// The last Hard goes: the value is destroyed, the block stays for the Softs.
__global__ void arc_drop_kernel(HardBox* shared) {
  if (global_id() == 0) shared->~HardBox();
}

__global__ void arc_after_kernel(SoftBox* softs, u64 n, LeaseCounters* c) {
  const u64 i = global_id();
  if (i < n) arc_after(softs, i, c);
}

// ---- 5. Host side ------------------------------------------------------------------------

}  // namespace swim::mem::device_leases

namespace swim::mem::device_suite {
// The record of the last runtime failure in suite/common.inl (kernels.inl), which
// last_error() returns. The same inline variable (one object per program; the
// definitions must stay identical), so that this file's failures show there too.
inline const char* g_last_error = "";
}  // namespace swim::mem::device_suite

namespace swim::mem::device_leases {

inline int runtime_failure(const char* what) {
  device_suite::g_last_error = what;
  return SWIM_MEM_GPU_RUNTIME;
}

#define SWIM_MEM_LEASES_TRY(call)                                                          \
  do {                                                                                     \
    const swim_mem_lease_gpu::error_t swim_mem_leases_e_ = (call);                         \
    if (swim_mem_leases_e_ != swim_mem_lease_gpu::success) {                               \
      return ::swim::mem::device_leases::runtime_failure(                                  \
          swim_mem_lease_gpu::describe(swim_mem_leases_e_));                               \
    }                                                                                      \
  } while (0)

// A kernel launch: its own error, then the kernel's (a fault surfaces at sync).
#define SWIM_MEM_LEASES_LAUNCHED()                         \
  do {                                                     \
    SWIM_MEM_LEASES_TRY(swim_mem_lease_gpu::launch_error()); \
    SWIM_MEM_LEASES_TRY(swim_mem_lease_gpu::synchronize());  \
  } while (0)

#define SWIM_MEM_LEASES_STEP(...)                                          \
  do {                                                                     \
    const int swim_mem_leases_s_ = (__VA_ARGS__);                         \
    if (swim_mem_leases_s_ != SWIM_MEM_GPU_OK) return swim_mem_leases_s_; \
  } while (0)

/// Device memory for n T's, zero-filled, freed on scope exit.
template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t n) : n_(n) {
    status_ = swim_mem_lease_gpu::allocate(reinterpret_cast<void**>(&p_),
                                           n == 0 ? 1 : n * sizeof(T));
    if (status_ == swim_mem_lease_gpu::success) status_ = swim_mem_lease_gpu::zero(p_, n * sizeof(T));
  }
  ~DeviceBuffer() {
    if (p_ != nullptr) (void)swim_mem_lease_gpu::release(p_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  swim_mem_lease_gpu::error_t status() const { return status_; }
  T* get() const { return p_; }
  swim_mem_lease_gpu::error_t to_host(T& out) const {
    return swim_mem_lease_gpu::to_host(&out, p_, sizeof(T));
  }

 private:
  T* p_ = nullptr;
  std::size_t n_;
  swim_mem_lease_gpu::error_t status_ = swim_mem_lease_gpu::success;
};

inline int no_device() {
  int n = 0;
  if (swim_mem_lease_gpu::device_count(&n) != swim_mem_lease_gpu::success || n == 0) {
    device_suite::g_last_error = "no device";
    return SWIM_MEM_GPU_NO_DEVICE;
  }
  return SWIM_MEM_GPU_OK;
}

/// Stow and the lease destructors recurse once per list node (a handful of frames
/// of about 150 bytes each); CUDA's default stack of 1 KiB per thread is too small
/// for that, so the launchers raise it for their kernels and put it back after.
inline constexpr std::size_t kStackBytes = 8 * 1024;

class StackLimit {
 public:
  StackLimit() {
    status_ = swim_mem_lease_gpu::stack_size(&old_);
    if (status_ == swim_mem_lease_gpu::success && old_ < kStackBytes) {
      status_ = swim_mem_lease_gpu::set_stack_size(kStackBytes);
      raised_ = status_ == swim_mem_lease_gpu::success;
    }
  }
  ~StackLimit() {
    if (raised_) (void)swim_mem_lease_gpu::set_stack_size(old_);
  }
  StackLimit(const StackLimit&) = delete;
  StackLimit& operator=(const StackLimit&) = delete;
  swim_mem_lease_gpu::error_t status() const { return status_; }

 private:
  std::size_t old_ = 0;
  bool raised_ = false;
  swim_mem_lease_gpu::error_t status_ = swim_mem_lease_gpu::success;
};

inline int failures_status(u64 failures) {
  return failures > static_cast<u64>(INT_MAX) ? INT_MAX : static_cast<int>(failures);
}

/// Turn the counts into a status; name the first failed check in last_error().
inline int report(u64 failed, const LeaseCounters& c, const char* what) {
  static char message[224];
  if (failed != 0) {
    if (c.first_failure != 0) {
      std::snprintf(message, sizeof message,
                    "%s: first failed device check at line %llu of a lease_workers/ header%s%s",
                    what, c.first_failure, c.first_error != 0 ? ", error " : "",
                    c.first_error != 0 ? to_string(static_cast<Error>(c.first_error)) : "");
    } else {
      std::snprintf(message, sizeof message, "%s: a host-side count was off", what);
    }
    device_suite::g_last_error = message;
  }
  return failures_status(failed);
}

/// The shared Pool over a Slab of `units` units, built in device memory.
struct DevicePool {
  explicit DevicePool(u64 units)
      : bytes(slab_bytes(units, kHunk)), heap(1), pool(1), memory(bytes), state(1) {}
  std::size_t bytes;
  DeviceBuffer<LeaseHeap> heap;
  DeviceBuffer<LeasePool> pool;
  DeviceBuffer<unsigned char> memory;
  DeviceBuffer<PoolState> state;

  int status() const {
    SWIM_MEM_LEASES_TRY(heap.status());
    SWIM_MEM_LEASES_TRY(pool.status());
    SWIM_MEM_LEASES_TRY(memory.status());
    SWIM_MEM_LEASES_TRY(state.status());
    return SWIM_MEM_GPU_OK;
  }
  int init(PoolState& out) {
    pool_init<<<1, 1>>>(heap.get(), pool.get(), Block{memory.get(), bytes}, state.get());
    SWIM_MEM_LEASES_LAUNCHED();
    SWIM_MEM_LEASES_TRY(state.to_host(out));
    return SWIM_MEM_GPU_OK;
  }
  int read(PoolState& out) {
    pool_state<<<1, 1>>>(pool.get(), heap.get(), state.get());
    SWIM_MEM_LEASES_LAUNCHED();
    SWIM_MEM_LEASES_TRY(state.to_host(out));
    return SWIM_MEM_GPU_OK;
  }
  int destroy(PoolState& out) {
    pool_destroy<<<1, 1>>>(pool.get(), heap.get(), state.get());
    SWIM_MEM_LEASES_LAUNCHED();
    SWIM_MEM_LEASES_TRY(state.to_host(out));
    return SWIM_MEM_GPU_OK;
  }
};

/// One run of lease_work on blocks x threads. Plenty: 16 hunks per thread, more
/// than the work can hold at once. `short_heap`: a single hunk for the whole grid,
/// less than one thread's pool work holds at its peak (a 16-element Buf, the two
/// blockers and the 32-element Buf it moves to: 248 bytes with tags, in 192), so
/// every thread meets out_of_memory at least once, whatever the interleaving.
inline int lease_run(unsigned blocks, unsigned threads, bool short_heap, u64& failed,
                     LeaseCounters& got) {
  const u64 n = static_cast<u64>(blocks) * threads;
  DevicePool dp(short_heap ? 1 : n * 16 + 64);
  DeviceBuffer<Pack<single_owner>> packs(2 * n);
  DeviceBuffer<unsigned char> slices(n * kSlice);
  DeviceBuffer<LeaseCounters> counters(1);
  SWIM_MEM_LEASES_STEP(dp.status());
  SWIM_MEM_LEASES_TRY(packs.status());
  SWIM_MEM_LEASES_TRY(slices.status());
  SWIM_MEM_LEASES_TRY(counters.status());
  PoolState st{};
  SWIM_MEM_LEASES_STEP(dp.init(st));
  failed += st.heap_error != 0 || st.heap_units == 0;

  lease_work<<<blocks, threads>>>(dp.pool.get(), packs.get(), slices.get(), n, short_heap,
                                  counters.get());
  SWIM_MEM_LEASES_LAUNCHED();
  SWIM_MEM_LEASES_TRY(counters.to_host(got));
  failed += got.failures;

  // Every thread's Bufs went through the same growths in its private Pack, and its
  // private work never runs short.
  failed += got.grown_in_place != kInPlace * n || got.moved != kMoved * n;
  failed += got.stowed + got.stow_refused != n || got.rolled_back != n;
  failed += got.arc_stowed + got.arc_refused != n || got.arc_rolled_back != n;
  failed += got.scoped + got.scope_refused != n || got.scope_leaks != 0;
  if (short_heap) {
    failed += got.exhausted < n;  // the point of the run: errors, not crashes
  } else {
    failed += got.exhausted != 0 || got.stow_refused != 0 || got.arc_refused != 0 ||
              got.scope_refused != 0;
    failed += got.leases != 4 * n || got.bufs != 2 * n;
  }

  // Everything was freed: nothing live in the pool; the heap holds just its hunks;
  // destroying the pool gives them all back.
  SWIM_MEM_LEASES_STEP(dp.read(st));
  failed += st.pool.live != 0 || st.pool.bytes_in_use != 0;
  failed += st.heap.live != st.hunks;
  SWIM_MEM_LEASES_STEP(dp.destroy(st));
  failed += st.heap_after_destroy.live != 0;
  return SWIM_MEM_GPU_OK;
}

/// The shared family on blocks x threads (see launchers.hpp).
inline int shared_run(unsigned blocks, unsigned threads, u64& failed, LeaseCounters& got) {
  using S = ArcStatus;
  const u64 n = static_cast<u64>(blocks) * threads;
  constexpr u64 value = 1000;
  DevicePool dp(64);
  DeviceBuffer<HardBox> shared(1);
  DeviceBuffer<SoftBox> softs(n);
  DeviceBuffer<LeaseCounters> counters(1);
  DeviceBuffer<ArcSnapshot> snap(1);
  SWIM_MEM_LEASES_STEP(dp.status());
  SWIM_MEM_LEASES_TRY(shared.status());
  SWIM_MEM_LEASES_TRY(softs.status());
  SWIM_MEM_LEASES_TRY(counters.status());
  SWIM_MEM_LEASES_TRY(snap.status());
  PoolState st{};
  ArcSnapshot as{};
  SWIM_MEM_LEASES_STEP(dp.init(st));
  failed += st.heap_error != 0;

  // One Hard, made by one thread.
  arc_make_kernel<<<1, 1>>>(dp.pool.get(), shared.get(), value, counters.get());
  SWIM_MEM_LEASES_LAUNCHED();
  SWIM_MEM_LEASES_TRY(counters.to_host(got));
  if (got.made != 1) {
    failed += 1 + got.failures;
    SWIM_MEM_LEASES_STEP(dp.destroy(st));
    return SWIM_MEM_GPU_OK;
  }

  // Every thread clones it, borrows, keeps a Soft, and drops the rest.
  arc_share_kernel<<<blocks, threads>>>(shared.get(), softs.get(), n, value, counters.get());
  SWIM_MEM_LEASES_LAUNCHED();
  arc_snapshot_kernel<<<1, 1>>>(shared.get(), snap.get());
  SWIM_MEM_LEASES_LAUNCHED();
  SWIM_MEM_LEASES_TRY(counters.to_host(got));
  SWIM_MEM_LEASES_TRY(snap.to_host(as));
  failed += got.cloned + got.clone_contended != n;
  failed += got.muts + got.mut_contended + got.refs + got.ref_contended != got.cloned;
  failed += got.polled > got.refs;
  failed += got.upgraded > got.softs || (got.softs != 0 && got.upgraded == 0);
  if (n == 1) {
    failed += got.cloned != 1 || got.polled + got.muts != 1 || got.softs != 1;
    failed += got.upgraded != 1 || got.poll_busy != 0;
  }
  // Back to one Hard, no borrow, a Soft per thread; every Mut's increment is there.
  failed += S::hard(as.status) != 1 || S::ref(as.status) != 0 || S::soft(as.status) != got.softs;
  failed += (as.status & (S::mut_flag | S::relocated_flag)) != 0;
  failed += as.read_ok != 1 || as.value != value + got.muts;

  // The last Hard goes: the block stays for the Softs, which now report cleared.
  arc_drop_kernel<<<1, 1>>>(shared.get());
  SWIM_MEM_LEASES_LAUNCHED();
  SWIM_MEM_LEASES_STEP(dp.read(st));
  failed += st.pool.live != (got.softs != 0 ? std::size_t{1} : std::size_t{0});
  arc_after_kernel<<<blocks, threads>>>(softs.get(), n, counters.get());
  SWIM_MEM_LEASES_LAUNCHED();
  SWIM_MEM_LEASES_TRY(counters.to_host(got));
  failed += got.failures;
  failed += got.cleared != got.softs;

  // The last Soft freed the block.
  SWIM_MEM_LEASES_STEP(dp.read(st));
  failed += st.pool.live != 0 || st.pool.bytes_in_use != 0;
  SWIM_MEM_LEASES_STEP(dp.destroy(st));
  failed += st.heap_after_destroy.live != 0;
  return SWIM_MEM_GPU_OK;
}

}  // namespace swim::mem::device_leases

extern "C" int SWIM_MEM_LAUNCHER(check_leases)(unsigned blocks, unsigned threads) {
  using namespace swim::mem::device_leases;
  if (const int s = no_device(); s != SWIM_MEM_GPU_OK) return s;
  const StackLimit stack;
  SWIM_MEM_LEASES_TRY(stack.status());
  u64 failed = 0;
  LeaseCounters plenty{}, scarce{};
  SWIM_MEM_LEASES_STEP(lease_run(blocks, threads, false, failed, plenty));
  if (failed != 0) return report(failed, plenty, "check_leases");
  SWIM_MEM_LEASES_STEP(lease_run(blocks, threads, true, failed, scarce));
  return report(failed, scarce, "check_leases (short heap)");
}

extern "C" int SWIM_MEM_LAUNCHER(check_shared_leases)(unsigned blocks, unsigned threads) {
  using namespace swim::mem::device_leases;
  if (const int s = no_device(); s != SWIM_MEM_GPU_OK) return s;
  const StackLimit stack;
  SWIM_MEM_LEASES_TRY(stack.status());
  u64 failed = 0;
  LeaseCounters got{};
  SWIM_MEM_LEASES_STEP(shared_run(blocks, threads, failed, got));
  return report(failed, got, "check_shared_leases");
}

// check_compaction: its kernels and launcher, on the helpers above.
#include "lease_compaction.inl"

#undef SWIM_MEM_LEASES_STEP
#undef SWIM_MEM_LEASES_LAUNCHED
#undef SWIM_MEM_LEASES_TRY
#undef SWIM_MEM_LEASES_NOTE
#undef SWIM_MEM_LEASES_EXPECT
#undef SWIM_MEM_LEASES_NOINLINE
