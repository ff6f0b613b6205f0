// swim::mem::kokkos::CudaSpace (swim/mem/integrations/kokkos.hpp): Views of CUDA
// device memory from a swim-mem ExtentArena, in Kokkos::Cuda kernels. Built where
// Kokkos has the CUDA backend (4.x and newer); it runs only where a GPU and its
// driver are (elsewhere a Kokkos+CUDA program cannot start: tests/kokkos/check_prefix.sh
// builds it and reports the run as skipped). Without a CUDA Kokkos every test
// here is reported SKIPPED.
#include <gtest/gtest.h>

#include "swim/mem/integrations/kokkos.hpp"
#include "swim/mem/leases.hpp"
#include "swim/mem/residents.hpp"

namespace {

#if defined(KOKKOS_ENABLE_CUDA) && KOKKOS_VERSION >= 40000

using namespace swim::mem;
using Space = kokkos::CudaSpace;
using Range = Kokkos::RangePolicy<Kokkos::Cuda>;

/// a(i) = i / 2 on the device, then the sum of a (a kernel outside the test body:
/// nvcc refuses an extended lambda in a private member function).
double fill_and_sum(const Kokkos::View<double*, Space>& a) {
  const int n = static_cast<int>(a.extent(0));
  Kokkos::parallel_for("fill", Range(0, n), KOKKOS_LAMBDA(int i) { a(i) = 0.5 * i; });
  double sum = 0;
  Kokkos::parallel_reduce(
      "sum", Range(0, n), KOKKOS_LAMBDA(int i, double& acc) { acc += a(i); }, sum);
  return sum;
}

TEST(KokkosCudaSpace, KernelsDeepCopiesAndMirrors) {
  const SpaceStats before = Space().stats();
  {
    Kokkos::View<double*, Space> a("a", 4096);
    EXPECT_DOUBLE_EQ(fill_and_sum(a), 0.5 * 4095.0 * 4096.0 / 2);
    auto mirror = Kokkos::create_mirror_view(a);  // a host copy: the host cannot read a
    EXPECT_NE(mirror.data(), a.data());
    Kokkos::deep_copy(mirror, a);
    EXPECT_EQ(mirror(10), 5.0);
    mirror(10) = -1.0;
    Kokkos::deep_copy(a, mirror);
    Kokkos::View<double*, Kokkos::CudaSpace> theirs("theirs", 4096);
    Kokkos::deep_copy(theirs, a);
    Kokkos::View<double*, Space> back("back", 4096);
    Kokkos::deep_copy(back, theirs);
    Kokkos::deep_copy(mirror, back);
    EXPECT_EQ(mirror(10), -1.0);
    EXPECT_EQ(mirror(4095), 0.5 * 4095);
    Kokkos::resize(a, 8192);
    auto half = Kokkos::subview(a, std::make_pair(0, 4096));
    Kokkos::deep_copy(mirror, half);
    EXPECT_EQ(mirror(11), 5.5);
    EXPECT_EQ(Space().stats().live, before.live + 3);
    void* raw = Kokkos::kokkos_malloc<Space>("raw", 1000);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(raw) % 256, 0u);
    Kokkos::kokkos_free<Space>(raw);
  }
  EXPECT_EQ(Space().stats().live, before.live);
}

TEST(KokkosCudaSpace, InstanceOverAnArenaOfItsOwnWithALimit) {
  ArenaOptions options;
  options.initial_bytes = std::size_t(4) << 20;
  options.growth_bytes = std::size_t(4) << 20;
  options.max_bytes = std::size_t(8) << 20;
  ExtentArena<CudaDeviceMemory> arena(CudaDeviceMemory{}, options);
  SpaceBinding binding(arena, "limited");
  const Space space(binding);
  {
    Kokkos::View<char*, Space> a(Kokkos::view_alloc(space, "a"), std::size_t(3) << 20);
    EXPECT_EQ(binding.stats().live, 1u);
    EXPECT_THROW((Kokkos::View<char*, Space>(Kokkos::view_alloc(space, "too big"),
                                             std::size_t(16) << 20)),
                 std::bad_alloc);
    EXPECT_EQ(binding.stats().failed, 1u);
    Kokkos::View<char*, Space> b(Kokkos::view_alloc(space, "b"), std::size_t(3) << 20);
    EXPECT_EQ(arena.stats().live, 2u);
  }
  EXPECT_EQ(arena.stats().live, 0u);
  EXPECT_EQ(binding.stats().live, 0u);
}

// ---- The Handle in Kokkos::Cuda kernels, over a hold in device memory -----------

using DevHeap = ExtentHeap<concurrent>;
using DevHold = SizeClasses<DevHeap>;

/// Room for a heap and a hold, built in device memory by a one-thread kernel.
struct DeviceHold {
  alignas(64) unsigned char heap[sizeof(DevHeap)];
  alignas(64) unsigned char hold[sizeof(DevHold)];
};

/// Builds the heap over `region` and a SizeClasses hold on it, in `place` (device
/// memory); returns a Handle over the hold.
kokkos::Handle build_device_hold(const Kokkos::View<DeviceHold*, Kokkos::CudaSpace>& place,
                                 const Kokkos::View<unsigned char*, Kokkos::CudaSpace>& region) {
  Kokkos::View<kokkos::Handle*, Kokkos::CudaSpace> out("handle", 1);
  Kokkos::parallel_for(
      "build", Range(0, 1), KOKKOS_LAMBDA(int) {
        DevHeap* heap = ::swim::mem::detail::construct_at(
            reinterpret_cast<DevHeap*>(place(0).heap), Block{region.data(), region.extent(0)},
            std::size_t{256});
        DevHold* hold = ::swim::mem::detail::construct_at(reinterpret_cast<DevHold*>(place(0).hold), *heap);
        out(0) = kokkos::Handle::of(*hold);
      });
  auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), out);
  return host(0);
}

/// Every thread of the grid allocates, writes, reads back and frees through the
/// handle, and also makes a Box in the hold; returns the failures.
long handle_storm(kokkos::Handle h, int n) {
  long bad = 0;
  Kokkos::parallel_reduce(
      "storm", Range(0, n),
      KOKKOS_LAMBDA(int i, long& b) {
        const std::size_t bytes = 16 + static_cast<std::size_t>(i % 61) * 8;
        auto* p = static_cast<unsigned char*>(h.allocate(bytes, 8));  // (up to 8 tries)
        if (p == nullptr) {
          ++b;
          return;
        }
        p[bytes - 1] = static_cast<unsigned char>(i);
        b += p[bytes - 1] != static_cast<unsigned char>(i);
        h.deallocate(p, bytes);
        Result<Raw<Box<long>>> box = Raw<Box<long>>::try_new(h.hold(), long{i});
        b += !box.ok() || **box != i;
      },
      bad);
  return bad;
}

/// Destroys the hold and the heap in `place`; returns the objects the hold still had.
std::size_t tear_down_device_hold(const Kokkos::View<DeviceHold*, Kokkos::CudaSpace>& place) {
  Kokkos::View<std::size_t*, Kokkos::CudaSpace> live("live", 1);
  Kokkos::parallel_for(
      "teardown", Range(0, 1), KOKKOS_LAMBDA(int) {
        auto* hold = reinterpret_cast<DevHold*>(place(0).hold);
        live(0) = hold->stats().live;
        hold->~DevHold();
        reinterpret_cast<DevHeap*>(place(0).heap)->~DevHeap();
      });
  auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), live);
  return host(0);
}

TEST(KokkosCudaSpace, HandleInKernelsOverAHoldInDeviceMemory) {
  Kokkos::View<DeviceHold*, Kokkos::CudaSpace> place("place", 1);
  Kokkos::View<unsigned char*, Kokkos::CudaSpace> region("region", std::size_t(64) << 20);
  const kokkos::Handle h = build_device_hold(place, region);
  ASSERT_TRUE(static_cast<bool>(h));
  EXPECT_EQ(handle_storm(h, 1 << 16), 0);
  EXPECT_EQ(tear_down_device_hold(place), 0u) << "every object freed";
}

#else

TEST(KokkosCudaSpace, NeedsAKokkosWithCuda) {
  GTEST_SKIP() << "this Kokkos (" << KOKKOS_VERSION
               << ") has no CUDA backend, or is older than 4.0: no CudaSpace to test";
}

#endif

}  // namespace
