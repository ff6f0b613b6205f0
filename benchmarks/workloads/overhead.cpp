// Workload (e): bytes of overhead per object, for objects of 16, 64 and 256 bytes.
//
// N objects of one size allocated and written in a child process (in_child in
// workload_support.hpp): the resident set grown per object beyond the size asked for
// (overhead_rss_B) and, for swim-mem, the same by the allocator's own accounting
// (overhead_internal_B), which a lazily committed mapping does not blur. The child
// is a fork of the benchmark process: run.sh runs the memory workloads in a process
// of their own, so that it inherits no heap of the timed workloads.
#include <cstddef>
#include <cstring>
#include <vector>

#include "workload_support.hpp"

namespace swim_bench {
namespace {

template <class A, std::size_t Size>
void overhead(benchmark::State& st) {
  const std::size_t n = Size <= 64 ? (quick() ? 1 << 17 : 1 << 20) : (quick() ? 1 << 15 : 1 << 18);
  std::vector<double> r;
  for (auto _ : st) {
    r = in_child(2, [&] {
      std::vector<void*> p(n);
      std::memset(p.data(), 0, n * sizeof(void*));
      const std::size_t before = rss_bytes();
      A a(Config{Size, Size, n});
      typename A::Handle h(a);
      for (std::size_t i = 0; i < n; ++i) {
        p[i] = h.alloc(Size);
        if (p[i] == nullptr) return std::vector<double>{-1.0, -1.0};
        std::memset(p[i], 1, Size);
      }
      const double rss = static_cast<double>(rss_bytes() - before) / static_cast<double>(n) - Size;
      const double internal = internal_footprint(a);
      std::vector<double> out{rss, internal < 0 ? -1.0 : internal / static_cast<double>(n) - Size};
      for (std::size_t i = 0; i < n; ++i) h.free(p[i], Size);
      a.end_burst();
      return out;
    });
  }
  st.counters["objects"] = static_cast<double>(n);
  st.counters["overhead_rss_B"] = r[0];
  if (r[1] > -1.0) st.counters["overhead_internal_B"] = r[1];
  if (r[0] == -1.0) st.SkipWithError("allocation failed");
}

}  // namespace

template <class A>
void register_overhead(Suits) {
  benchmark::RegisterBenchmark(name<A>("overhead", "16").c_str(), overhead<A, 16>)->Iterations(1);
  benchmark::RegisterBenchmark(name<A>("overhead", "64").c_str(), overhead<A, 64>)->Iterations(1);
  benchmark::RegisterBenchmark(name<A>("overhead", "256").c_str(), overhead<A, 256>)->Iterations(1);
}

}  // namespace swim_bench
