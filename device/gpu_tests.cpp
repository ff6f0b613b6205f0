// The CUDA device suite under GoogleTest: host C++ that calls the launchers of
// kernels.cu (see launchers.hpp) and the CUDA runtime sources directly.
// Without a usable device (no GPU, or no driver) every test is SKIPPED.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>

#include "swim/mem/heaps/source_heap.hpp"
#include "swim/mem/sources/cuda_memory.hpp"

#define SWIM_MEM_LAUNCHER(name) swim_mem_cuda_##name
#include "launchers.hpp"

namespace {

class Gpu : public ::testing::Test {
 protected:
  void SetUp() override {
    int n = 0;  // cudaGetDeviceCount leaves it unwritten on failure
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      GTEST_SKIP() << "no usable CUDA device: " << cudaGetErrorString(e);
    }
    if (n == 0) GTEST_SKIP() << "no CUDA device";
  }
};

// "0 failed checks", with the runtime's word when a call failed.
::testing::AssertionResult Passed(int status) {
  if (status == SWIM_MEM_GPU_OK) return ::testing::AssertionSuccess();
  if (status < 0) {
    return ::testing::AssertionFailure()
           << "runtime failure (" << status << "): " << swim_mem_cuda_last_error();
  }
  return ::testing::AssertionFailure() << status << " failed check(s)";
}

struct Shape {
  unsigned blocks, threads;
};
// One thread, one warp, a partial block, and enough threads to fill an H100.
constexpr Shape kShapes[] = {{1, 1}, {1, 32}, {3, 100}, {264, 256}};

TEST_F(Gpu, DeviceCountMatchesTheRuntime) { EXPECT_GT(swim_mem_cuda_device_count(), 0); }

TEST_F(Gpu, LayoutAgreesWithTheHost) {
  for (const Shape& s : kShapes) {
    EXPECT_TRUE(Passed(swim_mem_cuda_check_layout(s.blocks, s.threads)))
        << s.blocks << " x " << s.threads;
  }
}

TEST_F(Gpu, AtomicsLoseNoUpdate) {
  for (const Shape& s : kShapes) {
    EXPECT_TRUE(Passed(swim_mem_cuda_check_atomics(s.blocks, s.threads, 16)))
        << s.blocks << " x " << s.threads;
  }
}

TEST_F(Gpu, StaticRegionUnderManyThreads) {
  for (const Shape& s : kShapes) {
    EXPECT_TRUE(Passed(swim_mem_cuda_check_static_region(s.blocks, s.threads)))
        << s.blocks << " x " << s.threads;
  }
}

// The allocator checks: one thread, one warp, a partial block, and one 256-thread
// block per H100 SM (132): every allocator shared by 33,792 threads at once.
constexpr Shape kAllocatorShapes[] = {{1, 1}, {1, 32}, {3, 100}, {132, 256}};

TEST_F(Gpu, SlabUnderManyThreads) {
  for (const Shape& s : kAllocatorShapes) {
    EXPECT_TRUE(Passed(swim_mem_cuda_check_slab(s.blocks, s.threads)))
        << s.blocks << " x " << s.threads;
  }
}

TEST_F(Gpu, PackUnderManyThreads) {
  for (const Shape& s : kAllocatorShapes) {
    EXPECT_TRUE(Passed(swim_mem_cuda_check_pack(s.blocks, s.threads)))
        << s.blocks << " x " << s.threads;
  }
}

TEST_F(Gpu, PoolUnderManyThreads) {
  for (const Shape& s : kAllocatorShapes) {
    EXPECT_TRUE(Passed(swim_mem_cuda_check_pool(s.blocks, s.threads)))
        << s.blocks << " x " << s.threads;
  }
}

TEST_F(Gpu, ExtentHeapUnderManyThreads) {
  for (const Shape& s : kAllocatorShapes) {
    EXPECT_TRUE(Passed(swim_mem_cuda_check_extent_heap(s.blocks, s.threads)))
        << s.blocks << " x " << s.threads;
  }
}

TEST_F(Gpu, SizeClassesUnderManyThreads) {
  for (const Shape& s : kAllocatorShapes) {
    EXPECT_TRUE(Passed(swim_mem_cuda_check_size_classes(s.blocks, s.threads)))
        << s.blocks << " x " << s.threads;
  }
}

TEST_F(Gpu, WarpFrontServesWholeWarps) {
  for (const Shape& s : kAllocatorShapes) {
    swim_mem_warp_front_figures f{};
    EXPECT_TRUE(Passed(swim_mem_cuda_check_warp_front(s.blocks, s.threads, &f)))
        << s.blocks << " x " << s.threads;
    // The measured bounds (docs/design.md, the warp front): rounds per call, re-calls.
    std::printf("warp front %u x %u: max round %llu, max re-calls %llu, largest run %llu, "
                "aggregated %llu, per lane %llu\n",
                s.blocks, s.threads, f.max_round, f.max_recalls, f.largest_run, f.aggregated, f.per_lane);
    EXPECT_LE(f.max_round, 4u);  // (also checked by every lane: at most four classes per call)
  }
}

TEST_F(Gpu, DeviceBuffersMoveWithDeviceCopies) {
  EXPECT_TRUE(Passed(swim_mem_cuda_check_device_buffers(64)));
}

TEST_F(Gpu, AddrSpaceUnderManyThreads) {
  for (const Shape& s : kAllocatorShapes) {
    EXPECT_TRUE(Passed(swim_mem_cuda_check_addr_space(s.blocks, s.threads)))
        << s.blocks << " x " << s.threads;
  }
}

// The lease checks (leases.cu). On failure the message names the first failed
// device check (a line of one of the headers in lease_workers/).
TEST_F(Gpu, LeasesUnderManyThreads) {
  for (const Shape& s : kAllocatorShapes) {
    EXPECT_TRUE(Passed(swim_mem_cuda_check_leases(s.blocks, s.threads)))
        << s.blocks << " x " << s.threads << ": " << swim_mem_cuda_last_error();
  }
}

TEST_F(Gpu, SharedLeasesUnderManyThreads) {
  for (const Shape& s : kAllocatorShapes) {
    EXPECT_TRUE(Passed(swim_mem_cuda_check_shared_leases(s.blocks, s.threads)))
        << s.blocks << " x " << s.threads << ": " << swim_mem_cuda_last_error();
  }
}

TEST_F(Gpu, CompactionUnderManyThreads) {
  for (const Shape& s : kAllocatorShapes) {
    EXPECT_TRUE(Passed(swim_mem_cuda_check_compaction(s.blocks, s.threads)))
        << s.blocks << " x " << s.threads << ": " << swim_mem_cuda_last_error();
  }
}

TEST_F(Gpu, CudaSourcesAllocate) {
  using swim::mem::Block;
  using swim::mem::Error;
  ASSERT_TRUE(swim::mem::CudaDeviceMemory::available());
  swim::mem::CudaDeviceMemory device;
  swim::mem::Result<Block> d = device.try_acquire(1 << 20, 256);
  ASSERT_TRUE(d.ok()) << swim::mem::to_string(d.error());
  EXPECT_EQ(d->address() % 256, 0u);
  EXPECT_EQ(cudaMemset(d->ptr, 0, d->size), cudaSuccess);
  EXPECT_EQ(device.release(*d), Error::none);
  // The runtime refuses a pointer it never handed out.
  int host_int = 0;
  EXPECT_EQ(device.release(Block{&host_int, sizeof host_int}), Error::foreign_pointer);

  swim::mem::CudaManagedMemory managed;
  swim::mem::Result<Block> m = managed.try_acquire(4096, 64);
  ASSERT_TRUE(m.ok());
  std::memset(m->ptr, 0x11, m->size);  // host-accessible
  EXPECT_EQ(managed.release(*m), Error::none);

  // Far more than any device has.
  EXPECT_EQ(device.try_acquire(std::size_t(1) << 50, 8).error(), Error::out_of_memory);

  swim::mem::SourceHeap<swim::mem::CudaDeviceMemory> heap;
  swim::mem::Result<Block> h = heap.try_allocate(swim::mem::Layout{4096, 128});
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(heap.stats().live, 1u);
  EXPECT_EQ(heap.try_deallocate(*h), Error::none);
  EXPECT_EQ(heap.stats().live, 0u);
}

}  // namespace
