// swim::mem::kokkos::HostSpace (swim/mem/integrations/kokkos.hpp): Views in the
// space through every Kokkos operation a user reaches for, in the process-wide
// default instance and in instances bound to a heap or hold, with their counters,
// leak report, exhaustion and dangling-instance errors.
#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <optional>
#include <string>

#include "swim/mem/integrations/kokkos.hpp"
#include "swim/mem/sources.hpp"
#include "support/leak_capture.hpp"

namespace {

using namespace swim::mem;
using Space = kokkos::HostSpace;
using Exec = Kokkos::DefaultHostExecutionSpace;
using Range = Kokkos::RangePolicy<Exec>;
using swim::mem::testing::LeakCapture;
#if KOKKOS_VERSION >= 40000
template <class Access, class Memory>
using Accessibility = Kokkos::SpaceAccessibility<Access, Memory>;
#else
template <class Access, class Memory>
using Accessibility = Kokkos::Impl::SpaceAccessibility<Access, Memory>;
#endif


// Kernels live in functions of their own: nvcc (a CUDA Kokkos) refuses an
// extended lambda inside a test body, a private member function.

/// a(i) = 2 i in parallel, then the sum of a.
double fill_and_sum(const Kokkos::View<double*, Space>& a) {
  const int n = static_cast<int>(a.extent(0));
  Kokkos::parallel_for("fill", Range(0, n), KOKKOS_LAMBDA(int i) { a(i) = 2.0 * i; });
  double sum = 0;
  Kokkos::parallel_reduce(
      "sum", Range(0, n), KOKKOS_LAMBDA(int i, double& acc) { acc += a(i); }, sum);
  return sum;
}

/// row(j) = j in parallel.
template <class Row>
void number(const Row& row) {
  Kokkos::parallel_for(Range(0, static_cast<int>(row.extent(0))), KOKKOS_LAMBDA(int j) { row(j) = j; });
}

TEST(KokkosHostSpace, IsAMemorySpaceThatHostExecutionSpacesReach) {
  static_assert(Kokkos::is_memory_space<Space>::value);
  static_assert(Accessibility<Exec, Space>::accessible);
  static_assert(Accessibility<Kokkos::HostSpace, Space>::accessible);
  EXPECT_STREQ(Space::name(), "SwimMemHostSpace");
}

TEST(KokkosHostSpace, ParallelForAndReduceInTheDefaultInstance) {
  const SpaceStats before = Space().stats();
  {
    Kokkos::View<double*, Space> a("a", 1000);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a.data()) % 64, 0u);
    EXPECT_EQ(Space().stats().live, before.live + 1);
    EXPECT_DOUBLE_EQ(fill_and_sum(a), 999.0 * 1000.0);
    EXPECT_DOUBLE_EQ(a(0), 0.0) << "a View is zero-filled unless WithoutInitializing";
  }
  const SpaceStats after = Space().stats();
  EXPECT_EQ(after.live, before.live);
  EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
  EXPECT_EQ(after.allocations, before.allocations + 1);
  EXPECT_EQ(after.deallocations, before.deallocations + 1);
}

TEST(KokkosHostSpace, DeepCopyBothWaysAndMirrors) {
  Kokkos::View<int*, Space> a("a", 257);
  Kokkos::View<int*, Kokkos::HostSpace> h("h", 257);
  for (int i = 0; i < 257; ++i) h(i) = i * 3;
  Kokkos::deep_copy(a, h);
  for (int i = 0; i < 257; ++i) ASSERT_EQ(a(i), i * 3);
  Kokkos::View<int*, Space> b("b", 257);
  Kokkos::deep_copy(b, a);
  Kokkos::deep_copy(a, 7);  // scalar
  Kokkos::View<int*, Kokkos::HostSpace> back("back", 257);
  Kokkos::deep_copy(back, b);
  for (int i = 0; i < 257; ++i) ASSERT_EQ(back(i), i * 3);
  EXPECT_EQ(a(256), 7);

  auto mirror = Kokkos::create_mirror_view(a);  // host memory: the View itself
  EXPECT_EQ(mirror.data(), a.data());
  auto copy = Kokkos::create_mirror(Kokkos::HostSpace{}, b);
  Kokkos::deep_copy(copy, b);
  EXPECT_NE(copy.data(), b.data());
  EXPECT_EQ(copy(100), 300);
}

TEST(KokkosHostSpace, ResizeKeepsContentsReallocDoesNot) {
  const SpaceStats before = Space().stats();
  {
    Kokkos::View<long*, Space> a("a", 10);
    for (int i = 0; i < 10; ++i) a(i) = i + 1;
    Kokkos::resize(a, 100000);
    ASSERT_EQ(a.extent(0), 100000u);
    for (int i = 0; i < 10; ++i) ASSERT_EQ(a(i), i + 1);
    EXPECT_EQ(a(99999), 0);
    EXPECT_EQ(Space().stats().live, before.live + 1) << "the old allocation went back";
    Kokkos::realloc(a, 50);
    ASSERT_EQ(a.extent(0), 50u);
    EXPECT_EQ(Space().stats().live, before.live + 1);
  }
  EXPECT_EQ(Space().stats().live, before.live);
  EXPECT_EQ(Space().stats().allocations, before.allocations + 3);
}

TEST(KokkosHostSpace, SubviewsAliasTheirView) {
  Kokkos::View<double**, Kokkos::LayoutRight, Space> m("m", 8, 16);
  auto row = Kokkos::subview(m, 3, Kokkos::ALL());
  auto block = Kokkos::subview(m, std::make_pair(2, 4), std::make_pair(5, 9));
  number(row);
  block(1, 0) = 42.0;  // m(3, 5)
  EXPECT_EQ(m(3, 7), 7.0);
  EXPECT_EQ(m(3, 5), 42.0);
  EXPECT_EQ(block.extent(0), 2u);
  EXPECT_EQ(block.extent(1), 4u);
}

TEST(KokkosHostSpace, KokkosMallocReallocFree) {
  const SpaceStats before = Space().stats();
  auto* p = static_cast<unsigned char*>(Kokkos::kokkos_malloc<Space>("raw", 1000));
  ASSERT_NE(p, nullptr);
  std::memset(p, 0x5a, 1000);
  EXPECT_EQ(Space().stats().live, before.live + 1);
  p = static_cast<unsigned char*>(Kokkos::kokkos_realloc<Space>(p, 5000));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p[999], 0x5a);
  EXPECT_EQ(Space().stats().live, before.live + 1);
  Kokkos::kokkos_free<Space>(p);
  EXPECT_EQ(Space().stats().live, before.live);
}

struct Counted {
  // Atomic: Kokkos constructs and destroys the elements in parallel (OpenMP).
  static inline std::atomic<int> made{0};
  static inline std::atomic<int> gone{0};
  Counted() : value(7) { ++made; }
  Counted(const Counted& o) : value(o.value) { ++made; }
  Counted& operator=(const Counted&) = default;
  ~Counted() { ++gone; }
  long value;
};

TEST(KokkosHostSpace, NonTrivialValuesAreConstructedAndDestroyed) {
  Counted::made = 0;
  Counted::gone = 0;
  {
    Kokkos::View<Counted*, Space> v("counted", 100);
    EXPECT_EQ(Counted::made, 100);
    EXPECT_EQ(v(99).value, 7);
  }
  EXPECT_EQ(Counted::gone.load(), Counted::made.load());
}

TEST(KokkosHostSpace, InstanceBoundToAPoolDrawsFromIt) {
  SourceHeap<OsPages, concurrent> pages;
  Pool<SourceHeap<OsPages, concurrent>, concurrent> pool(pages, 64 << 10);
  SpaceBinding binding(pool, "pool");
  const Space space(binding);
  {
    Kokkos::View<float*, Space> a(Kokkos::view_alloc(space, "a"), 1000);
    Kokkos::View<float*, Space> b(Kokkos::view_alloc(space, Kokkos::WithoutInitializing, "b"), 10);
    EXPECT_EQ(pool.stats().live, 2u);
    EXPECT_EQ(binding.stats().live, 2u);
    EXPECT_GE(binding.stats().bytes_in_use, 1010 * sizeof(float));
    EXPECT_EQ(a.label(), "a");
    Kokkos::View<float*, Space> c("default", 5);  // not the binding's
    EXPECT_EQ(binding.stats().live, 2u);
    EXPECT_TRUE(space.binding() == binding.ref());
  }
  EXPECT_EQ(pool.stats().live, 0u);
  const SpaceStats s = binding.stats();
  EXPECT_EQ(s.live, 0u);
  EXPECT_EQ(s.allocations, 2u);
  EXPECT_EQ(s.deallocations, 2u);
  EXPECT_EQ(s.bytes_in_use, 0u);
  EXPECT_GE(s.peak_bytes, 1010 * sizeof(float));
}

TEST(KokkosHostSpace, InstanceBoundToSizeClassesAndToAHoldRef) {
  SourceHeap<OsPages, concurrent> pages;
  SizeClasses<SourceHeap<OsPages, concurrent>> classes(pages);
  SpaceBinding by_ref(HoldRef::of(classes), "classes");
  {
    Kokkos::View<int*, Space> v(Kokkos::view_alloc(Space(by_ref), "v"), 300);
    EXPECT_EQ(classes.stats().live, 1u);
    // The allocation starts with Kokkos' header, then the View's data.
    const auto* start =
        reinterpret_cast<const char*>(v.data()) - sizeof(Kokkos::Impl::SharedAllocationHeader);
    EXPECT_EQ(HoldRef::owner_of(start), HoldRef::of(classes)) << "the bytes are the hold's";
  }
  EXPECT_EQ(classes.stats().live, 0u);
}

TEST(KokkosHostSpace, WhatKokkosAllocatesItselfFollowsTheScopedDefault) {
  SourceHeap<OsPages, concurrent> pages;
  Pool<SourceHeap<OsPages, concurrent>, concurrent> pool(pages, 64 << 10);
  SpaceBinding binding(pool, "phase");
  {
    DefaultBindingScope scope(binding);  // Kokkos' own allocations make default spaces
    Kokkos::View<double*, Space> v("v", 100);
    Kokkos::View<double*, Kokkos::HostSpace> h("h", 100);
    EXPECT_EQ(binding.stats().live, 1u);
    v(7) = 7.0;
    Kokkos::resize(v, 1000);
    EXPECT_EQ(v(7), 7.0);
    Kokkos::realloc(v, 2000);
    auto mirror = Kokkos::create_mirror(Space(), h);
    EXPECT_EQ(binding.stats().live, 2u) << "v (reallocated) and the mirror, both in the pool";
    EXPECT_EQ(binding.stats().allocations, 4u);
    EXPECT_EQ(pool.stats().live, 2u);
  }
  EXPECT_EQ(binding.stats().live, 0u);
  Kokkos::View<double*, Space> outside("outside", 10);
  EXPECT_EQ(binding.stats().allocations, 4u) << "after the scope: the process binding again";
}

TEST(KokkosHostSpace, ExhaustionThrowsBadAllocAndLosesNothing) {
  alignas(64) static std::byte region[16 << 10];
  Pack<> pack(Block{region, sizeof region});
  SpaceBinding binding(pack, "small");
  const Space space(binding);
  Kokkos::View<double*, Space> kept(Kokkos::view_alloc(space, "kept"), 100);
  kept(5) = 5.0;
  const Stats before = pack.stats();
  EXPECT_THROW((Kokkos::View<double*, Space>(Kokkos::view_alloc(space, "big"), 1 << 20)),
               std::bad_alloc);
  EXPECT_EQ(pack.stats().live, before.live);
  EXPECT_EQ(pack.stats().bytes_in_use, before.bytes_in_use);
  EXPECT_EQ(binding.stats().failed, 1u);
  EXPECT_EQ(binding.stats().live, 1u);
  Kokkos::View<double*, Space> small(Kokkos::view_alloc(space, "small"), 10);  // still works
  EXPECT_EQ(kept(5), 5.0);
}

TEST(KokkosHostSpace, ViewsOutlivingTheirInstanceAreReportedAsALeak) {
  LeakCapture capture;  // (first: it also hears the pool's own report at the end)
  SourceHeap<OsPages, concurrent> pages;
  Pool<SourceHeap<OsPages, concurrent>, concurrent> pool(pages, 64 << 10);
  Kokkos::View<int*, Space> survivor;
  std::optional<SpaceBinding> binding(std::in_place, pool, "short-lived");
  const SpaceRef ref = binding->ref();
  survivor = Kokkos::View<int*, Space>(Kokkos::view_alloc(Space(*binding), "survivor"), 64);
  survivor(3) = 3;
  binding.reset();
  ASSERT_EQ(LeakCapture::reports, 1);
  EXPECT_STREQ(LeakCapture::last.allocator, "SpaceBinding");
  EXPECT_EQ(LeakCapture::last.stats.live, 1u);
  EXPECT_GT(LeakCapture::last.stats.bytes_in_use, 64 * sizeof(int));
  EXPECT_FALSE(ref.alive());
  survivor = {};  // its free is orphaned: counted, never given to the (possibly gone) allocator
  EXPECT_EQ(ref.stats().orphaned, 1u);
  EXPECT_EQ(ref.stats().live, 0u);
  EXPECT_EQ(LeakCapture::reports, 1);
  EXPECT_EQ(pool.stats().live, 1u) << "the leaked block stays in the pool";
}

TEST(KokkosHostSpace, AllocatingFromAnInstanceThatIsGoneIsAClearError) {
  SourceHeap<OsPages, concurrent> pages;
  Pool<SourceHeap<OsPages, concurrent>, concurrent> pool(pages, 64 << 10);
  std::optional<Space> space;
  {
    SpaceBinding binding(pool, "gone");
    space.emplace(binding);
  }
  try {
    Kokkos::View<double*, Space> v(Kokkos::view_alloc(*space, "v"), 10);
    ADD_FAILURE() << "a View was allocated from a binding that is gone";
  } catch (const MemoryError& e) {
    EXPECT_EQ(e.code(), Error::cleared);
  }
  EXPECT_EQ(pool.stats().live, 0u);
  EXPECT_EQ(space->stats().failed, 1u);
}

// What a Kokkos Tools library would see of our Views (the callbacks a tool sets).
struct ToolsLog {
  int allocations = 0, frees = 0;
  std::string space, label;
  const void* allocated = nullptr;
  const void* freed = nullptr;
  std::uint64_t allocated_size = 0, freed_size = 0;
};
ToolsLog tools_log;

void log_allocation(Kokkos::Profiling::SpaceHandle space, const char* label, const void* p,
                    std::uint64_t size) {
  if (std::string(label) != "tools_probe") return;  // Kokkos' own allocations
  ++tools_log.allocations;
  tools_log.space = space.name;
  tools_log.label = label;
  tools_log.allocated = p;
  tools_log.allocated_size = size;
}

void log_free(Kokkos::Profiling::SpaceHandle, const char* label, const void* p,
              std::uint64_t size) {
  if (std::string(label) != "tools_probe") return;
  ++tools_log.frees;
  tools_log.freed = p;
  tools_log.freed_size = size;
}

TEST(KokkosHostSpace, KokkosToolsSeeEachViewsAllocationAndFree) {
  tools_log = ToolsLog{};
  Kokkos::Tools::Experimental::set_allocate_data_callback(&log_allocation);
  Kokkos::Tools::Experimental::set_deallocate_data_callback(&log_free);
  ASSERT_TRUE(Kokkos::Profiling::profileLibraryLoaded());
  {
    Kokkos::View<double*, Space> v("tools_probe", 1000);
    EXPECT_EQ(tools_log.allocations, 1);
    EXPECT_EQ(tools_log.space, Space::name());
    EXPECT_EQ(tools_log.label, "tools_probe");
    EXPECT_EQ(tools_log.allocated_size, 1000 * sizeof(double));  // the View's bytes, no header
    // The allocation holds Kokkos' header, then the data.
    EXPECT_LT(static_cast<const char*>(tools_log.allocated), reinterpret_cast<const char*>(v.data()));
    EXPECT_EQ(tools_log.frees, 0);
  }
  EXPECT_EQ(tools_log.frees, 1);
  EXPECT_EQ(tools_log.freed, tools_log.allocated);
  EXPECT_EQ(tools_log.freed_size, 1000 * sizeof(double));
  Kokkos::Tools::Experimental::set_allocate_data_callback(nullptr);
  Kokkos::Tools::Experimental::set_deallocate_data_callback(nullptr);
  EXPECT_FALSE(Kokkos::Profiling::profileLibraryLoaded());
  {
    Kokkos::View<double*, Space> quiet("tools_probe", 10);
  }
  EXPECT_EQ(tools_log.allocations, 1);  // nothing reported with no tool
}

}  // namespace
