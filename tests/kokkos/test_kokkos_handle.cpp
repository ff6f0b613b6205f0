// swim::mem::kokkos::Handle (swim/mem/integrations/kokkos.hpp) inside
// KOKKOS_LAMBDA: every iteration allocates, writes and frees; Kokkos::MemoryPool's
// shapes and the try_ forms' errors; leases over the handle's hold. Under an
// OpenMP Kokkos the same lambdas run on many threads (and under TSan where the
// Kokkos build allows it).
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "swim/mem/integrations/kokkos.hpp"
#include "swim/mem/leases.hpp"
#include "swim/mem/residents.hpp"
#include "swim/mem/sources.hpp"

namespace {

using namespace swim::mem;
using kokkos::Handle;
using Exec = Kokkos::DefaultHostExecutionSpace;
using Range = Kokkos::RangePolicy<Exec>;
using Classes = SizeClasses<SourceHeap<OsPages, concurrent>>;

static_assert(std::is_trivially_copyable_v<Handle>);

/// Every iteration allocates a size of its own, writes it whole, checks it and
/// frees it; returns how many iterations failed.
long storm(Handle h, int n) {
  long failures = 0;
  Kokkos::parallel_reduce(
      "storm", Range(0, n),
      KOKKOS_LAMBDA(int i, long& bad) {
        const std::size_t bytes = 8 + static_cast<std::size_t>(i % 97) * 24;
        auto* p = static_cast<unsigned char*>(h.allocate(bytes));
        if (p == nullptr) {
          ++bad;
          return;
        }
        for (std::size_t k = 0; k < bytes; ++k) p[k] = static_cast<unsigned char>(i);
        for (std::size_t k = 0; k < bytes; ++k) bad += p[k] != static_cast<unsigned char>(i);
        h.deallocate(p, bytes);
      },
      failures);
  return failures;
}

TEST(KokkosHandle, EveryIterationAllocatesAndFrees) {
  SourceHeap<OsPages, concurrent> pages;
  Classes classes(pages);
  EXPECT_EQ(storm(Handle::of(classes), 20000), 0);
  EXPECT_EQ(classes.stats().live, 0u);
}

TEST(KokkosHandle, OverThePoolAndTheProcessHold) {
  SourceHeap<OsPages, concurrent> pages;
  Pool<SourceHeap<OsPages, concurrent>, concurrent> pool(pages, 64 << 10);
  EXPECT_EQ(storm(Handle::of(pool), 5000), 0);
  EXPECT_EQ(pool.stats().live, 0u);
  EXPECT_EQ(storm(Handle::process(), 5000), 0);
}

/// Kernel 1 allocates an object per index and keeps its pointer; kernel 2 checks
/// and frees them in the opposite order; returns the failures.
long across_kernels(Handle h, int n) {
  std::vector<int*> slots(static_cast<std::size_t>(n));
  int** ptrs = slots.data();  // host memory: the execution space is a host one
  Kokkos::parallel_for(Range(0, n), KOKKOS_LAMBDA(int i) {
    auto* p = static_cast<int*>(h.allocate(sizeof(int) * 4));
    if (p != nullptr) p[3] = i;
    ptrs[i] = p;
  });
  long bad = 0;
  Kokkos::parallel_reduce(
      Range(0, n),
      KOKKOS_LAMBDA(int i, long& b) {
        int* p = ptrs[n - 1 - i];
        b += p == nullptr || p[3] != n - 1 - i;
        b += h.try_deallocate(p, sizeof(int) * 4) != Error::none;
      },
      bad);
  return bad;
}

TEST(KokkosHandle, ObjectsLiveAcrossKernelsAndAreFreedInAnother) {
  SourceHeap<OsPages, concurrent> pages;
  Classes classes(pages);
  EXPECT_EQ(across_kernels(Handle::of(classes), 4096), 0);
  EXPECT_EQ(classes.stats().live, 0u);
}

TEST(KokkosHandle, TryFormsReportErrorsAndMemoryPoolFormsReturnNull) {
  alignas(64) static std::byte region[4096];
  Pack<> pack(Block{region, sizeof region});
  const Handle h = Handle::of(pack);
  EXPECT_EQ(Handle().try_allocate(8).error(), Error::invalid_argument);
  EXPECT_EQ(Handle().allocate(8), nullptr);
  EXPECT_FALSE(static_cast<bool>(Handle()));
  EXPECT_EQ(h.try_allocate(8, 3).error(), Error::misaligned);
  EXPECT_EQ(h.try_allocate(1 << 20).error(), Error::oversized) << "more than the Pack holds";
  EXPECT_EQ(h.allocate(1 << 20, 8), nullptr);
  Result<Block> most = h.try_allocate(3000);
  ASSERT_TRUE(most.ok());
  EXPECT_EQ(h.try_allocate(3000).error(), Error::out_of_memory);
  EXPECT_EQ(h.allocate(3000), nullptr);
  EXPECT_EQ(h.try_deallocate(most->ptr, 3000), Error::none);
  EXPECT_EQ(pack.stats().live, 0u);
  Result<Block> b = h.try_allocate(100, 64);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->address() % 64, 0u);
  EXPECT_EQ(h.try_deallocate(b->ptr, 100), Error::none);
  EXPECT_EQ(h.try_deallocate(b->ptr, 100), Error::double_free);
  int on_stack = 0;
  EXPECT_NE(h.try_deallocate(&on_stack, sizeof on_stack), Error::none) << "a foreign pointer";
  h.deallocate(&on_stack, sizeof on_stack);  // MemoryPool's form: nothing happens
  EXPECT_EQ(h.try_deallocate(nullptr, 8), Error::none);
}

/// Every iteration makes a Box and a Buf in the handle's hold, fills and checks
/// them, and lets them go; returns the failures.
long leases_in_kernel(Handle h, int n) {
  long bad = 0;
  Kokkos::parallel_reduce(
      Range(0, n),
      KOKKOS_LAMBDA(int i, long& b) {
        Result<Raw<Box<long>>> box = Raw<Box<long>>::try_new(h.hold(), long{i});
        if (!box.ok()) {
          ++b;
          return;
        }
        Result<Raw<Buf<int>>> buf = Raw<Buf<int>>::try_empty(h.hold());
        if (!buf.ok()) {
          ++b;
          return;
        }
        for (int k = 0; k < i % 50; ++k) b += buf->try_push(k) != Error::none;
        b += buf->size() != static_cast<std::size_t>(i % 50);
        b += **box != i;
      },
      bad);
  return bad;
}

TEST(KokkosHandle, LeasesAndResidentsOverTheHandlesHold) {
  SourceHeap<OsPages, concurrent> pages;
  Classes classes(pages);
  EXPECT_EQ(leases_in_kernel(Handle::of(classes), 2000), 0);
  EXPECT_EQ(classes.stats().live, 0u) << "every lease freed its objects";
}

}  // namespace
