// Workload (a): single-thread allocate/free pairs of one size, 16 to 4096 bytes.
//
// One object allocated and freed at once, over and over, nothing else live: the
// allocator's fast path and nothing more. The fixed-size heaps are called directly
// (ops_for in workload_support.hpp), as code that holds the Slab of its object size
// would; foonathan's memory_stack unwinds after every pair (end_pair). Items per
// second count pairs.
#include <cstddef>
#include <cstdint>

#include "workload_support.hpp"

namespace swim_bench {
namespace {

template <class A>
void end_pair(A& a) {
  if constexpr (requires { a.end_pair(); }) a.end_pair();
}

template <class A, std::size_t Size>
void pair(benchmark::State& st) {
  A a(Config{Size, Size, 1024});
  typename A::Handle handle(a);
  auto&& h = ops_for(a, handle);
  for (auto _ : st) {
    void* p = h.alloc(Size);
    escape(p);
    h.free(p, Size);
    end_pair(a);
  }
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations()));
}

template <class A, std::size_t Size>
void register_size() {
  benchmark::RegisterBenchmark(name<A>("pair", std::to_string(Size)).c_str(), pair<A, Size>);
}

}  // namespace

template <class A>
void register_pair(Suits) {
  register_size<A, 16>();
  register_size<A, 64>();
  register_size<A, 256>();
  register_size<A, 1024>();
  register_size<A, 4096>();
}

}  // namespace swim_bench
