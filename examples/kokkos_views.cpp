// Kokkos Views in swim-mem memory spaces, and swim-mem allocation inside a
// KOKKOS_LAMBDA (built when Kokkos is found: SWIM_MEM_ENABLE_KOKKOS).
//
//   1. Views in swim::mem::kokkos::HostSpace: by default from the process hold
//      (try_malloc), or from a Pool the program owns, through a SpaceBinding.
//   2. A parallel reduction over them, as over any View.
//   3. The binding's statistics: what the Views took, and that all of it came back.
//   4. A Handle (trivially copyable) used inside a lambda: every iteration
//      allocates a scratch buffer of its own size and frees it.
#include <cstdio>

#include "swim/mem/integrations/kokkos.hpp"
#include "swim/mem/sources.hpp"

namespace sm = swim::mem;
using Space = sm::kokkos::HostSpace;
using Exec = Kokkos::DefaultHostExecutionSpace;

int main(int argc, char* argv[]) {
  Kokkos::ScopeGuard kokkos(argc, argv);
  int status = 0;

  // A Pool of 64 KiB hunks over OS pages, bound as a space instance.
  sm::SourceHeap<sm::OsPages, sm::concurrent> pages;
  sm::Pool<sm::SourceHeap<sm::OsPages, sm::concurrent>, sm::concurrent> pool(pages, 64 << 10);
  sm::SpaceBinding binding(pool, "example pool");
  {
    const int n = 100000;
    Kokkos::View<double*, Space> x("x", n);  // default instance: the process hold
    Kokkos::View<double*, Space> y(Kokkos::view_alloc(Space(binding), "y"), n);
    Kokkos::parallel_for(
        "init", Kokkos::RangePolicy<Exec>(0, n), KOKKOS_LAMBDA(int i) {
          x(i) = 1.0;
          y(i) = 0.5 * i;
        });
    double dot = 0;
    Kokkos::parallel_reduce(
        "dot", Kokkos::RangePolicy<Exec>(0, n),
        KOKKOS_LAMBDA(int i, double& acc) { acc += x(i) * y(i); }, dot);
    const double expected = 0.5 * (double(n) - 1) * n / 2;
    std::printf("dot(x, y) = %.1f (expected %.1f)\n", dot, expected);
    if (dot != expected) status = 1;

    const sm::SpaceStats s = binding.stats();
    std::printf("binding '%s': %zu live View(s), %zu bytes in use, peak %zu\n", binding.name(),
                s.live, s.bytes_in_use, s.peak_bytes);
    if (s.live != 1) status = 1;
  }
  const sm::SpaceStats after = binding.stats();
  std::printf("after the Views: %zu live, %zu allocation(s), %zu free(s)\n", after.live,
              after.allocations, after.deallocations);
  if (after.live != 0 || after.allocations != after.deallocations) status = 1;

  // Scratch memory inside a kernel, from a SizeClasses hold.
  sm::SizeClasses<sm::SourceHeap<sm::OsPages, sm::concurrent>> classes(pages);
  const auto h = sm::kokkos::Handle::of(classes);
  long failed = 0;
  Kokkos::parallel_reduce(
      "scratch", Kokkos::RangePolicy<Exec>(0, 10000),
      KOKKOS_LAMBDA(int i, long& bad) {
        const std::size_t bytes = 16 + static_cast<std::size_t>(i % 64) * 16;
        auto* p = static_cast<unsigned char*>(h.allocate(bytes));
        if (p == nullptr) {
          ++bad;
          return;
        }
        p[bytes - 1] = 1;
        h.deallocate(p, bytes);
      },
      failed);
  std::printf("kernel scratch: %ld failed allocation(s), %zu object(s) left in the hold\n", failed,
              classes.stats().live);
  if (failed != 0 || classes.stats().live != 0) status = 1;
  std::printf(status == 0 ? "ok\n" : "FAILED\n");
  return status;
}
