// An outside project's View in a swim-mem space, through the installed SwimMem::kokkos.
#include <swim/mem/integrations/kokkos.hpp>

#include <cstdio>

int main(int argc, char* argv[]) {
  Kokkos::ScopeGuard guard(argc, argv);
  long sum = 0;
  {
    Kokkos::View<long*, swim::mem::kokkos::HostSpace> v("v", 1000);
    Kokkos::parallel_reduce(
        Kokkos::RangePolicy<Kokkos::DefaultHostExecutionSpace>(0, 1000),
        KOKKOS_LAMBDA(int i, long& acc) {
          v(i) = i;
          acc += v(i);
        },
        sum);
  }
  std::printf("swim_mem_consumer_kokkos: sum %ld, %zu View(s) live\n", sum,
              swim::mem::kokkos::HostSpace().stats().live);
  return sum == 999L * 1000 / 2 && swim::mem::kokkos::HostSpace().stats().live == 0 ? 0 : 1;
}
