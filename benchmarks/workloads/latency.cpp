// Workload (d): latency of every single operation on a fragmented heap.
//
// 65,536 slots filled with objects of 16 to 256 bytes, a random half of them freed;
// then each operation picks a random slot and frees its object, or allocates one
// where the slot is empty, timed alone between fenced time-stamp counter reads.
// Mixed sizes: the calls go through the adapter's handle (the Slabs' size-class
// lookup included), not through ops_for.
// Absolute percentiles (p50, p99, p99.9, p99.99, in ns), the maximum, the timer's
// own cost (timer_ns: the median of timing nothing) and its step (tick_ns: the
// smallest difference between two distinct readings; no latency is resolved more
// finely) are reported; tail_ratio is p99.99 / p50. Allocators that cannot reclaim
// under endless churn skip it (Suits::churn).
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "workload_support.hpp"

namespace swim_bench {
namespace {

// Per-operation timer: the time-stamp counter, fenced so that the operation
// stays between the two reads. Its own cost is measured and reported.
#if SWIM_BENCH_HAS_TSC
inline std::uint64_t tick_begin() {
  _mm_lfence();
  return __rdtsc();
}
inline std::uint64_t tick_end() {
  unsigned aux = 0;
  const std::uint64_t t = __rdtscp(&aux);
  _mm_lfence();
  return t;
}
#else
inline std::uint64_t tick_begin() {
  return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}
inline std::uint64_t tick_end() { return tick_begin(); }
#endif

/// Ticks per nanosecond, calibrated once against steady_clock.
double ticks_per_ns() {
  static const double v = [] {
    const auto t0 = std::chrono::steady_clock::now();
    const std::uint64_t c0 = tick_begin();
    while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(50)) {
    }
    const std::uint64_t c1 = tick_end();
    const double ns =
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    return static_cast<double>(c1 - c0) / ns;
  }();
  return v;
}

template <class A>
void latency(benchmark::State& st) {
  const auto ops = static_cast<std::size_t>(st.range(0));
  constexpr std::size_t slots = 1 << 16;
  constexpr std::size_t sizes[] = {16, 32, 64, 128, 256};
  A a(Config{16, 256, slots, slots * 256});
  typename A::Handle h(a);
  std::vector<void*> ptr(slots, nullptr);
  std::vector<std::uint16_t> len(slots, 0);
  std::vector<std::uint32_t> ticks(ops);
  Rng rng(7);
  // Fragment: fill every slot, then free a random half.
  for (std::size_t i = 0; i < slots; ++i) {
    len[i] = static_cast<std::uint16_t>(sizes[rng.below(5)]);
    ptr[i] = h.alloc(len[i]);
  }
  for (std::size_t i = 0; i < slots / 2; ++i) {
    const std::size_t j = rng.below(slots);
    if (ptr[j]) h.free(ptr[j], len[j]);
    ptr[j] = nullptr;
  }
  std::size_t failures = 0;
  for (auto _ : st) {
    for (std::size_t i = 0; i < ops; ++i) {
      const std::size_t j = rng.below(slots);
      std::uint64_t t0, t1;
      if (ptr[j] != nullptr) {
        t0 = tick_begin();
        h.free(ptr[j], len[j]);
        t1 = tick_end();
        ptr[j] = nullptr;
      } else {
        const std::size_t n = sizes[rng.below(5)];
        t0 = tick_begin();
        void* p = h.alloc(n);
        t1 = tick_end();
        if (p == nullptr) ++failures;
        ptr[j] = p;
        len[j] = static_cast<std::uint16_t>(n);
      }
      ticks[i] = static_cast<std::uint32_t>(std::min<std::uint64_t>(t1 - t0, 0xFFFFFFFFu));
    }
  }
  // The timer's own cost, measured the same way around nothing.
  std::vector<std::uint32_t> empty(1 << 16);
  for (auto& e : empty) {
    const std::uint64_t t0 = tick_begin();
    const std::uint64_t t1 = tick_end();
    e = static_cast<std::uint32_t>(t1 - t0);
  }
  for (std::size_t i = 0; i < slots; ++i) {
    if (ptr[i]) h.free(ptr[i], len[i]);
  }
  auto pct = [&](std::vector<std::uint32_t>& v, double q) {
    const std::size_t k =
        std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return static_cast<double>(v[k]) / ticks_per_ns();
  };
  // The timer's step: the smallest difference between two distinct readings of
  // timing nothing or one operation (differences of a counter that advances in
  // steps are multiples of the step).
  std::vector<std::uint32_t> seen(empty);
  seen.insert(seen.end(), ticks.begin(),
              ticks.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(ops, 1 << 20)));
  std::sort(seen.begin(), seen.end());
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
  std::uint32_t step = 0;
  for (std::size_t i = 1; i < seen.size(); ++i) {
    const std::uint32_t d = seen[i] - seen[i - 1];
    if (step == 0 || d < step) step = d;
  }
  const double timer = pct(empty, 0.5);
  const double p50 = pct(ticks, 0.5), p99 = pct(ticks, 0.99), p999 = pct(ticks, 0.999);
  const double p9999 = pct(ticks, 0.9999);
  const double mx =
      static_cast<double>(*std::max_element(ticks.begin(), ticks.end())) / ticks_per_ns();
  st.counters["p50_ns"] = p50;
  st.counters["p99_ns"] = p99;
  st.counters["p999_ns"] = p999;
  st.counters["p9999_ns"] = p9999;
  st.counters["max_ns"] = mx;
  st.counters["timer_ns"] = timer;
  st.counters["tick_ns"] = static_cast<double>(step) / ticks_per_ns();
  st.counters["tail_ratio"] = p9999 / p50;
  st.counters["ops"] = static_cast<double>(ops);
  if (failures) st.SkipWithError("allocation failed");
}

}  // namespace

template <class A>
void register_latency(Suits suits) {
  if (suits.churn) {
    const std::int64_t ops = quick() ? 1000000 : 10000000;
    benchmark::RegisterBenchmark(name<A>("latency", "16-256").c_str(), latency<A>)
        ->Arg(ops)
        ->Iterations(1);
  }
}

}  // namespace swim_bench
