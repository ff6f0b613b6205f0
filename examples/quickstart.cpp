// quickstart: swim-mem's allocators over one static array, with no system allocator.
//
//   static arena --> AddrSpace (pages, lock-free buddy) --> Pool (64 KiB hunks) --> objects
//                                                       --> Slab (fixed-size units)
//                                                       --> Pack (scratch, freed at once)
//
// Every call returns an error value instead of throwing; running out of memory is
// an ordinary, recoverable result.
#include <cstdio>
#include <cstring>

#include "swim/mem.hpp"

using namespace swim::mem;

namespace {

alignas(4096) std::byte g_arena[16 << 20];  // 16 MiB: the whole heap of this program

void print(const char* name, const Stats& s) {
  std::printf("  %-10s live %7zu   in use %9zu B   free %9zu B   peak %9zu B\n", name, s.live,
              s.bytes_in_use, s.bytes_free, s.peak_bytes);
}

struct Particle {
  double x, y, z;
  int id;
};

}  // namespace

int main() {
  AddrSpace<> pages(Block{g_arena, sizeof g_arena});
  if (pages.init_error() != Error::none) {
    std::printf("cannot manage the arena: %s\n", to_string(pages.init_error()));
    return 1;
  }

  // 1. A Pool of tagged objects, growing in 64 KiB hunks taken from the pages.
  Pool<AddrSpace<>> pool(pages, 64 * 1024);
  Particle* particles[10000];
  for (int i = 0; i < 10000; ++i) {
    const Result<Block> r = pool.try_allocate(Layout::of<Particle>());
    if (!r) {
      std::printf("pool allocation %d failed: %s\n", i, to_string(r.error()));
      return 1;
    }
    particles[i] = new (r->ptr) Particle{1.0 * i, 2.0 * i, 3.0 * i, i};
  }
  std::printf("after 10000 particles (%zu hunks of the pool):\n", pool.hunk_count());
  print("Pool", pool.stats());
  print("AddrSpace", pages.stats());

  // 2. A Slab of 256-byte units in one 1 MiB extent.
  const Result<Block> extent = pages.try_allocate(Layout{1 << 20, 4096});
  if (!extent) return 1;
  {
    Slab<> nodes(*extent, 256);
    Block taken[100];
    for (Block& b : taken) b = *nodes.try_allocate(Layout{200, 8});
    std::printf("a Slab of %zu units, 100 taken:\n", nodes.block_count());
    print("Slab", nodes.stats());
    for (Block& b : taken) nodes.try_deallocate(b);
  }
  pages.try_deallocate(*extent);

  // 3. Scratch memory for one phase: a Pack over 4 MiB, released as a whole.
  const Result<Block> scratch_pages = pages.try_allocate(Layout{4 << 20, 4096});
  if (!scratch_pages) return 1;
  {
    Pack<> scratch(*scratch_pages);
    int served = 0;
    for (; served < 1000; ++served) {
      const Result<Block> r = scratch.try_allocate(Layout{served % 2 ? 3000u : 5000u, 64});
      if (!r) break;
      std::memset(r->ptr, 0xAB, r->size);
      hold_deallocate(*r);  // LIFO: the most recent object gives its bytes back
    }
    Block kept[2000];
    int n = 0;
    Result<Block> r = Error::none;
    for (r = scratch.try_allocate(Layout{3000, 64}); r.ok() && n < 2000;
         r = scratch.try_allocate(Layout{3000, 64})) {
      kept[n++] = *r;
    }
    std::printf("scratch Pack: %d LIFO allocations reused the same bytes; then %d kept until "
                "it ran out (%s):\n",
                served, n, r.ok() ? "none" : to_string(r.error()));
    print("Pack", scratch.stats());
    for (int i = 0; i < n; ++i) hold_deallocate(kept[i]);  // the last free resets the Pack
    std::printf("after freeing them all (the Pack resets):\n");
    print("Pack", scratch.stats());
  }
  pages.try_deallocate(*scratch_pages);

  // 4. Errors are values: a double free and a foreign pointer are refused.
  const Block first{particles[0], sizeof(Particle)};
  std::printf("free particle 0:        %s\n", to_string(pool.try_deallocate(first)));
  std::printf("free particle 0 again:  %s\n", to_string(pool.try_deallocate(first)));
  Particle on_stack{};
  std::printf("free a stack object:    %s\n",
              to_string(pages.try_deallocate(Block{&on_stack, sizeof on_stack})));

  for (int i = 1; i < 10000; ++i) pool.try_deallocate(Block{particles[i], sizeof(Particle)});
  pool.trim();
  std::printf("after freeing every particle and trimming the pool:\n");
  print("Pool", pool.stats());
  print("AddrSpace", pages.stats());
  return 0;
}
