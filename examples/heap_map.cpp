// heap_map: an allocator's memory drawn as a picture, before and after compaction.
//
// The scene of device_buffers.cpp, over host pages: an ExtentArena of one 8 MiB
// range hands out twenty DeviceBufs, every other one is dropped (the free space is
// now in holes between the survivors), and the arena is compacted (the survivors
// slide down, the free space becomes one extent). Before and after, the program
// prints the arena's statistics (live, bytes_free, largest_free, fragmentation) and
// draws its walk (examples/heap_map.hpp) as a PNG: one pixel per granule of 256
// bytes, live red, free green, control (the records, in host pages apart from the
// range) blue.
//
//   heap_map [directory]     writes heap_map_before.png and heap_map_after.png there
//                            (default: the current directory)
//
// Exits non-zero when a picture cannot be written, or when compaction does not
// leave the free space in one extent.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "heap_map.hpp"

using namespace swim::mem;

namespace {

void print(const char* when, const Stats& s) {
  std::printf("%-18s live %3zu  bytes_free %8zu  largest_free %8zu  fragmentation %5.1f %%\n", when,
              s.live, s.bytes_free, s.largest_free, 100 * fragmentation(s));
}

bool draw(const ExtentArena<OsPages>& arena, const std::string& path, const char* title) {
  heap_map::Style style;
  style.bytes_per_pixel = 256;  // one granule
  style.title = title;
  if (!heap_map::write_png(path, heap_map::Map::of(arena), style)) {
    std::printf("could not write %s\n", path.c_str());
    return false;
  }
  std::printf("wrote %s\n", path.c_str());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : ".";
  std::error_code made;
  std::filesystem::create_directories(dir, made);  // (a failure shows when writing)
  ArenaOptions options;
  options.granule = 256;
  options.initial_bytes = options.growth_bytes = options.max_bytes = 8 << 20;  // one range
  ExtentArena<OsPages> arena(OsPages{}, options);
  if (arena.init_error() != Error::none) {
    std::printf("no memory from the source: %s\n", to_string(arena.init_error()));
    return 1;
  }
  using Buf = DeviceBuf<float, ExtentArena<OsPages>>;
  std::vector<Buf> bufs;
  for (int i = 0; i < 20; ++i) {
    Result<Buf> b = Buf::try_make(arena, 80000 + 1000 * i);
    if (!b) return 1;
    bufs.push_back(b.take());
  }
  for (std::size_t i = 1; i < bufs.size(); i += 2) bufs[i] = Buf{};  // holes

  const Stats before = arena.stats();
  print("before compaction", before);
  if (!draw(arena, dir + "/heap_map_before.png", "ExtentArena before compaction")) return 1;

  const Result<ArenaCompaction> c = arena.try_compact();
  if (!c) {
    std::printf("compaction failed: %s\n", to_string(c.error()));
    return 1;
  }
  const Stats after = arena.stats();
  print("after compaction", after);
  if (!draw(arena, dir + "/heap_map_after.png", "ExtentArena after compaction")) return 1;

  // Compaction moves every unborrowed buffer: the free bytes are the same, in one piece.
  if (after.bytes_free != before.bytes_free || after.largest_free != after.bytes_free) {
    std::printf("FAILED: the free space is not one extent after compaction\n");
    return 1;
  }
  return 0;
}
