// Smoke test of the installed package: headers found, library linked, C++20 on.
#include <cstdio>

#include "swim/mem/sources.hpp"

int main() {
  using namespace swim::mem;
  alignas(64) static unsigned char arena[4096];
  StaticRegion<> region(Block{arena, sizeof arena});

  const Result<Layout> layout = Layout::array<double>(100);
  if (!layout) return 1;
  const Result<Block> block = region.try_acquire(layout->size, layout->align);
  if (!block || block->address() % alignof(double) != 0) return 2;
  auto* values = static_cast<double*>(block->ptr);
  for (int i = 0; i < 100; ++i) values[i] = i;

  // Too much: an error value, and the region is unchanged.
  const std::size_t used = region.used();
  if (region.try_acquire(sizeof arena, 1).error() != Error::out_of_memory) return 3;
  if (region.used() != used) return 4;

  // Something from the compiled part of the library.
  OsPages pages;
  const Result<Block> page = pages.try_acquire(1, 1);
  if (!page || page->size != OsPages::page_size()) return 5;
  if (pages.release(*page) != Error::none) return 6;

  std::printf("swim-mem consumer: %zu bytes used of %zu, page size %zu: OK\n", region.used(),
              region.capacity(), OsPages::page_size());
  return 0;
}
