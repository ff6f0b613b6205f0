// CudaResource (include/swim/mem/integrations/cuda_mr.hpp), written once and
// compiled twice: by the host compiler with the CCCL include path (cuda_mr.cpp,
// test_cuda_mr) and by nvcc (cuda_mr.cu, test_cuda_mr_nvcc). The concepts are
// checked for the CCCL version present (3.0 spelling, or >= 3.1); the host path
// over a host heap runs everywhere; what needs a GPU skips without one.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <thread>
#include <vector>

#include "swim/mem/integrations/cuda_mr.hpp"
#include "swim/mem.hpp"
#include "swim/mem/sources/cuda_memory.hpp"

namespace swim::mem::testing {
namespace {

using HostResource = CudaResource<ExtentHeap<>>;

// An allocator of device-only memory, as the device extent arena declares it.
struct DeviceOnly {
  static constexpr bool host_accessible = false;
  static constexpr bool device_accessible = true;
  Result<Block> try_allocate(Layout) { return Error::out_of_memory; }
  Error try_deallocate(Block) { return Error::foreign_pointer; }
};
// Managed memory: both.
struct Managed : DeviceOnly {
  static constexpr bool host_accessible = true;
};
using DeviceResource = CudaResource<DeviceOnly>;
using ManagedResource = CudaResource<Managed>;
// The real thing: the host-managed arenas of device, pinned and managed memory.
using ArenaResource = CudaResource<ExtentArena<CudaDeviceMemory>>;
using PinnedResource = CudaResource<ExtentArena<CudaPinnedMemory>>;
using ManagedArenaResource = CudaResource<ExtentArena<CudaManagedMemory>>;
static_assert(!ArenaResource::host_accessible && ArenaResource::device_accessible);
static_assert(PinnedResource::host_accessible && PinnedResource::device_accessible);

static_assert(HostResource::host_accessible && !HostResource::device_accessible);
static_assert(!DeviceResource::host_accessible && DeviceResource::device_accessible);
static_assert(HostResource::default_alignment == alignof(std::max_align_t));
static_assert(DeviceResource::default_alignment == 256);

#if CCCL_VERSION >= 3001000
// CCCL >= 3.1: synchronous_resource (allocate_sync) and stream-first resource.
static_assert(cuda::mr::synchronous_resource<HostResource>);
static_assert(cuda::mr::resource<HostResource>);
static_assert(cuda::mr::resource_with<HostResource, cuda::mr::host_accessible>);
static_assert(!cuda::mr::resource_with<HostResource, cuda::mr::device_accessible>);
static_assert(cuda::mr::resource_with<DeviceResource, cuda::mr::device_accessible>);
static_assert(!cuda::mr::resource_with<DeviceResource, cuda::mr::host_accessible>);
static_assert(cuda::mr::resource_with<ManagedResource, cuda::mr::host_accessible,
                                      cuda::mr::device_accessible>);
static_assert(cuda::mr::resource<CudaResource<HoldRef>>);
static_assert(cuda::mr::synchronous_resource<ArenaResource>);
static_assert(cuda::mr::resource_with<ArenaResource, cuda::mr::device_accessible>);
static_assert(!cuda::mr::resource_with<ArenaResource, cuda::mr::host_accessible>);
static_assert(cuda::mr::resource_with<PinnedResource, cuda::mr::host_accessible,
                                      cuda::mr::device_accessible>);
static_assert(cuda::mr::resource_with<ManagedArenaResource, cuda::mr::host_accessible,
                                      cuda::mr::device_accessible>);
#else
// CCCL 3.0 (CUDA 13.0): resource (synchronous) and async_resource.
static_assert(cuda::mr::resource<HostResource>);
static_assert(cuda::mr::async_resource<HostResource>);
static_assert(cuda::mr::async_resource_with<HostResource, cuda::mr::host_accessible>);
static_assert(!cuda::mr::async_resource_with<HostResource, cuda::mr::device_accessible>);
static_assert(cuda::mr::async_resource_with<DeviceResource, cuda::mr::device_accessible>);
static_assert(!cuda::mr::async_resource_with<DeviceResource, cuda::mr::host_accessible>);
static_assert(cuda::mr::async_resource_with<ManagedResource, cuda::mr::host_accessible,
                                            cuda::mr::device_accessible>);
static_assert(cuda::mr::async_resource<CudaResource<HoldRef>>);
static_assert(cuda::mr::resource<ArenaResource>);
static_assert(cuda::mr::async_resource_with<ArenaResource, cuda::mr::device_accessible>);
static_assert(!cuda::mr::async_resource_with<ArenaResource, cuda::mr::host_accessible>);
static_assert(cuda::mr::async_resource_with<PinnedResource, cuda::mr::host_accessible,
                                            cuda::mr::device_accessible>);
static_assert(cuda::mr::async_resource_with<ManagedArenaResource, cuda::mr::host_accessible,
                                            cuda::mr::device_accessible>);
#endif

bool have_gpu() {
  int n = 0;  // left unwritten when the call fails
  const bool any = cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
  if (!any) (void)cudaGetLastError();
  return any;
}

struct HostHeap {
  std::vector<std::byte> bytes = std::vector<std::byte>(1 << 20);
  ExtentHeap<> heap{Block{bytes.data(), bytes.size()}, 64};
  Block range() const { return Block{const_cast<std::byte*>(bytes.data()), bytes.size()}; }
};

TEST(CudaMr, SynchronousHostPathBothSpellings) {
  HostHeap h;
  HostResource res(h.heap);
  void* a = res.allocate(1000, 16);  // CCCL 3.0
  void* b = res.allocate_sync(100);  // CCCL >= 3.1, default alignment
  EXPECT_TRUE(h.range().contains(a, 1000));
  EXPECT_TRUE(h.range().contains(b, 100));
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b) % alignof(std::max_align_t), 0u);
  EXPECT_EQ(h.heap.stats().live, 2u);
  res.deallocate(a, 1000, 16);
  res.deallocate_sync(b, 100);
  EXPECT_EQ(h.heap.stats().live, 0u);
}

TEST(CudaMr, StreamOrderedHostPathOnTheDefaultStream) {
  // Runs with or without a GPU: on the default stream the wait is immediate
  // (or, without a device, nothing can be queued), so the block goes back.
  HostHeap h;
  HostResource res(h.heap);
  const cuda::stream_ref stream{cudaStream_t{}};
  void* a = res.allocate_async(256, 64, stream);  // CCCL 3.0
  void* b = res.allocate(stream, 256, 64);        // CCCL >= 3.1
  EXPECT_TRUE(h.range().contains(a, 256));
  EXPECT_TRUE(h.range().contains(b, 256));
  EXPECT_EQ(h.heap.stats().live, 2u);
  res.deallocate_async(a, 256, 64, stream);
  res.deallocate(stream, b, 256, 64);
  EXPECT_EQ(h.heap.stats().live, 0u);
}

TEST(CudaMr, ThroughATypeErasedRef) {
  HostHeap h;
  HostResource res(h.heap);
#if CCCL_VERSION >= 3001000
  cuda::mr::synchronous_resource_ref<cuda::mr::host_accessible> ref{res};
  void* p = ref.allocate_sync(512, 8);
  EXPECT_TRUE(h.range().contains(p, 512));
  ref.deallocate_sync(p, 512, 8);
#else
  cuda::mr::async_resource_ref<cuda::mr::host_accessible> ref{res};
  void* p = ref.allocate_async(512, 8, cuda::stream_ref{cudaStream_t{}});
  EXPECT_TRUE(h.range().contains(p, 512));
  ref.deallocate_async(p, 512, 8, cuda::stream_ref{cudaStream_t{}});
#endif
  EXPECT_EQ(h.heap.stats().live, 0u);
}

TEST(CudaMr, FailuresThrowAndChangeNothing) {
  HostHeap h;
  HostResource res(h.heap);
  const Stats before = h.heap.stats();
  EXPECT_THROW((void)res.allocate(2 << 20, 8), OutOfMemory);
  EXPECT_THROW((void)res.allocate(64, 3), MemoryError);
  EXPECT_THROW((void)res.allocate(cuda::stream_ref{cudaStream_t{}}, 2 << 20, 8), std::bad_alloc);
  EXPECT_EQ(h.heap.stats().live, before.live);
  EXPECT_EQ(h.heap.stats().bytes_in_use, before.bytes_in_use);
  EXPECT_EQ(h.heap.stats().peak_bytes, before.peak_bytes);
}

TEST(CudaMr, EqualityIsTheSameAllocator) {
  HostHeap h1, h2;
  HostResource a(h1.heap), b(h1.heap), c(h2.heap);
  EXPECT_TRUE(a == b);
  EXPECT_FALSE(a != b);
  EXPECT_TRUE(a != c);
}

TEST(CudaMr, StreamOrderedFreeWaitsForQueuedWork) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  HostHeap h;
  HostResource res(h.heap);
  cudaStream_t s = nullptr;
  ASSERT_EQ(cudaStreamCreate(&s), cudaSuccess);
  void* p = res.allocate_async(128, 8, cuda::stream_ref{s});
  // Work queued before the free, still using the block when the free is called.
  static std::atomic<bool> done;
  done = false;
  auto late_use = [](void*) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    done = true;
  };
  ASSERT_EQ(cudaLaunchHostFunc(s, late_use, nullptr), cudaSuccess);
  res.deallocate_async(p, 128, 8, cuda::stream_ref{s});
  EXPECT_TRUE(done.load());  // the free waited for it
  EXPECT_EQ(h.heap.stats().live, 0u);
  EXPECT_EQ(cudaStreamDestroy(s), cudaSuccess);
}

TEST(CudaMr, ArenaWithoutADeviceThrowsAndChangesNothing) {
  if (have_gpu()) GTEST_SKIP() << "a device is present";
  ExtentArena<CudaDeviceMemory> arena;
  ArenaResource res(arena);
  EXPECT_THROW((void)res.allocate_sync(1024), MemoryError);
  EXPECT_EQ(arena.stats().live, 0u);
}

#if defined(__CUDACC__)
__global__ void cuda_mr_fill(int* p, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) p[i] = 3 * i + 1;
}

// The resource over the device arena under a real kernel, stream-ordered.
TEST(CudaMr, ArenaResourceUnderARealKernel) {
  if (!have_gpu()) GTEST_SKIP() << "no CUDA device";
  ExtentArena<CudaDeviceMemory> arena;
  ArenaResource res(arena);
  cudaStream_t s = nullptr;
  ASSERT_EQ(cudaStreamCreate(&s), cudaSuccess);
  constexpr int n = 1 << 20;
  int* p = static_cast<int*>(res.allocate_async(n * sizeof(int), 256, cuda::stream_ref{s}));
  EXPECT_TRUE(arena.owns(p));
  cuda_mr_fill<<<(n + 255) / 256, 256, 0, s>>>(p, n);
  std::vector<int> host(n);
  ASSERT_EQ(cudaMemcpyAsync(host.data(), p, n * sizeof(int), cudaMemcpyDeviceToHost, s), cudaSuccess);
  res.deallocate_async(p, n * sizeof(int), 256, cuda::stream_ref{s});  // waits for the kernel
  for (int i = 0; i < n; i += 4099) ASSERT_EQ(host[i], 3 * i + 1) << i;
  EXPECT_EQ(arena.stats().live, 0u);
  EXPECT_EQ(cudaStreamDestroy(s), cudaSuccess);
}
#endif

}  // namespace
}  // namespace swim::mem::testing
