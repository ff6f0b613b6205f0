// Device memory allocated from host code: ExtentArena<CudaDeviceMemory> against
// the CUDA runtime's cudaMalloc/cudaFree and stream-ordered cudaMallocAsync/
// cudaFreeAsync (the default memory pool), one allocate+free pair per iteration.
//
//   device_pair/<bytes>/<allocator>   the same size every time (256 B .. 64 MiB)
//   device_mixed/<allocator>          sizes log-uniform 256 B .. 64 MiB, 64 live
//                                     blocks: free a random one, allocate another
//
// Needs a CUDA device: without one every benchmark reports an error ("no CUDA
// device") and measures nothing. Built with the release preset when CUDA is
// enabled (target swim_bench_device); run it on the GPU machine and compare the
// ratios in the same run.
#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstddef>
#include <random>
#include <vector>

#include "swim/mem.hpp"
#include "swim/mem/sources/cuda_memory.hpp"

namespace sm = swim::mem;

namespace {

bool have_device(benchmark::State& state) {
  if (sm::CudaDeviceMemory::available()) return true;
  state.SkipWithError("no CUDA device");
  return false;
}

sm::ArenaOptions arena_options() {
  sm::ArenaOptions o;
  o.granule = 256;
  o.initial_bytes = std::size_t(1) << 30;
  o.growth_bytes = std::size_t(1) << 30;
  return o;
}

// ---- One allocator behind one small interface ---------------------------------------

struct Arena {
  static constexpr const char* name = "swim-ExtentArena";
  sm::ExtentArena<sm::CudaDeviceMemory> arena{sm::CudaDeviceMemory{}, arena_options()};
  void* alloc(std::size_t n) {
    sm::Result<sm::Block> r = arena.try_allocate(sm::Layout{n, 256});
    return r ? r->ptr : nullptr;
  }
  void free(void* p, std::size_t n) { (void)arena.try_deallocate(sm::Block{p, n}); }
};

struct Malloc {
  static constexpr const char* name = "cudaMalloc";
  void* alloc(std::size_t n) {
    void* p = nullptr;
    return cudaMalloc(&p, n) == cudaSuccess ? p : nullptr;
  }
  void free(void* p, std::size_t) { (void)cudaFree(p); }
};

struct MallocAsync {
  static constexpr const char* name = "cudaMallocAsync";
  cudaStream_t stream = nullptr;
  MallocAsync() { (void)cudaStreamCreate(&stream); }
  ~MallocAsync() {
    (void)cudaStreamSynchronize(stream);
    (void)cudaStreamDestroy(stream);
  }
  void* alloc(std::size_t n) {
    void* p = nullptr;
    return cudaMallocAsync(&p, n, stream) == cudaSuccess ? p : nullptr;
  }
  void free(void* p, std::size_t) { (void)cudaFreeAsync(p, stream); }
};

template <class A>
void pair(benchmark::State& state) {
  if (!have_device(state)) return;
  const auto bytes = static_cast<std::size_t>(state.range(0));
  A a;
  std::size_t failed = 0;
  for (auto _ : state) {
    void* p = a.alloc(bytes);
    benchmark::DoNotOptimize(p);
    if (p == nullptr) {
      ++failed;
      continue;
    }
    a.free(p, bytes);
  }
  (void)cudaDeviceSynchronize();
  state.counters["failed"] = static_cast<double>(failed);
}

template <class A>
void mixed(benchmark::State& state) {
  if (!have_device(state)) return;
  A a;
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> log_size(std::log(256.0), std::log(64.0 * (1 << 20)));
  constexpr std::size_t kLive = 64;
  std::vector<std::pair<void*, std::size_t>> live;
  for (std::size_t i = 0; i < kLive; ++i) {
    const auto n = static_cast<std::size_t>(std::exp(log_size(rng)));
    live.emplace_back(a.alloc(n), n);
  }
  std::size_t failed = 0;
  for (auto _ : state) {
    auto& [p, n] = live[rng() % kLive];
    if (p != nullptr) a.free(p, n);
    n = static_cast<std::size_t>(std::exp(log_size(rng)));
    p = a.alloc(n);
    failed += p == nullptr;
  }
  for (auto& [p, n] : live) {
    if (p != nullptr) a.free(p, n);
  }
  (void)cudaDeviceSynchronize();
  state.counters["failed"] = static_cast<double>(failed);
}

template <class A>
void register_allocator() {
  for (std::int64_t bytes : {256LL, 65536LL, 1LL << 20, 64LL << 20}) {
    benchmark::RegisterBenchmark(
        ("device_pair/" + std::to_string(bytes) + "/" + A::name).c_str(), pair<A>)
        ->Arg(bytes);
  }
  benchmark::RegisterBenchmark((std::string("device_mixed/") + A::name).c_str(), mixed<A>);
}

}  // namespace

int main(int argc, char** argv) {
  register_allocator<Arena>();
  register_allocator<Malloc>();
  register_allocator<MallocAsync>();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
