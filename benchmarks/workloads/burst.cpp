// Workload (b): bursts of 64-byte objects: allocate N (1,000 to 1,000,000 objects),
// then free all N, the last allocated first (burst_lifo) or in one random order fixed
// by the seed (burst_random).
//
// LIFO is the order a free list serves best; the random order scatters the frees over
// the whole burst, as a program that frees its objects in no particular order does.
// a.end_burst() runs after each burst (memory_stack unwinds there). Items per second
// count the allocations and the frees.
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "workload_support.hpp"

namespace swim_bench {
namespace {

template <class A, bool Random>
void burst(benchmark::State& st) {
  constexpr std::size_t size = 64;
  const auto n = static_cast<std::size_t>(st.range(0));
  A a(Config{size, size, n});
  typename A::Handle handle(a);
  auto&& h = ops_for(a, handle);
  std::vector<void*> ptrs(n);
  std::vector<std::uint32_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = static_cast<std::uint32_t>(n - 1 - i);
  if (Random) {
    Rng rng(42);
    for (std::size_t i = n - 1; i > 0; --i) std::swap(order[i], order[rng.below(i + 1)]);
  }
  std::size_t failures = 0;
  for (auto _ : st) {
    for (std::size_t i = 0; i < n; ++i) {
      ptrs[i] = h.alloc(size);
      escape(ptrs[i]);
    }
    for (std::size_t i = 0; i < n; ++i) {
      void* p = ptrs[order[i]];
      if (p == nullptr) {
        ++failures;
        continue;
      }
      h.free(p, size);
    }
    a.end_burst();
  }
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations() * 2 * n));
  if (failures) st.SkipWithError("allocation failed");
}

}  // namespace

template <class A>
void register_burst(Suits) {
  const std::vector<std::int64_t> ns =
      quick() ? std::vector<std::int64_t>{1000, 10000, 100000}
              : std::vector<std::int64_t>{1000, 10000, 100000, 1000000};
  for (std::int64_t n : ns) {
    benchmark::RegisterBenchmark(name<A>("burst_lifo", std::to_string(n)).c_str(), burst<A, false>)
        ->Arg(n);
    benchmark::RegisterBenchmark(name<A>("burst_random", std::to_string(n)).c_str(), burst<A, true>)
        ->Arg(n);
  }
}

}  // namespace swim_bench
