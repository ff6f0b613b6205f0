// Large blocks of an address range: ExtentHeap against the buddy AddrSpace and a
// best-fit coalescing free list (the algorithm of a classic pool resource, written
// here as the reference), on host memory standing in for device memory.
//
//   extent_pair/<live>/<heap>   free a random live block and allocate a random size
//                               (1..16 granules of 256 B), with <live> blocks live
//                               (1e3 .. 1e6): the time per step must not grow with <live>
//   extent_trace/<heap>/<max>   allocate (60 %) or free a random live block (40 %),
//                               sizes log-uniform 256 B .. <max> MiB (64, and 1), in a 1 GiB heap,
//                               until the first allocation fails; counters: the
//                               fraction of the heap in use then (`in_use`), and the
//                               fraction the live requests asked for (`requested`),
//                               and the failing request's size (`failed_ask`): when
//                               in_use + failed_ask > 1 no allocator could have served it
//   extent_trace/swim-ExtentArena+compaction
//                               the same trace over an ExtentArena of movable
//                               buffers (DeviceBuf): at a failure, compact and retry
//                               once; the first failure after a compaction ends the
//                               run. The copies are elided (a no-op copy engine that
//                               counts bytes): the fraction does not depend on them
//                               (`compactions`, `moved_bytes` are reported)
//
// ExtentHeap keeps its records apart from the range, which is reserved PROT_NONE: it
// is never touched (the ranges of the others are mapped, and touched only by their
// own metadata). Single-threaded: these are the costs of the algorithms.
#include <benchmark/benchmark.h>
#include <sys/mman.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "swim/mem.hpp"

namespace sm = swim::mem;

namespace {

constexpr std::size_t kGranule = 256;

bool quick() {
  const char* q = std::getenv("SWIM_BENCH_QUICK");
  return q != nullptr && q[0] == '1';
}

struct Mapping {
  void* ptr;
  std::size_t size;
  Mapping(std::size_t bytes, int prot)
      : ptr(::mmap(nullptr, bytes, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)),
        size(bytes) {}
  ~Mapping() { ::munmap(ptr, size); }
  sm::Block block() const { return sm::Block{ptr, size}; }
};

// ---- The heaps, behind one small interface ------------------------------------------

template <class Mode>
struct Extent {
  static constexpr const char* name = Mode::is_concurrent ? "swim-ExtentHeap(lf)" : "swim-ExtentHeap(so)";
  Mapping range;
  std::vector<sm::detail::ExtentRecord> records;
  sm::ExtentHeap<Mode> heap;
  explicit Extent(std::size_t bytes)
      : range(bytes, PROT_NONE),
        records(sm::ExtentHeap<Mode>::metadata_bytes(bytes, kGranule) / 16),
        heap(range.block(), kGranule, sm::Block{records.data(), records.size() * 16}) {}
  sm::Result<sm::Block> alloc(std::size_t n) { return heap.try_allocate(sm::Layout{n, 8}); }
  void free(sm::Block b) { (void)heap.try_deallocate(b); }
  std::size_t capacity() const { return heap.capacity(); }
};

template <class Mode>
struct Buddy {
  static constexpr const char* name = Mode::is_concurrent ? "swim-AddrSpace(lf)" : "swim-AddrSpace(so)";
  Mapping range;
  sm::AddrSpace<Mode, false> heap;
  // Room for the in-band metadata at the end, so that the pages are `bytes`.
  explicit Buddy(std::size_t bytes)
      : range(bytes + bytes / 8 + (1 << 20), PROT_READ | PROT_WRITE),
        heap(range.block(), kGranule) {}
  sm::Result<sm::Block> alloc(std::size_t n) { return heap.try_allocate(sm::Layout{n, 8}); }
  void free(sm::Block b) { (void)heap.try_deallocate(b); }
  std::size_t capacity() const { return heap.capacity(); }
};

/// Best fit with coalescing: free extents by address (to merge neighbours) and by
/// length (to find the shortest that fits), both balanced trees: O(log free
/// extents) per operation. The reference for the fragmentation trace.
struct BestFit {
  static constexpr const char* name = "best-fit-list";
  std::size_t granules;
  std::map<std::size_t, std::size_t> by_start;          // start -> length
  std::set<std::pair<std::size_t, std::size_t>> by_len;  // (length, start)
  explicit BestFit(std::size_t bytes) : granules(bytes / kGranule) {
    by_start.emplace(0, granules);
    by_len.emplace(granules, 0);
  }
  sm::Result<sm::Block> alloc(std::size_t n) {
    const std::size_t g = (n + kGranule - 1) / kGranule;
    auto it = by_len.lower_bound({g, 0});
    if (it == by_len.end()) return sm::Error::out_of_memory;
    const auto [len, start] = *it;
    by_len.erase(it);
    by_start.erase(start);
    if (len > g) {
      by_start.emplace(start + g, len - g);
      by_len.emplace(len - g, start + g);
    }
    return sm::Block{reinterpret_cast<void*>((start + 1) * kGranule), g * kGranule};
  }
  void free(sm::Block b) {
    std::size_t start = b.address() / kGranule - 1, len = b.size / kGranule;
    auto next = by_start.lower_bound(start);
    if (next != by_start.end() && next->first == start + len) {
      len += next->second;
      by_len.erase({next->second, next->first});
      next = by_start.erase(next);
    }
    if (next != by_start.begin()) {
      auto prev = std::prev(next);
      if (prev->first + prev->second == start) {
        start = prev->first;
        len += prev->second;
        by_len.erase({prev->second, prev->first});
        by_start.erase(prev);
      }
    }
    by_start.emplace(start, len);
    by_len.emplace(len, start);
  }
  std::size_t capacity() const { return granules * kGranule; }
};

// ---- extent_pair ------------------------------------------------------------------------

template <class H>
void pair(benchmark::State& state) {
  const std::size_t live = static_cast<std::size_t>(state.range(0));
  // Room for the live blocks at 8.5 granules on average, twice over.
  auto heap = std::make_unique<H>(live * 17 * kGranule + (64 << 20));
  std::mt19937_64 rng(42);
  std::vector<sm::Block> blocks(live);
  for (auto& b : blocks) {
    const sm::Result<sm::Block> r = heap->alloc((1 + rng() % 16) * kGranule);
    if (!r) {
      state.SkipWithError("could not fill the heap");
      return;
    }
    b = *r;
  }
  // The random choices, drawn before the timed loop.
  constexpr std::size_t kChoices = 1 << 16;
  std::vector<std::uint32_t> slot(kChoices), size(kChoices);
  for (std::size_t i = 0; i < kChoices; ++i) {
    slot[i] = static_cast<std::uint32_t>(rng() % live);
    size[i] = static_cast<std::uint32_t>((1 + rng() % 16) * kGranule);
  }
  std::size_t i = 0, failed = 0;
  for (auto _ : state) {
    sm::Block& b = blocks[slot[i]];
    heap->free(b);
    const sm::Result<sm::Block> r = heap->alloc(size[i]);
    if (r) {
      b = *r;
    } else {
      failed += 1;
      b = *heap->alloc(kGranule);  // (never fails: a step just freed >= 1 granule)
    }
    i = (i + 1) & (kChoices - 1);
  }
  state.counters["failed"] = static_cast<double>(failed);
  for (const auto& b : blocks) heap->free(b);
}

// ---- extent_trace -------------------------------------------------------------------------

template <class H>
void trace(benchmark::State& state) {
  constexpr std::size_t kHeap = std::size_t(1) << 30;
  double in_use = 0, requested = 0, steps = 0, failed_ask = 0;
  for (auto _ : state) {
    auto heap = std::make_unique<H>(kHeap);
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> log_size(std::log(256.0), std::log(static_cast<double>(state.range(0)) * (1 << 20)));
    std::vector<std::pair<sm::Block, std::size_t>> live;  // block, bytes requested
    std::size_t asked = 0, held = 0, n = 0;
    for (;; ++n) {
      if (!live.empty() && rng() % 100 < 40) {
        const std::size_t k = rng() % live.size();
        heap->free(live[k].first);
        asked -= live[k].second;
        held -= live[k].first.size;
        live[k] = live.back();
        live.pop_back();
        continue;
      }
      const std::size_t bytes = static_cast<std::size_t>(std::exp(log_size(rng)));
      const sm::Result<sm::Block> r = heap->alloc(bytes);
      if (!r) {
        failed_ask = static_cast<double>(bytes) / static_cast<double>(heap->capacity());
        break;
      }
      live.emplace_back(*r, bytes);
      asked += bytes;
      held += r->size;
    }
    in_use = static_cast<double>(held) / static_cast<double>(heap->capacity());
    requested = static_cast<double>(asked) / static_cast<double>(heap->capacity());
    steps = static_cast<double>(n);
    for (const auto& [b, bytes] : live) heap->free(b);
  }
  state.counters["in_use"] = in_use;
  state.counters["requested"] = requested;
  state.counters["steps"] = steps;
  state.counters["failed_ask"] = failed_ask;
}

// ---- extent_trace with compaction ----------------------------------------------------

/// A PROT_NONE, never-touched range as the arena's source (device memory stand-in).
struct UntouchedPages {
  static constexpr bool host_accessible = false;
  static constexpr bool device_accessible = true;
  static constexpr std::size_t guaranteed_align = 4096;
  sm::Result<sm::Block> try_acquire(std::size_t bytes, std::size_t) {
    void* p = ::mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return sm::Error::out_of_memory;
    return sm::Block{p, bytes};
  }
  sm::Error release(sm::Block b) { return ::munmap(b.ptr, b.size) == 0 ? sm::Error::none : sm::Error::invalid_argument; }
  sm::Error copy(void*, const void*, std::size_t) { return sm::Error::none; }
};

void trace_compacting(benchmark::State& state) {
  using Arena = sm::ExtentArena<UntouchedPages>;
  using Buf = sm::DeviceBuf<std::byte, Arena>;
  constexpr std::size_t kHeap = std::size_t(1) << 30;
  double in_use = 0, requested = 0, steps = 0, compactions = 0, moved = 0, failed_ask = 0;
  double unstaged = 0, largest_free = 0;
  for (auto _ : state) {
    sm::ArenaOptions o;
    o.granule = kGranule;
    o.initial_bytes = kHeap;
    o.growth_bytes = kHeap;
    o.max_bytes = kHeap;
    Arena arena(UntouchedPages{}, o);
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> log_size(std::log(256.0), std::log(static_cast<double>(state.range(0)) * (1 << 20)));
    std::vector<std::pair<Buf, std::size_t>> live;
    std::size_t asked = 0, n = 0, c = 0, m = 0;
    std::uint64_t copied = 0;
    auto count = [&](void*, const void*, std::size_t bytes) {
      copied += bytes;
      return sm::Error::none;
    };
    for (;; ++n) {
      if (!live.empty() && rng() % 100 < 40) {
        const std::size_t k = rng() % live.size();
        asked -= live[k].second;
        live[k] = std::move(live.back());
        live.pop_back();
        continue;
      }
      const std::size_t bytes = static_cast<std::size_t>(std::exp(log_size(rng)));
      sm::Result<Buf> r = Buf::try_make(arena, bytes);
      if (!r && r.error() == sm::Error::out_of_memory) {
        const sm::Result<sm::ArenaCompaction> done = arena.try_compact(count);
        if (!done.ok()) break;
        unstaged = static_cast<double>(done->buffers_unstaged);
        largest_free = static_cast<double>(done->largest_free_after) / static_cast<double>(kHeap);
        ++c;
        r = Buf::try_make(arena, bytes);
      }
      if (!r) {
        failed_ask = static_cast<double>(bytes) / static_cast<double>(arena.capacity());
        break;
      }
      live.emplace_back(r.take(), bytes);
      asked += bytes;
    }
    m = copied;
    in_use = static_cast<double>(arena.stats().bytes_in_use) / static_cast<double>(arena.capacity());
    requested = static_cast<double>(asked) / static_cast<double>(arena.capacity());
    steps = static_cast<double>(n);
    compactions = static_cast<double>(c);
    moved = static_cast<double>(m);
  }
  state.counters["in_use"] = in_use;
  state.counters["requested"] = requested;
  state.counters["steps"] = steps;
  state.counters["compactions"] = compactions;
  state.counters["moved_bytes"] = moved;
  state.counters["unstaged"] = unstaged;           // at the last compaction
  state.counters["largest_free"] = largest_free;   // after it, fraction of the heap
  state.counters["failed_ask"] = failed_ask;
}

template <class H>
void register_heap() {
  const std::int64_t top = quick() ? 10000 : 1000000;
  benchmark::RegisterBenchmark((std::string("extent_pair/") + H::name).c_str(), pair<H>)
      ->RangeMultiplier(10)
      ->Range(1000, top);
  benchmark::RegisterBenchmark((std::string("extent_trace/") + H::name).c_str(), trace<H>)
      ->Arg(64)
      ->Arg(1)
      ->Iterations(1)
      ->Unit(benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) {
  register_heap<Extent<sm::single_owner>>();
  register_heap<Extent<sm::concurrent>>();
  register_heap<Buddy<sm::single_owner>>();
  register_heap<Buddy<sm::concurrent>>();
  register_heap<BestFit>();
  benchmark::RegisterBenchmark("extent_trace/swim-ExtentArena+compaction", trace_compacting)
      ->Arg(64)
      ->Arg(1)
      ->Iterations(1)
      ->Unit(benchmark::kMillisecond);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
