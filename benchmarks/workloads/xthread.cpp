// Workload (c): producer/consumer, every object freed by the other thread.
//
// One thread allocates 64-byte objects and writes a message in each, the other reads
// it and frees the object: every free is a cross-thread free, and the memory has to
// flow back from the consumer to the producer through the allocator. The objects
// pass through a single-producer single-consumer ring of 1024 pointers. Wall time of
// both threads; thread-safe allocators that reclaim under endless churn only
// (Suits::churn).
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>

#include "workload_support.hpp"

namespace swim_bench {
namespace {

/// Single-producer single-consumer ring of pointers.
class Ring {
 public:
  static constexpr std::size_t size = 1024;
  void push(void* p) {
    const std::size_t t = tail_.load(std::memory_order_relaxed);
    for (unsigned spins = 0; t - head_cache_ >= size; ++spins) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (t - head_cache_ >= size) wait(spins);
    }
    slots_[t % size] = p;
    tail_.store(t + 1, std::memory_order_release);
  }
  void* pop() {
    const std::size_t h = head_.load(std::memory_order_relaxed);
    for (unsigned spins = 0; h == tail_cache_; ++spins) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (h == tail_cache_) wait(spins);
    }
    void* p = slots_[h % size];
    head_.store(h + 1, std::memory_order_release);
    return p;
  }

 private:
  // Spin briefly, then yield: on a loaded 2-core machine the other thread may not
  // be running, and spinning would only burn its time slice.
  static void wait(unsigned spins) {
#if SWIM_BENCH_HAS_TSC
    if (spins < 256) {
      _mm_pause();
      return;
    }
#endif
    std::this_thread::yield();
  }
  alignas(64) std::atomic<std::size_t> head_{0};
  std::size_t tail_cache_ = 0;  // consumer's view
  alignas(64) std::atomic<std::size_t> tail_{0};
  std::size_t head_cache_ = 0;  // producer's view
  alignas(64) void* slots_[size];
};

template <class A>
void xthread(benchmark::State& st) {
  constexpr std::size_t size = 64;
  const auto total = static_cast<std::size_t>(st.range(0));
  A a(Config{size, size, 1 << 16});
  std::atomic<std::size_t> failures{0};
  for (auto _ : st) {
    auto ring = std::make_unique<Ring>();
    std::thread consumer([&] {
      typename A::Handle handle(a);
      auto&& h = ops_for(a, handle);
      for (std::size_t i = 0; i < total; ++i) {
        void* p = ring->pop();
        if (p == nullptr) continue;
        (void)*static_cast<volatile std::uint64_t*>(p);  // the message is read
        h.free(p, size);
      }
    });
    {
      typename A::Handle handle(a);
      auto&& h = ops_for(a, handle);
      for (std::size_t i = 0; i < total; ++i) {
        void* p = h.alloc(size);
        if (p != nullptr) {
          *static_cast<std::uint64_t*>(p) = i;  // a message is written before it is sent
        } else {
          failures.fetch_add(1, std::memory_order_relaxed);
        }
        ring->push(p);
      }
      consumer.join();
    }
  }
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations() * total));
  if (failures.load()) st.SkipWithError("allocation failed");
}

}  // namespace

template <class A>
void register_xthread(Suits suits) {
  if constexpr (A::thread_safe) {
    if (suits.churn) {
      const std::int64_t total = quick() ? 200000 : 2000000;
      benchmark::RegisterBenchmark(name<A>("xthread", "64").c_str(), xthread<A>)
          ->Arg(total)
          ->UseRealTime()
          ->Iterations(quick() ? 2 : 5);
    }
  }
}

}  // namespace swim_bench
