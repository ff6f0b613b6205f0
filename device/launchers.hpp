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

}  // extern "C"
