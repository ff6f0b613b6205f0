// The device suite: kernels and their host launchers, written once for CUDA and HIP.
//
// Included by kernels.cu (nvcc) and kernels.hip (clang HIP), never compiled on its
// own. Before including it, the translation unit defines
//   SWIM_MEM_LAUNCHER(name)   the C name of a launcher (see launchers.hpp), and
//   namespace swim_mem_gpu    a thin runtime shim: error_t, success, allocate,
//                             release, to_host, to_device, zero, synchronize,
//                             launch_error, device_count, describe, and
//                             device_source (the runtime's device memory source).
// Kernels use only what both languages share: __global__, <<<blocks, threads>>>,
// blockIdx/blockDim/threadIdx, and swim-mem's own portable headers.
//
// The suite is one translation unit per language, written as one file per section
// in suite/ and included here in order:
//   suite/common.inl         shared helpers (DeviceArray, the SWIM_MEM_GPU_* macros,
//                            global_id, check, Grant, tally), device_count, last_error
//   suite/layout.inl         check_layout
//   suite/atomics.inl        check_atomics
//   suite/static_region.inl  check_static_region
//   suite/allocators.inl     what the allocator checks share (HeapInfo, build/destroy
//                            kernels, bounded retries, stamps, slab_bytes, ...)
//   suite/holds.inl          the hold kernels that pack.inl and pool.inl share
//   suite/slab.inl           check_slab
//   suite/pack.inl           check_pack
//   suite/pool.inl           check_pool
//   suite/addr_space.inl     check_addr_space
//   suite/extent.inl         check_extent_heap, check_device_buffers (host-managed
//                            device memory: ExtentArena, DeviceBuf, compaction)
//   suite/size_classes.inl   check_size_classes
//   suite/warp_front.inl     check_warp_front (lane work: device/warp_workers.hpp)
// Each file includes the ones it builds on; they all keep #pragma once.
//
// Adding an allocator kernel: write the kernels and a launcher in a new suite/ file,
// include it below, declare the launcher in launchers.hpp, and call it from
// gpu_tests.cpp and hip_runner.cpp.
//
// No gtest here: clang-15 crashes compiling <gtest/gtest.h> as C++20 HIP.

#include "suite/common.inl"
#include "suite/layout.inl"
#include "suite/atomics.inl"
#include "suite/static_region.inl"
#include "suite/allocators.inl"
#include "suite/holds.inl"
#include "suite/slab.inl"
#include "suite/pack.inl"
#include "suite/pool.inl"
#include "suite/addr_space.inl"
#include "suite/extent.inl"
#include "suite/size_classes.inl"
#include "suite/warp_front.inl"

// The macros of suite/common.inl and suite/allocators.inl end with the suite.
#undef SWIM_MEM_GPU_STEP
#undef SWIM_MEM_GPU_LAUNCHED
#undef SWIM_MEM_GPU_TRY
