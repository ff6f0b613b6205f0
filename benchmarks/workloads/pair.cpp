// Workload (a): single-thread allocate/free pairs of one size, 16 to 4096 bytes.
//
// pair/<size>: one object allocated and freed at once, over and over, nothing else
// live: the allocator's fast path and nothing more. A malloc that empties a page at
// the last free (mimalloc) pays for that here at every pair.
// pair_one_live/64: the same 64-byte pair with one more object of the same size
// allocated before the loop and kept live through it, so that no allocator can
// reset or retire an emptied page (the "one block kept live" case; for a
// Pack or Pool the pair is then a LIFO give-back instead of a reset).
//
// Both run the loop on a thread of their own, started for the benchmark: a malloc's
// per-thread heap or cache then holds nothing but what the loop allocates (on the
// benchmark's main thread it would also hold the harness's own objects, some of them
// in the same size class). For mimalloc the objects of the size class live in that
// thread's heap before the loop are counted (counter same_class_live: 0 and 1 when
// the two cases are what they claim). Google Benchmark times the loop on the thread
// that runs it (its CPU timer is per thread).
//
// The fixed-size heaps are called directly (ops_for in workload_support.hpp), as code
// that holds the Slab of its object size would; foonathan's memory_stack unwinds after
// every pair (end_pair) and has no one-live case (an unwind frees everything). Items
// per second count pairs.
#include <cstddef>
#include <cstdint>
#include <thread>
#include <type_traits>

#include "workload_support.hpp"

namespace swim_bench {
namespace {

template <class A>
void end_pair(A& a) {
  if constexpr (requires { a.end_pair(); }) a.end_pair();
}

#if SWIM_BENCH_MALLOC_MIMALLOC
/// Live objects in this thread's mimalloc heap whose block size is `size`.
double mimalloc_class_live(std::size_t size) {
  struct Count {
    std::size_t size;
    std::size_t live;
  } c{size, 0};
  mi_heap_visit_blocks(
      mi_heap_get_default(), false,
      [](const mi_heap_t*, const mi_heap_area_t* area, void*, std::size_t, void* arg) {
        auto* k = static_cast<Count*>(arg);
        if (area->block_size == k->size) k->live += area->used;
        return true;
      },
      &c);
  return static_cast<double>(c.live);
}
#endif

template <class A, std::size_t Size, bool KeepOne>
void pair(benchmark::State& st) {
  std::thread worker([&] {
    A a(Config{Size, Size, 1024});
    typename A::Handle handle(a);
    auto&& h = ops_for(a, handle);
    void* kept = nullptr;
    if (KeepOne) {
      kept = h.alloc(Size);
      escape(kept);
      if (kept == nullptr) {
        st.SkipWithError("allocation failed");
        return;
      }
    }
#if SWIM_BENCH_MALLOC_MIMALLOC
    if constexpr (std::is_same_v<A, Malloc>) st.counters["same_class_live"] = mimalloc_class_live(Size);
#endif
    for (auto _ : st) {
      void* p = h.alloc(Size);
      escape(p);
      h.free(p, Size);
      end_pair(a);
    }
    if (kept != nullptr) h.free(kept, Size);
  });
  worker.join();
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations()));
}

template <class A, std::size_t Size>
void register_size() {
  benchmark::RegisterBenchmark(name<A>("pair", std::to_string(Size)).c_str(), pair<A, Size, false>);
}

}  // namespace

template <class A>
void register_pair(Suits) {
  register_size<A, 16>();
  register_size<A, 64>();
  register_size<A, 256>();
  register_size<A, 1024>();
  register_size<A, 4096>();
  if constexpr (!requires(A& a) { a.end_pair(); }) {
    benchmark::RegisterBenchmark(name<A>("pair_one_live", "64").c_str(), pair<A, 64, true>);
  }
}

}  // namespace swim_bench
