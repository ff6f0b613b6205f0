// swim-mem through the standard interfaces: std::pmr containers on an ExtentHeap,
// a std::vector with StlAllocator on a Pool. The README shows this program (its
// section "Using swim-mem through std::pmr, STL allocators and cuda::mr"); as an
// example it is built and run by ctest, so the README's code cannot rot. Exits
// non-zero if the bytes did not come from swim-mem.
#include <cstdio>
#include <map>
#include <memory_resource>
#include <vector>

#include <swim/mem.hpp>
#include <swim/mem/integrations.hpp>
using namespace swim::mem;

int main() {
  alignas(4096) static std::byte arena[8 << 20];
  ExtentHeap<> heap(Block{arena, sizeof arena}, 256);  // exact extents, in-band records

  MemoryResource res(heap);                           // a std::pmr::memory_resource
  std::pmr::vector<int> v(&res);
  std::pmr::map<int, std::pmr::string> names(&res);
  v.assign(1000, 7);
  names[1] = "one, long enough to leave the small-string buffer";
  const bool from_heap = heap.stats().live == 3;      // v, one map node, one string

  Pool<ExtentHeap<>> pool(heap, 64 * 1024);           // a hold over the same heap
  StlAllocator<double, Pool<ExtentHeap<>>> alloc(pool);
  std::vector<double, decltype(alloc)> xs(alloc);
  xs.resize(100);
  const bool from_pool = pool.stats().live == 1;

  try {
    v.resize(100 << 20);                              // more than the heap has
  } catch (const std::bad_alloc&) {                   // OutOfMemory is a std::bad_alloc
    std::printf("out of memory, heap unchanged: %zu blocks\n", heap.stats().live);
  }
  return from_heap && from_pool ? 0 : 1;
}
