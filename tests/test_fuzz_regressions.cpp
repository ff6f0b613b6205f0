// Defects the libFuzzer harnesses (tests/fuzz/) found, each as its smallest
// reproducer: the test says what must hold, the comment what went wrong.
#include <gtest/gtest.h>

#include <cstddef>

#include "swim/mem.hpp"

namespace swim::mem {
namespace {

// A zero-size region takes no bytes, so it does not move the bump: the region
// acquired before it is still the most recent one, and giving that back rolls the
// bump back below the zero-size region. Giving the zero-size region back must still
// succeed (it was refused as invalid_argument, "beyond the bump").
TEST(FuzzRegressions, StaticRegionTakesBackAZeroSizeRegionLeftBeyondTheBump) {
  alignas(64) static std::byte bytes[256];
  StaticRegion<> region(Block{bytes, sizeof bytes});
  const Result<Block> a = region.try_acquire(64, 1);
  const Result<Block> zero = region.try_acquire(0, 1);
  ASSERT_TRUE(a.ok() && zero.ok());
  EXPECT_EQ(zero->ptr, a->end());
  EXPECT_EQ(region.used(), 64u);

  EXPECT_EQ(region.release(*a), Error::none);
  EXPECT_EQ(region.used(), 0u);  // rolled back: the zero-size region now lies beyond it
  EXPECT_EQ(region.release(*zero), Error::none);
  EXPECT_EQ(region.used(), 0u);
  // Bytes beyond the bump are still refused.
  EXPECT_EQ(region.release(*a), Error::invalid_argument);
}

// The same through SourceHeap<StaticRegion> (a heap of heaps/heap_kinds.hpp), as
// fuzz_heaps met it: the refused free kept the block counted live forever, so the
// heap could never be empty again and its destruction reported a leak.
TEST(FuzzRegressions, SourceHeapOverStaticRegionFreesAZeroSizeBlockAfterARollback) {
  alignas(64) static std::byte bytes[256];
  SourceHeap<StaticRegion<>> heap(Block{bytes, sizeof bytes});
  const Result<Block> a = heap.try_allocate(Layout{64, 1});
  const Result<Block> zero = heap.try_allocate(Layout{0, 1});
  ASSERT_TRUE(a.ok() && zero.ok());
  EXPECT_EQ(heap.stats().live, 2u);

  EXPECT_EQ(heap.try_deallocate(*a), Error::none);
  EXPECT_EQ(heap.try_deallocate(*zero), Error::none);
  EXPECT_EQ(heap.stats().live, 0u);
  EXPECT_EQ(heap.stats().bytes_in_use, 0u);
}

}  // namespace
}  // namespace swim::mem
