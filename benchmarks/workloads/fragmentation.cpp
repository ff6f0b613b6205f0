// Workload (e): fragmentation after churn, for raw blocks that nothing can move.
//
// 64 MiB live of 9..1024-byte objects (log-uniform over the power-of-two classes),
// replaced at random four times over, then a random three quarters freed; the
// allocator's release() runs before each measurement. Fragmentation is 1 - live
// bytes / resident bytes grown (and, for swim-mem, / the bytes the allocator holds),
// in a child process (in_child, as in overhead.cpp). Bump allocators skip it (random
// frees would exhaust them), and so do Slabs, whose footprint is how they were
// provisioned (Suits::frag).
#include <cstddef>
#include <cstring>
#include <utility>
#include <vector>

#include "workload_support.hpp"

namespace swim_bench {
namespace {

template <class A>
void fragmentation(benchmark::State& st) {
  const std::size_t target = quick() ? std::size_t(16) << 20 : std::size_t(64) << 20;
  std::vector<double> r;
  for (auto _ : st) {
    r = in_child(5, [&] {
      struct Obj {
        void* p;
        std::size_t n;
      };
      std::vector<Obj> objs;
      objs.reserve(target / 16);
      Rng rng(11);
      // Sizes 9..1024 bytes, log-uniform over the power-of-two classes.
      auto size = [&] {
        const unsigned c = 4 + static_cast<unsigned>(rng.below(7));
        const std::size_t hi = std::size_t(1) << c;
        return hi / 2 + 1 + rng.below(hi / 2);
      };
      const std::size_t before = rss_bytes();
      A a(Config{9, 1024, target / 64, target * 2});
      typename A::Handle h(a);
      std::size_t live = 0;
      while (live < target) {
        const std::size_t n = size();
        void* p = h.alloc(n);
        if (p == nullptr) return std::vector<double>{-1.0};
        std::memset(p, 1, n);
        objs.push_back({p, n});
        live += n;
      }
      // Churn: replace random objects by objects of other sizes, 4 times over.
      const std::size_t churn = 4 * objs.size();
      for (std::size_t i = 0; i < churn; ++i) {
        Obj& o = objs[rng.below(objs.size())];
        h.free(o.p, o.n);
        live -= o.n;
        o.n = size();
        o.p = h.alloc(o.n);
        if (o.p == nullptr) return std::vector<double>{-1.0};
        std::memset(o.p, 1, o.n);
        live += o.n;
      }
      a.release();
      const double foot1 = static_cast<double>(rss_bytes() - before);
      const double frag_churn = 1.0 - static_cast<double>(live) / foot1;
      const double int1 = internal_footprint(a);
      const double ifrag_churn = int1 < 0 ? -1.0 : 1.0 - static_cast<double>(live) / int1;
      // Then free a random three quarters of the objects.
      for (std::size_t i = objs.size() - 1; i > 0; --i) std::swap(objs[i], objs[rng.below(i + 1)]);
      const std::size_t keep = objs.size() / 4;
      for (std::size_t i = keep; i < objs.size(); ++i) {
        h.free(objs[i].p, objs[i].n);
        live -= objs[i].n;
      }
      objs.resize(keep);
      a.release();
      const double foot2 = static_cast<double>(rss_bytes() - before);
      const double frag_freed = 1.0 - static_cast<double>(live) / foot2;
      const double int2 = internal_footprint(a);
      const double ifrag_freed = int2 < 0 ? -1.0 : 1.0 - static_cast<double>(live) / int2;
      for (Obj& o : objs) h.free(o.p, o.n);
      a.end_burst();
      return std::vector<double>{frag_churn, frag_freed, ifrag_churn, ifrag_freed,
                                 static_cast<double>(target)};
    });
  }
  if (r[0] == -1.0) {
    st.SkipWithError("allocation failed");
    return;
  }
  st.counters["frag_after_churn"] = r[0];
  st.counters["frag_after_free75"] = r[1];
  if (r[2] > -1.0) st.counters["frag_internal_after_churn"] = r[2];
  if (r[3] > -1.0) st.counters["frag_internal_after_free75"] = r[3];
  st.counters["live_target_B"] = r[4];
}

}  // namespace

template <class A>
void register_fragmentation(Suits suits) {
  if (suits.frag) {
    benchmark::RegisterBenchmark(name<A>("fragmentation", "9-1024").c_str(), fragmentation<A>)
        ->Iterations(1);
  }
}

}  // namespace swim_bench
