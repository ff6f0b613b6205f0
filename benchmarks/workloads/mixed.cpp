// Workload (g): the mixed workload a general-purpose allocator is chosen on.
//
// 1e5 live slots of sizes uniform 16 B .. 4 KiB; each step frees a random slot and
// allocates a random size into it (every object written). In a child process
// (in_child): ns per step over 1e6 steps after the slots are filled (2e5 with
// SWIM_BENCH_QUICK), the peak resident anonymous memory grown over the live bytes
// (sampled every 1e4 steps), and the resident anonymous memory left after
// everything was freed and the allocator's release() ran, over that before the
// allocator was built (anon_bytes(): heaps' pages, not the program's file pages).
#include <chrono>
#include <cstddef>
#include <cstring>
#include <vector>

#include "workload_support.hpp"

namespace swim_bench {
namespace {

template <class A>
void mixed(benchmark::State& st) {
  constexpr std::size_t slots = 100000;
  const std::size_t steps = quick() ? 200000 : 1000000;
  std::vector<double> r;
  for (auto _ : st) {
    r = in_child(3, [&] {
      struct Obj {
        void* p;
        std::size_t n;
      };
      std::vector<Obj> live(slots);
      Rng rng(17);
      auto size = [&] { return 16 + rng.below(4096 - 16 + 1); };
      const std::size_t before = anon_bytes();
      std::size_t peak = before;
      double ns = -1.0, peak_ratio = -1.0, after_ratio = -1.0;
      {
        A a(Config{16, 4096, slots, slots * 4096});
        typename A::Handle h(a);
        std::size_t live_bytes = 0;
        for (Obj& o : live) {
          o.n = size();
          o.p = h.alloc(o.n);
          if (o.p == nullptr) return std::vector<double>{-1.0, -1.0, -1.0};
          std::memset(o.p, 1, o.n);
          live_bytes += o.n;
        }
        const auto t0 = std::chrono::steady_clock::now();
        std::chrono::steady_clock::duration sampling{};
        for (std::size_t s = 0; s < steps; ++s) {
          Obj& o = live[rng.below(slots)];
          h.free(o.p, o.n);
          live_bytes -= o.n;
          o.n = size();
          o.p = h.alloc(o.n);
          if (o.p == nullptr) return std::vector<double>{-1.0, -1.0, -1.0};
          std::memset(o.p, 1, o.n);
          live_bytes += o.n;
          if (s % 10000 == 0) {
            const auto t = std::chrono::steady_clock::now();
            const std::size_t now = anon_bytes();
            if (now > peak) peak = now;
            sampling += std::chrono::steady_clock::now() - t;
          }
        }
        const auto t1 = std::chrono::steady_clock::now();
        ns = std::chrono::duration<double, std::nano>(t1 - t0 - sampling).count() /
             static_cast<double>(steps);
        peak_ratio = static_cast<double>(peak - before) / static_cast<double>(live_bytes);
        for (Obj& o : live) h.free(o.p, o.n);
        a.release();
        after_ratio = static_cast<double>(anon_bytes()) / static_cast<double>(before);
      }
      return std::vector<double>{ns, peak_ratio, after_ratio};
    });
  }
  st.counters["ns_per_step"] = r[0];
  st.counters["peak_rss_over_live"] = r[1];
  st.counters["rss_after_free_over_empty"] = r[2];
  if (r[0] < 0) st.SkipWithError("allocation failed");
}

}  // namespace

template <class A>
void register_mixed(Suits suits) {
  if (!A::mixed || !suits.churn || !suits.frag) return;
  benchmark::RegisterBenchmark(name<A>("mixed", "16-4096").c_str(), mixed<A>)->Iterations(1);
}

}  // namespace swim_bench
