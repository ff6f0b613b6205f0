// Workload (e), swim-mem only: bytes of overhead per leased object.
//
// N leases of a T (16, 64 or 256 bytes) made in a Pack: the bytes the Pack consumed
// per object beyond sizeof(T) (tag, in-object metadata, padding), and the size of
// the handle. Ptr<Box<T, M>> keeps the user metadata M in the object, Raw<Box<T, M>>
// in the handle; with no metadata both are one word and the object carries only the
// tag.
//
// Registered by swim_bench alone (benchmarks/CMakeLists.txt).
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "workload_support.hpp"

namespace swim_bench {
namespace {

template <std::size_t Size>
struct Payload {
  std::uint64_t words[Size / 8];
};

template <class Lease, std::size_t Size>
void lease_overhead(benchmark::State& st) {
  constexpr std::size_t n = 1 << 14;
  for (auto _ : st) {
    Region region(n * (Size + 64) + (1 << 20));
    sm::Pack<sm::single_owner> pack(region.block);
    std::vector<Lease> leases;
    leases.reserve(n);
    const std::size_t free_before = pack.stats().bytes_free;
    for (std::size_t i = 0; i < n; ++i) {
      sm::Result<Lease> l = Lease::try_new(sm::HoldRef::of(pack));
      if (!l) {
        st.SkipWithError("allocation failed");
        return;
      }
      leases.push_back(l.take());
    }
    const double per_object =
        static_cast<double>(free_before - pack.stats().bytes_free) / static_cast<double>(n);
    st.counters["object_overhead_B"] = per_object - static_cast<double>(Size);
    st.counters["handle_B"] = static_cast<double>(sizeof(Lease));
    using Meta = typename Lease::meta_type;
    st.counters["meta_B"] = std::is_empty_v<Meta> ? 0.0 : static_cast<double>(sizeof(Meta));
    leases.clear();
  }
}

}  // namespace

void register_lease_overhead() {
  using M = std::uint32_t;
  using M8 = std::uint64_t;
#define SWIM_BENCH_LEASE(size)                                                                \
  benchmark::RegisterBenchmark("lease_overhead/" #size "/Raw<Box<T>>",                        \
                               lease_overhead<sm::Raw<sm::Box<Payload<size>>>, size>)          \
      ->Iterations(1);                                                                        \
  benchmark::RegisterBenchmark("lease_overhead/" #size "/Ptr<Box<T>>",                        \
                               lease_overhead<sm::Ptr<sm::Box<Payload<size>>>, size>)          \
      ->Iterations(1);                                                                        \
  benchmark::RegisterBenchmark("lease_overhead/" #size "/Ptr<Box<T, u32>>",                   \
                               lease_overhead<sm::Ptr<sm::Box<Payload<size>, M>>, size>)       \
      ->Iterations(1);                                                                        \
  benchmark::RegisterBenchmark("lease_overhead/" #size "/Ptr<Box<T, u64>>",                   \
                               lease_overhead<sm::Ptr<sm::Box<Payload<size>, M8>>, size>)      \
      ->Iterations(1);                                                                        \
  benchmark::RegisterBenchmark("lease_overhead/" #size "/Raw<Box<T, u32>>",                   \
                               lease_overhead<sm::Raw<sm::Box<Payload<size>, M>>, size>)       \
      ->Iterations(1);
  SWIM_BENCH_LEASE(16)
  SWIM_BENCH_LEASE(64)
  SWIM_BENCH_LEASE(256)
#undef SWIM_BENCH_LEASE
}

}  // namespace swim_bench
