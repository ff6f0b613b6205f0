// Host launchers of the device suite: plain C functions, so that a test driver
// needs neither the GPU runtime's headers nor the GPU compiler (the HIP runner is
// compiled by g++; gtest stays out of .hip files, see README.md).
//
// Include after defining SWIM_MEM_LAUNCHER(name) to the backend's prefix:
//   #define SWIM_MEM_LAUNCHER(name) swim_mem_cuda_##name   (kernels.cu, gpu_tests.cpp)
//   #define SWIM_MEM_LAUNCHER(name) swim_mem_hip_##name    (kernels.hip, hip_runner.cpp)
// The definitions in kernels.inl see these same declarations, so a signature
// that drifts is a compile error ("conflicting declaration of C function").
//
// Every check_* launcher returns a status:
//    0                       every check passed
//   > 0                      the number of failed checks (capped at INT_MAX)
//   SWIM_MEM_GPU_NO_DEVICE   the runtime reports no device
//   SWIM_MEM_GPU_RUNTIME     a runtime call or a kernel launch failed; see last_error()
#ifndef SWIM_MEM_LAUNCHER
#error "define SWIM_MEM_LAUNCHER(name) before including device/launchers.hpp"
#endif

#ifndef SWIM_MEM_DEVICE_LAUNCHER_STATUS
#define SWIM_MEM_DEVICE_LAUNCHER_STATUS
enum swim_mem_gpu_status : int {
  SWIM_MEM_GPU_OK = 0,
  SWIM_MEM_GPU_NO_DEVICE = -1,
  SWIM_MEM_GPU_RUNTIME = -2,
};
#endif

extern "C" {

/// Devices the runtime sees (>= 0), or minus the runtime's error code.
int SWIM_MEM_LAUNCHER(device_count)(void);

/// What the last SWIM_MEM_GPU_RUNTIME status of this thread was about ("" if none).
const char* SWIM_MEM_LAUNCHER(last_error)(void);

/// Layout arithmetic on blocks x threads device threads: every result equals the
/// host's, and the overflow/alignment error codes are the documented ones.
int SWIM_MEM_LAUNCHER(check_layout)(unsigned blocks, unsigned threads);

/// atomic_ref and cell (concurrent and single_owner) under contention: no lost
/// update in fetch_add/sub/or/and, exchange, bounded CAS loops and raise_to.
int SWIM_MEM_LAUNCHER(check_atomics)(unsigned blocks, unsigned threads, unsigned iterations);

/// StaticRegion<RegionAccess::device> built in device memory and bumped by every
/// thread at once: blocks aligned, inside, disjoint (by address and by content);
/// exhaustion is out_of_memory; acquire/release storms keep the bump consistent.
int SWIM_MEM_LAUNCHER(check_static_region)(unsigned blocks, unsigned threads);

// The allocator checks. Every allocator is built in device memory by placement new in
// a kernel and destroyed in one; concurrent ones are driven by all blocks x threads
// threads, single_owner ones by thread 0 of block 0 alone. Device memory of a few
// hundred MiB is used at 132 x 256 (the Pool's upstream holds a 4 KiB hunk per object).

/// Slab<concurrent, true> and Slab<concurrent, false>: k units per thread, every unit
/// owned by one thread at a time (a per-unit owner word claimed with a CAS), stamps
/// intact, half of the frees by another thread; exhaustion is out_of_memory with every
/// unit handed out; alloc/free churn; live == 0 afterwards; double frees (checked) and
/// foreign pointers reported. Slab<single_owner, *> by one thread.
int SWIM_MEM_LAUNCHER(check_slab)(unsigned blocks, unsigned threads);

/// Pack<concurrent> bumped by every thread (alignments 8..256): aligned, disjoint (tags
/// included), intact; LIFO frees through the tag and typed; reset once all are freed
/// (bytes_free == capacity); double free through hold_deallocate; exhaustion; churn.
/// Exact LIFO/reset arithmetic by one thread on Pack<concurrent> and Pack<single_owner>.
int SWIM_MEM_LAUNCHER(check_pack)(unsigned blocks, unsigned threads);

/// Pool<Slab<concurrent, true>, concurrent> and Pool<AddrSpace<concurrent, true>,
/// concurrent>, upstream in device memory: objects of 16..512 bytes from every thread,
/// hunks grow, frees through hold_deallocate, live == 0, double frees, trim() in a
/// one-thread kernel leaves at most the head hunk upstream, churn, destruction in a
/// kernel gives every hunk back. single_owner Pools over single_owner heaps by one thread.
int SWIM_MEM_LAUNCHER(check_pool)(unsigned blocks, unsigned threads);

/// AddrSpace<concurrent, true> with 4096- and 256-byte pages: 1..16 pages per thread,
/// whole power-of-two blocks, aligned, disjoint, intact; after all frees the largest
/// block can be allocated again (coalescing); exhaustion; churn; double frees and
/// foreign pointers. AddrSpace<single_owner, true/false> by one thread.
int SWIM_MEM_LAUNCHER(check_addr_space)(unsigned blocks, unsigned threads);

}  // extern "C"
