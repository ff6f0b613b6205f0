// HIP runtime sources (part of test_sources; added when the build enables HIP).
// A translation unit of its own: the CUDA and HIP runtime headers collide.
// Without a device (this CI machine has none) they must say Error::unsupported.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "swim/mem/heaps/heap_ref.hpp"
#include "swim/mem/heaps/source_heap.hpp"
#include "swim/mem/holds.hpp"
#include "swim/mem/sources/hip_memory.hpp"
#include "support/gpu_arena_checks.hpp"

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

// The HIP kinds of heaps/heap_kinds.hpp are dispatched through the host registry:
// HeapRef::of registers them, and a Pool over managed memory grows through a tag.
template <class H>
void check_registered_kind(bool host_accessible) {
  using swim::mem::HeapRef;
  using swim::mem::heap_kind_v;
  H heap;
  const HeapRef r = HeapRef::of(heap);
  EXPECT_EQ(r.kind(), heap_kind_v<H>);
  EXPECT_NE(swim::mem::detail::host_heap(static_cast<unsigned>(heap_kind_v<H>)), nullptr);
  if (!HipDeviceMemory::available()) {
    EXPECT_EQ(r.try_allocate(Layout{1024, 256}).error(), Error::unsupported);
    return;
  }
  const Result<Block> b = r.try_allocate(Layout{1024, 256});
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(r.try_deallocate(*b), Error::none);
  if (!host_accessible) return;
  swim::mem::Pool<H, swim::mem::single_owner> pool(heap, 4096);
  const swim::mem::HoldRef h = swim::mem::HoldRef::of(pool);
  std::vector<Block> objects;
  while (pool.hunk_count() < 3) {
    const Result<Block> o = h.try_allocate(Layout{1000, 8});
    ASSERT_TRUE(o.ok());
    objects.push_back(*o);
  }
  for (const Block& o : objects) ASSERT_EQ(swim::mem::hold_deallocate(o), Error::none);
}

TEST(HeapDispatch, HipKindsGoThroughTheHostRegistry) {
  using swim::mem::concurrent;
  using swim::mem::single_owner;
  check_registered_kind<SourceHeap<HipDeviceMemory, concurrent>>(false);
  check_registered_kind<SourceHeap<HipDeviceMemory, single_owner>>(false);
  check_registered_kind<SourceHeap<HipManagedMemory, concurrent>>(true);
  check_registered_kind<SourceHeap<HipManagedMemory, single_owner>>(true);
  if (!HipDeviceMemory::available()) GTEST_SKIP() << "no HIP device: allocations not tried";
}

TEST(HipArena, NoDeviceMeansUnsupported) {
  if (HipDeviceMemory::available()) GTEST_SKIP() << "a device is present";
  static_assert(swim::mem::HipPinnedMemory::host_accessible);
  swim::mem::testing::check_arena_without_device<HipDeviceMemory>();
  swim::mem::testing::check_arena_without_device<swim::mem::HipPinnedMemory>();
}

TEST(HipArena, DeviceBuffersCompactWithDeviceCopies) {
  if (!HipDeviceMemory::available()) GTEST_SKIP() << "no HIP device";
  swim::mem::testing::check_arena_on_device<HipDeviceMemory>();
  swim::mem::testing::check_arena_on_device<swim::mem::HipPinnedMemory>();
  swim::mem::testing::check_arena_on_device<HipManagedMemory>();
}

}  // namespace
