// HIP runtime sources (part of test_sources; added when the build enables HIP).
// A translation unit of its own: the CUDA and HIP runtime headers collide.
// Without a device (this CI machine has none) they must say Error::unsupported.
#include <gtest/gtest.h>

#include <cstring>

#include "swim/mem/heaps/source_heap.hpp"
#include "swim/mem/sources/hip_memory.hpp"

namespace {

using swim::mem::Block;
using swim::mem::Error;
using swim::mem::HipDeviceMemory;
using swim::mem::HipManagedMemory;
using swim::mem::Layout;
using swim::mem::Result;
using swim::mem::SourceHeap;

static_assert(!HipDeviceMemory::host_accessible && HipDeviceMemory::device_accessible);
static_assert(HipManagedMemory::host_accessible && HipManagedMemory::device_accessible);
static_assert(swim::mem::heap<SourceHeap<HipDeviceMemory>>);

TEST(HipSources, UnsupportedWithoutADeviceElseWorking) {
  HipDeviceMemory device;
  HipManagedMemory managed;
  EXPECT_EQ(device.try_acquire(64, 512).error(), Error::misaligned);  // before any runtime call
  EXPECT_EQ(device.try_acquire(64, 3).error(), Error::misaligned);
  SourceHeap<HipDeviceMemory> heap;
  if (!HipDeviceMemory::available()) {
    EXPECT_EQ(device.try_acquire(1024, 256).error(), Error::unsupported);
    EXPECT_EQ(managed.try_acquire(1024, 8).error(), Error::unsupported);
    EXPECT_EQ(heap.try_allocate(Layout{1024, 8}).error(), Error::unsupported);
    EXPECT_EQ(heap.stats().live, 0u);
    EXPECT_EQ(HipDeviceMemory(3).try_acquire(8, 8).error(), Error::unsupported);
    return;
  }
  Result<Block> d = device.try_acquire(1024, 256);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->address() % 256, 0u);
  EXPECT_EQ(device.release(*d), Error::none);
  Result<Block> m = managed.try_acquire(1024, 8);
  ASSERT_TRUE(m.ok());
  std::memset(m->ptr, 1, m->size);  // host-accessible
  EXPECT_EQ(managed.release(*m), Error::none);
  Result<Block> h = heap.try_allocate(Layout{4096, 128});
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(heap.try_deallocate(*h), Error::none);
}

}  // namespace
