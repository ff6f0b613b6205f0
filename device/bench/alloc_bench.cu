// Device workloads (the device targets of docs/benchmarks.md): N threads (1e5 ..
// 1e7) each allocate and then free one object of 16 B .. 8 KiB inside a kernel,
// with swim-mem's allocators and with CUDA's in-kernel malloc/free, in the same
// process and run.
//
//   swim_mem_device_bench [--quick] [--mode throughput|oom] [--json FILE]
//
// Allocators (all built in a kernel, over memory from one cudaMalloc):
//   swim-slab-thread   one lock-free Slab per size; every thread calls it
//   swim-slab-warp     the same Slab, but a warp's lane 0 serves the warp through a
//                      SlabCache (one CAS takes 32 units; one gives them back)
//   swim-pack          one lock-free Pack (bump; resets when the last object is freed)
//   swim-pool          a lock-free Pool of 64 KiB hunks drawn from a Slab of hunks;
//                      frees go through hold_deallocate (the tag), as a kernel would
//   swim-sc-thread     SizeClasses over an in-band ExtentHeap (any size); every
//                      thread calls try_allocate, frees through hold_deallocate
//   swim-sc-warp       the same hold through the warp front (warp_try_allocate:
//                      one run per class and warp call), frees as above
//   cuda-malloc        malloc/free in the kernel (heap limit set to the same size)
// Reported per (allocator, threads, size): successful allocations per second of
// kernel time, failures, the largest number of re-calls after Error::contended any
// thread needed (retries inside an allocator's CAS loop are bounded but not
// counted), and the largest and mean clock64() cycles one allocation took.
// --mode oom: with a 256 MiB heap, twice as many threads as objects fit each
// allocate once; "usable" is the fraction of the heap handed out before the
// first failure.
//
// Without a GPU the program prints "SKIPPED: <reason>" and exits with 77.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "swim/mem/config.hpp"
#include "swim/mem/heaps/extent_heap.hpp"
#include "swim/mem/heaps/slab.hpp"
#include "swim/mem/heaps/slab_cache.hpp"
#include "swim/mem/holds/hold.hpp"
#include "swim/mem/holds/pack.hpp"
#include "swim/mem/holds/pool.hpp"
#include "swim/mem/holds/size_classes.hpp"
#include "swim/mem/holds/warp_front.hpp"
#include "swim/mem/physical.hpp"

namespace {

namespace sm = swim::mem;
using u64 = unsigned long long;
using SlabT = sm::Slab<sm::concurrent, false>;
using PackT = sm::Pack<sm::concurrent>;
using PoolT = sm::Pool<SlabT, sm::concurrent>;
using CacheT = sm::SlabCache<SlabT, 64>;
using ExtentT = sm::ExtentHeap<sm::concurrent>;
using ScT = sm::SizeClasses<ExtentT, sm::concurrent, false>;

enum Kind : int { slab_thread, slab_warp, pack, pool, sc_thread, sc_warp, cuda_malloc, kinds };
const char* const kind_names[kinds] = {"swim-slab-thread", "swim-slab-warp", "swim-pack", "swim-pool",
                                       "swim-sc-thread",   "swim-sc-warp",   "cuda-malloc"};

constexpr unsigned max_recalls = 64;  // re-calls after Error::contended before giving up

struct Counters {
  u64 ok, failed, max_recalls, max_cycles, sum_cycles;
};

/// What a kernel allocates from (device pointers).
struct Heaps {
  SlabT* slab;
  PackT* pack;
  PoolT* pool;
  ScT* sc;
};

__device__ u64 thread_index() { return u64(blockIdx.x) * blockDim.x + threadIdx.x; }

__device__ void record(Counters* c, bool ok, unsigned recalls, u64 cycles) {
  atomicAdd(ok ? &c->ok : &c->failed, 1ull);
  if (ok) {
    atomicMax(&c->max_recalls, static_cast<u64>(recalls));
    atomicMax(&c->max_cycles, cycles);
    atomicAdd(&c->sum_cycles, cycles);
  }
}

template <class F>
__device__ void* with_recalls(F alloc, unsigned& recalls) {
  for (recalls = 0; recalls <= max_recalls; ++recalls) {
    const sm::Result<sm::Block> r = alloc();
    if (r) return r->ptr;
    if (r.error() != sm::Error::contended) return nullptr;
  }
  return nullptr;
}

/// One allocation of `size` bytes from `kind`; null on failure.
template <int K>
__device__ void* allocate(const Heaps& h, unsigned size, unsigned& recalls) {
  const sm::Layout layout{size, 8};
  if constexpr (K == slab_thread) {
    return with_recalls([&] { return h.slab->try_allocate(layout); }, recalls);
  } else if constexpr (K == pack) {
    return with_recalls([&] { return h.pack->try_allocate(layout); }, recalls);
  } else if constexpr (K == pool) {
    return with_recalls([&] { return h.pool->try_allocate(layout); }, recalls);
  } else if constexpr (K == sc_thread) {
    return with_recalls([&] { return h.sc->try_allocate(layout); }, recalls);
  } else {
    recalls = 0;
    return malloc(size);
  }
}

template <int K>
__device__ void release(const Heaps& h, void* p, unsigned size) {
  if constexpr (K == slab_thread) {
    h.slab->try_deallocate(sm::Block{p, size});
  } else if constexpr (K == pack) {
    h.pack->try_deallocate(sm::Block{p, size});
  } else if constexpr (K == pool || K == sc_thread || K == sc_warp) {
    sm::hold_deallocate(sm::Block{p, size});
  } else {
    free(p);
  }
}

/// Every thread: allocate, write, free.
template <int K>
__global__ void alloc_free(Heaps h, u64 n, unsigned size, Counters* c) {
  const u64 i = thread_index();
  if (i >= n) return;
  unsigned recalls = 0;
  const u64 t0 = clock64();
  void* p = allocate<K>(h, size, recalls);
  const u64 t1 = clock64();
  record(c, p != nullptr, recalls, t1 - t0);
  if (p == nullptr) return;
  *static_cast<volatile u64*>(p) = i;
  release<K>(h, p, size);
}

/// A warp at a time: lane 0 takes a unit for every active lane from a SlabCache
/// (its first call moves 32 units off the shared Slab in one CAS), hands them out
/// by shuffles, collects them back and frees them into the cache, whose
/// destructor returns them in one CAS.
__global__ void alloc_free_warp(Heaps h, u64 n, unsigned size, Counters* c) {
  const u64 i = thread_index();
  const unsigned active = __ballot_sync(0xFFFFFFFFu, i < n);
  if (i >= n) return;
  const unsigned lane = threadIdx.x % 32;
  const unsigned leader = static_cast<unsigned>(__ffs(static_cast<int>(active)) - 1);
  const u64 t0 = clock64();
  alignas(CacheT) unsigned char storage[sizeof(CacheT)];
  CacheT* cache = nullptr;
  void* got[32];
  for (unsigned k = 0; k < 32; ++k) got[k] = nullptr;
  if (lane == leader) {
    cache = new (storage) CacheT(*h.slab);
    for (unsigned k = 0; k < 32; ++k) {
      if ((active >> k) & 1u) {
        const sm::Result<sm::Block> r = cache->try_allocate(sm::Layout{size, 8});
        if (r) got[k] = r->ptr;
      }
    }
  }
  // Every lane runs the same shuffles; the leader's values are the ones read.
  u64 mine = 0;
  for (unsigned k = 0; k < 32; ++k) {
    const u64 v = __shfl_sync(active, reinterpret_cast<u64>(got[k]), static_cast<int>(leader));
    if (k == lane) mine = v;
  }
  if (mine != 0) *reinterpret_cast<volatile u64*>(mine) = i;
  __syncwarp(active);  // every lane has written before its unit is freed
  if (lane == leader) {
    for (unsigned k = 0; k < 32; ++k) {
      if (got[k] != nullptr) cache->try_deallocate(sm::Block{got[k], size});
    }
    cache->~CacheT();  // gives the units back in one CAS
  }
  const u64 t1 = clock64();
  record(c, mine != 0, 0, t1 - t0);
}

/// The warp front: the lanes below n call warp_try_allocate together; those that
/// meet contended call again together (at most max_recalls times).
__device__ void* allocate_warp(const Heaps& h, bool in, unsigned size, unsigned& recalls) {
  const sm::Warp warp;
  const sm::WarpMask among = warp.ballot(warp.active(), in);
  recalls = 0;
  if (!in) return nullptr;
  sm::Result<sm::Block> r = sm::Error::contended;
  sm::WarpMask ask = among;
  for (unsigned call = 0; ask != 0 && call <= max_recalls; ++call) {
    if (((ask >> warp.lane()) & 1) != 0) {
      if (call != 0) ++recalls;
      r = sm::warp_try_allocate(warp, *h.sc, sm::Layout{size, 8}, ask);
    }
    ask = warp.ballot(among, r.error() == sm::Error::contended);
  }
  return r ? r->ptr : nullptr;
}

__global__ void alloc_free_sc_warp(Heaps h, u64 n, unsigned size, Counters* c) {
  const u64 i = thread_index();
  unsigned recalls = 0;
  const u64 t0 = clock64();
  void* p = allocate_warp(h, i < n, size, recalls);
  const u64 t1 = clock64();
  if (i >= n) return;
  record(c, p != nullptr, recalls, t1 - t0);
  if (p == nullptr) return;
  *static_cast<volatile u64*>(p) = i;
  release<sc_warp>(h, p, size);
}

/// OOM mode: every thread allocates once and keeps it (pointers stored for freeing).
template <int K>
__global__ void fill(Heaps h, u64 n, unsigned size, void** out, Counters* c) {
  const u64 i = thread_index();
  if (i >= n) return;
  unsigned recalls = 0;
  void* p = allocate<K>(h, size, recalls);
  out[i] = p;
  record(c, p != nullptr, recalls, 0);
}

__global__ void fill_sc_warp(Heaps h, u64 n, unsigned size, void** out, Counters* c) {
  const u64 i = thread_index();
  unsigned recalls = 0;
  void* p = allocate_warp(h, i < n, size, recalls);
  if (i >= n) return;
  out[i] = p;
  record(c, p != nullptr, recalls, 0);
}

template <int K>
__global__ void drain(Heaps h, u64 n, unsigned size, void** in) {
  const u64 i = thread_index();
  if (i < n && in[i] != nullptr) release<K>(h, in[i], size);
}

// ---- Construction in a kernel (the control blocks live in device memory) ----

__global__ void make_slab(SlabT* at, sm::Block region, unsigned unit) { new (at) SlabT(region, unit); }
__global__ void make_pack(PackT* at, sm::Block region) { new (at) PackT(region); }
__global__ void make_pool(SlabT* hunks, sm::Block region, PoolT* at) {
  new (hunks) SlabT(region, 64 * 1024);
  new (at) PoolT(*hunks, 64 * 1024);
}
__global__ void make_sc(ExtentT* extents, sm::Block region, ScT* at) {
  new (extents) ExtentT(region, 4096);  // records in-band, at the end of the region
  new (at) ScT(*extents);
}
__global__ void unmake(SlabT* slab, PackT* pack, PoolT* pool, SlabT* hunks, ScT* sc, ExtentT* extents) {
  if (sc) sc->~ScT();
  if (extents) extents->~ExtentT();
  if (pool) pool->~PoolT();
  if (hunks) hunks->~SlabT();
  if (pack) pack->~PackT();
  if (slab) slab->~SlabT();
}

// ---- Host side ----

bool check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return true;
  std::fprintf(stderr, "swim_mem_device_bench: %s: %s\n", what, cudaGetErrorString(e));
  return false;
}

struct Result {
  std::string test, allocator;
  u64 threads = 0;
  unsigned size = 0;
  Counters c{};
  double seconds = 0, heap_bytes = 0;
};

struct Bench {
  std::byte* region = nullptr;  // the memory every swim-mem heap is built over
  std::size_t region_bytes = 0;
  SlabT* slab = nullptr;
  SlabT* hunks = nullptr;
  PackT* pack = nullptr;
  PoolT* pool = nullptr;
  ExtentT* extents = nullptr;
  ScT* sc = nullptr;
  Counters* counters = nullptr;
  void** pointers = nullptr;
  std::size_t pointer_slots = 0;
  cudaEvent_t start{}, stop{};

  bool init(std::size_t bytes, std::size_t slots) {
    region_bytes = bytes;
    pointer_slots = slots;
    return check(cudaMalloc(&region, bytes), "cudaMalloc region") &&
           check(cudaMalloc(&slab, sizeof(SlabT)), "cudaMalloc") &&
           check(cudaMalloc(&hunks, sizeof(SlabT)), "cudaMalloc") &&
           check(cudaMalloc(&pack, sizeof(PackT)), "cudaMalloc") &&
           check(cudaMalloc(&pool, sizeof(PoolT)), "cudaMalloc") &&
           check(cudaMalloc(&extents, sizeof(ExtentT)), "cudaMalloc") &&
           check(cudaMalloc(&sc, sizeof(ScT)), "cudaMalloc") &&
           check(cudaMalloc(&counters, sizeof(Counters)), "cudaMalloc") &&
           (slots == 0 || check(cudaMalloc(&pointers, slots * sizeof(void*)), "cudaMalloc")) &&
           check(cudaEventCreate(&start), "event") && check(cudaEventCreate(&stop), "event");
  }

  /// Build the allocator of `kind` over `bytes` of the region, for objects of `size`.
  Heaps build(int kind, std::size_t bytes, unsigned size) {
    Heaps h{nullptr, nullptr, nullptr, nullptr};
    const sm::Block block{region, std::min(bytes, region_bytes)};
    if (kind == slab_thread || kind == slab_warp) {
      make_slab<<<1, 1>>>(slab, block, size);
      h.slab = slab;
    } else if (kind == Kind::pack) {
      make_pack<<<1, 1>>>(pack, block);
      h.pack = pack;
    } else if (kind == Kind::pool) {
      make_pool<<<1, 1>>>(hunks, block, pool);
      h.pool = pool;
    } else if (kind == sc_thread || kind == sc_warp) {
      make_sc<<<1, 1>>>(extents, block, sc);
      h.sc = sc;
    }
    check(cudaDeviceSynchronize(), "build");
    return h;
  }
  void tear_down(const Heaps& h) {
    unmake<<<1, 1>>>(h.slab, h.pack, h.pool, h.pool ? hunks : nullptr, h.sc, h.sc ? extents : nullptr);
    check(cudaDeviceSynchronize(), "tear down");
  }

  template <class Launch>
  bool timed(Launch launch, Result& r) {
    check(cudaMemset(counters, 0, sizeof(Counters)), "memset");
    check(cudaEventRecord(start), "event");
    launch();
    check(cudaEventRecord(stop), "event");
    if (!check(cudaEventSynchronize(stop), "kernel")) return false;
    float ms = 0;
    check(cudaEventElapsedTime(&ms, start, stop), "elapsed");
    r.seconds = ms / 1e3;
    return check(cudaMemcpy(&r.c, counters, sizeof(Counters), cudaMemcpyDeviceToHost), "copy");
  }
};

constexpr unsigned block_threads = 256;
unsigned blocks_for(u64 n) { return static_cast<unsigned>((n + block_threads - 1) / block_threads); }

template <int K>
void launch_alloc_free(const Heaps& h, u64 n, unsigned size, Counters* c) {
  if constexpr (K == slab_warp) {
    alloc_free_warp<<<blocks_for(n), block_threads>>>(h, n, size, c);
  } else if constexpr (K == sc_warp) {
    alloc_free_sc_warp<<<blocks_for(n), block_threads>>>(h, n, size, c);
  } else {
    alloc_free<K><<<blocks_for(n), block_threads>>>(h, n, size, c);
  }
}

bool throughput(Bench& b, int kind, u64 n, unsigned size, Result& r) {
  // The heap: room for every thread's object, at most the whole region (threads
  // free their object at once, so far fewer are live at any moment).
  std::size_t bytes = std::min<std::size_t>(b.region_bytes, static_cast<std::size_t>(n) * (size + 64));
  if (kind == slab_thread || kind == slab_warp) {
    // The Slab links its units in its (single-threaded) constructor: at most 1e7.
    bytes = std::min<std::size_t>(bytes, std::size_t(10000000) * size);
  }
  const Heaps h = b.build(kind, bytes, size);
  r.heap_bytes = static_cast<double>(kind == cuda_malloc ? b.region_bytes : bytes);
  bool ok = false;
  switch (kind) {
    case slab_thread: ok = b.timed([&] { launch_alloc_free<slab_thread>(h, n, size, b.counters); }, r); break;
    case slab_warp: ok = b.timed([&] { launch_alloc_free<slab_warp>(h, n, size, b.counters); }, r); break;
    case pack: ok = b.timed([&] { launch_alloc_free<pack>(h, n, size, b.counters); }, r); break;
    case pool: ok = b.timed([&] { launch_alloc_free<pool>(h, n, size, b.counters); }, r); break;
    case sc_thread: ok = b.timed([&] { launch_alloc_free<sc_thread>(h, n, size, b.counters); }, r); break;
    case sc_warp: ok = b.timed([&] { launch_alloc_free<sc_warp>(h, n, size, b.counters); }, r); break;
    default: ok = b.timed([&] { launch_alloc_free<cuda_malloc>(h, n, size, b.counters); }, r); break;
  }
  b.tear_down(h);
  return ok;
}

template <int K>
bool oom_one(Bench& b, const Heaps& h, u64 n, unsigned size, Result& r) {
  const bool ok = b.timed(
      [&] {
        if constexpr (K == sc_warp) {
          fill_sc_warp<<<blocks_for(n), block_threads>>>(h, n, size, b.pointers, b.counters);
        } else {
          fill<K><<<blocks_for(n), block_threads>>>(h, n, size, b.pointers, b.counters);
        }
      },
      r);
  drain<K><<<blocks_for(n), block_threads>>>(h, n, size, b.pointers);
  return check(cudaDeviceSynchronize(), "drain") && ok;
}

bool oom(Bench& b, int kind, unsigned size, std::size_t heap, Result& r) {
  const u64 n = std::min<u64>(2 * heap / size, b.pointer_slots);
  r.threads = n;
  const Heaps h = b.build(kind, heap, size);
  r.heap_bytes = static_cast<double>(heap);
  bool ok = false;
  switch (kind) {
    case slab_thread: ok = oom_one<slab_thread>(b, h, n, size, r); break;
    case pack: ok = oom_one<pack>(b, h, n, size, r); break;
    case pool: ok = oom_one<pool>(b, h, n, size, r); break;
    case sc_thread: ok = oom_one<sc_thread>(b, h, n, size, r); break;
    case sc_warp: ok = oom_one<sc_warp>(b, h, n, size, r); break;
    default: ok = oom_one<cuda_malloc>(b, h, n, size, r); break;
  }
  b.tear_down(h);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::string mode = "throughput", json;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      quick = true;
    } else if (a == "--mode" && i + 1 < argc) {
      mode = argv[++i];
    } else if (a == "--json" && i + 1 < argc) {
      json = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--mode throughput|oom] [--json FILE]\n", argv[0]);
      return 2;
    }
  }
  int devices = 0;
  const cudaError_t e = cudaGetDeviceCount(&devices);
  if (e != cudaSuccess || devices == 0) {
    std::printf("SKIPPED: no usable CUDA device (%s)\n",
                e != cudaSuccess ? cudaGetErrorString(e) : "device count is 0");
    return 77;
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);

  const std::size_t oom_heap = std::size_t(256) << 20;
  const std::size_t heap = mode == "oom" ? oom_heap : std::size_t(4) << 30;
  // The in-kernel malloc heap must be sized before the first kernel that uses it.
  if (!check(cudaDeviceSetLimit(cudaLimitMallocHeapSize, heap), "cudaLimitMallocHeapSize")) return 1;
  Bench b;
  if (!b.init(heap, mode == "oom" ? 2 * oom_heap / 16 : 0)) return 1;

  std::vector<Result> results;
  const std::vector<unsigned> sizes = {16, 64, 256, 1024, 8192};
  if (mode == "oom") {
    for (int k : {slab_thread, pack, pool, sc_thread, sc_warp, cuda_malloc}) {
      for (unsigned s : {16u, 1024u, 8192u}) {
        Result r{"oom", kind_names[k], 0, s, {}, 0, 0};
        if (oom(b, k, s, oom_heap, r)) results.push_back(r);
      }
    }
  } else {
    const std::vector<u64> threads = quick ? std::vector<u64>{100000, 1000000}
                                           : std::vector<u64>{100000, 1000000, 10000000};
    for (u64 n : threads) {
      for (unsigned s : sizes) {
        for (int k = 0; k < kinds; ++k) {
          Result r{"throughput", kind_names[k], n, s, {}, 0, 0};
          if (throughput(b, k, n, s, r)) results.push_back(r);
        }
      }
    }
  }

  // Report: a table on stdout, JSON for summarize.py.
  std::printf("%-11s %-17s %9s %6s %12s %10s %8s %11s %11s %8s\n", "test", "allocator", "threads",
              "size", "allocs/s", "failed", "recalls", "max cycles", "mean cycles", "usable");
  std::string out = "{\"status\":\"ok\",\"device\":\"" + std::string(prop.name) + "\",\"mode\":\"" + mode +
                    "\",\"results\":[";
  double swim16 = 0, cuda16 = 0;
  u64 biggest = 0;
  for (const Result& r : results) biggest = std::max(biggest, r.threads);
  for (std::size_t i = 0; i < results.size(); ++i) {
    const Result& r = results[i];
    const double rate = r.seconds > 0 ? static_cast<double>(r.c.ok) / r.seconds : 0;
    const double mean = r.c.ok ? static_cast<double>(r.c.sum_cycles) / static_cast<double>(r.c.ok) : 0;
    const double usable = r.heap_bytes > 0 ? static_cast<double>(r.c.ok) * r.size / r.heap_bytes : 0;
    std::printf("%-11s %-17s %9llu %6u %12.4g %10llu %8llu %11llu %11.1f %7.1f%%\n", r.test.c_str(),
                r.allocator.c_str(), r.threads, r.size, rate, r.c.failed, r.c.max_recalls, r.c.max_cycles,
                mean, 100 * usable);
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "%s{\"test\":\"%s\",\"allocator\":\"%s\",\"threads\":%llu,\"size\":%u,\"ok\":%llu,"
                  "\"failed\":%llu,\"seconds\":%.9g,\"allocs_per_s\":%.6g,\"max_recalls\":%llu,"
                  "\"max_cycles\":%llu,\"mean_cycles\":%.6g,\"heap_bytes\":%.6g,\"usable\":%.6g}",
                  i ? "," : "", r.test.c_str(), r.allocator.c_str(), r.threads, r.size, r.c.ok, r.c.failed,
                  r.seconds, rate, r.c.max_recalls, r.c.max_cycles, mean, r.heap_bytes, usable);
    out += buf;
    if (r.test == "throughput" && r.size == 16 && r.threads == biggest) {
      if (r.allocator.rfind("swim", 0) == 0) swim16 = std::max(swim16, rate);
      if (r.allocator == "cuda-malloc") cuda16 = rate;
    }
  }
  char head[256];
  std::snprintf(head, sizeof head,
                "],\"headline\":{\"threads\":%llu,\"swim_16B_allocs_per_s_at_1e7\":%.6g,"
                "\"cuda_malloc_16B_allocs_per_s\":%.6g,\"swim_over_cuda_malloc_16B_at_1e7\":%.6g}}",
                biggest, biggest >= 10000000 ? swim16 : 0.0, cuda16, cuda16 > 0 ? swim16 / cuda16 : 0.0);
  out += head;
  if (!json.empty()) {
    if (FILE* f = std::fopen(json.c_str(), "w")) {
      std::fputs(out.c_str(), f);
      std::fputc('\n', f);
      std::fclose(f);
    }
  }
  return 0;
}
