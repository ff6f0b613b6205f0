// HipResource (include/swim/mem/integrations/hip_resource.hpp), compiled by the
// host compiler against the HIP runtime headers (target test_hip_resource, when
// the build enables HIP). The host path over a host heap runs everywhere; what
// needs a GPU skips without one.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <thread>
#include <vector>

#include "swim/mem/integrations/hip_resource.hpp"
#include "swim/mem.hpp"

namespace swim::mem::testing {
namespace {

using HostResource = HipResource<ExtentHeap<>>;

struct DeviceOnly {
  static constexpr bool host_accessible = false;
  static constexpr bool device_accessible = true;
  Result<Block> try_allocate(Layout) { return Error::out_of_memory; }
  Error try_deallocate(Block) { return Error::foreign_pointer; }
};

static_assert(HostResource::host_accessible && !HostResource::device_accessible);
static_assert(!HipResource<DeviceOnly>::host_accessible && HipResource<DeviceOnly>::device_accessible);
static_assert(HipResource<DeviceOnly>::default_alignment == 256);
// The member shape that RMM-like wrappers call.
static_assert(requires(HostResource r, void* p, hipStream_t s) {
  { r.allocate(std::size_t{}, std::size_t{}) } -> std::same_as<void*>;
  { r.allocate_sync(std::size_t{}) } -> std::same_as<void*>;
  { r.allocate_async(std::size_t{}, std::size_t{}, s) } -> std::same_as<void*>;
  { r.allocate(s, std::size_t{}, std::size_t{}) } -> std::same_as<void*>;
  r.deallocate(p, std::size_t{}, std::size_t{});
  r.deallocate_sync(p, std::size_t{});
  r.deallocate_async(p, std::size_t{}, std::size_t{}, s);
  r.deallocate(s, p, std::size_t{}, std::size_t{});
  { r == r } -> std::same_as<bool>;
});

bool have_gpu() {
  int n = 0;  // left unwritten when the call fails
  const bool any = hipGetDeviceCount(&n) == hipSuccess && n > 0;
  if (!any) (void)hipGetLastError();
  return any;
}

struct HostHeap {
  std::vector<std::byte> bytes = std::vector<std::byte>(1 << 20);
  ExtentHeap<> heap{Block{bytes.data(), bytes.size()}, 64};
  Block range() const { return Block{const_cast<std::byte*>(bytes.data()), bytes.size()}; }
};

TEST(HipResource, HostPathSynchronousAndOnTheNullStream) {
  HostHeap h;
  HostResource res(h.heap);
  void* a = res.allocate(1000, 16);
  void* b = res.allocate_async(300, 64, nullptr);
  void* c = res.allocate(hipStream_t{}, 300, 64);
  EXPECT_TRUE(h.range().contains(a, 1000));
  EXPECT_TRUE(h.range().contains(b, 300));
  EXPECT_TRUE(h.range().contains(c, 300));
  EXPECT_EQ(h.heap.stats().live, 3u);
  res.deallocate(a, 1000, 16);
  res.deallocate_async(b, 300, 64, nullptr);  // no device: nothing can be queued
  res.deallocate(hipStream_t{}, c, 300, 64);
  EXPECT_EQ(h.heap.stats().live, 0u);
  EXPECT_THROW((void)res.allocate(2 << 20, 8), OutOfMemory);
  EXPECT_EQ(h.heap.stats().live, 0u);
  HostHeap other;
  EXPECT_TRUE(res == HostResource(h.heap));
  EXPECT_TRUE(res != HostResource(other.heap));
}

TEST(HipResource, StreamOrderedFreeWaitsForQueuedWork) {
  if (!have_gpu()) GTEST_SKIP() << "no HIP device";
  HostHeap h;
  HostResource res(h.heap);
  hipStream_t s = nullptr;
  ASSERT_EQ(hipStreamCreate(&s), hipSuccess);
  void* p = res.allocate_async(128, 8, s);
  static std::atomic<bool> done;
  done = false;
  auto late_use = [](hipStream_t, hipError_t, void*) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    done = true;
  };
  // (hipLaunchHostFunc is declared but not exported by ROCm 5.2's runtime.)
  ASSERT_EQ(hipStreamAddCallback(s, late_use, nullptr, 0), hipSuccess);
  res.deallocate_async(p, 128, 8, s);
  EXPECT_TRUE(done.load());
  EXPECT_EQ(h.heap.stats().live, 0u);
  EXPECT_EQ(hipStreamDestroy(s), hipSuccess);
}

}  // namespace
}  // namespace swim::mem::testing
