// Device memory managed from host code: an ExtentArena hands out exact extents of
// a source's memory (CUDA device memory here when a GPU is present; OS pages
// otherwise, standing in for it) with all its records in host memory; DeviceBufs
// live there, are reached only through borrows, and move when the arena is
// compacted. Exits non-zero if anything it shows goes wrong.
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <vector>

#include <swim/mem.hpp>
#if defined(SWIM_MEM_EXAMPLE_HAS_CUDA)
#include <swim/mem/sources/cuda_memory.hpp>
#endif

using namespace swim::mem;

// largest_free: the largest buffer one allocation gets now; fragmentation: the share of
// the free bytes that it cannot reach (1 - largest_free / bytes_free).
void print_stats(const char* what, const char* when, const Stats& s) {
  std::printf("%s, %s: %zu live, %zu bytes free, largest free %zu, fragmentation %.1f %%\n", what,
              when, s.live, s.bytes_free, s.largest_free, 100 * fragmentation(s));
}

template <class Source>
int demo(const char* what) {
  ArenaOptions options;
  options.granule = 256;                 // every extent is whole granules of 256 B
  options.initial_bytes = 8 << 20;       // first range, acquired now
  options.growth_bytes = 8 << 20;        // later ranges, when one is full
  options.max_bytes = 8 << 20;           // never more than this from the source
  ExtentArena<Source> arena(Source{}, options);
  if (arena.init_error() != Error::none) {
    std::printf("%s: no memory from the source (%d)\n", what, static_cast<int>(arena.init_error()));
    return 1;
  }
  using Buf = DeviceBuf<float, ExtentArena<Source>>;

  // Twenty buffers; free every other one: the range is now full of holes.
  std::vector<Buf> bufs;
  for (int i = 0; i < 20; ++i) {
    Result<Buf> b = Buf::try_make(arena, 80000 + 1000 * i);
    if (!b) return 1;                    // out_of_memory, unsupported (no GPU), ...
    bufs.push_back(b.take());
  }
  std::vector<float> host(bufs[2].size());
  std::iota(host.begin(), host.end(), 0.0f);
  {
    auto m = bufs[2].try_borrow_mut();   // a pointer exists only inside a borrow
    if (!m) return 1;
    // A kernel would get m->data() here; the borrow ends after it finished.
    if (arena.source_copy(m->data(), host.data(), host.size() * sizeof(float)) != Error::none) return 1;
  }
  for (std::size_t i = 1; i < bufs.size(); i += 2) bufs[i] = Buf{};
  print_stats(what, "with holes", arena.stats());

  // When a large request fails, compact and retry: the policy is the caller's.
  Result<Buf> big = Buf::try_make(arena, 1 << 20);
  if (!big && big.error() == Error::out_of_memory) {
    Result<ArenaCompaction> c = arena.try_compact();  // moves every unborrowed buffer
    if (!c) return 1;
    std::printf("%s: compaction moved %zu buffers (%zu bytes)\n", what, c->buffers_moved,
                c->bytes_copied);
    const Stats after = arena.stats();
    print_stats(what, "compacted", after);
    if (after.largest_free != after.bytes_free) return 1;  // the free space is one extent
    big = Buf::try_make(arena, 1 << 20);
  }
  if (!big) return 1;

  // bufs[2] moved with its contents.
  std::vector<float> back(host.size());
  auto r = bufs[2].try_borrow();
  if (!r || arena.source_copy(back.data(), r->data(), back.size() * sizeof(float)) != Error::none) return 1;
  if (back != host) return 1;
  std::printf("%s: OK, the moved buffer kept its contents\n", what);
  return 0;
}

int main() {
  int failed = demo<OsPages>("host pages");
#if defined(SWIM_MEM_EXAMPLE_HAS_CUDA)
  if (CudaDeviceMemory::available()) {
    failed += demo<CudaDeviceMemory>("CUDA device memory");
  } else {
    std::printf("CUDA device memory: skipped (no CUDA device)\n");
  }
#endif
  return failed;
}
