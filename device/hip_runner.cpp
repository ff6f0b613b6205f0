// The HIP device suite's driver: plain C++ (no gtest, which clang-15 cannot
// compile as C++20 HIP), calling the launchers of kernels.hip.
//
// Exit codes: 0 all passed, 1 a check failed, 77 skipped (no usable HIP device;
// ctest maps it to "skipped" through SKIP_RETURN_CODE).
#include <cstdio>

#define SWIM_MEM_LAUNCHER(name) swim_mem_hip_##name
#include "launchers.hpp"

namespace {

constexpr int kSkipped = 77;

struct Shape {
  unsigned blocks, threads;
};
constexpr Shape kShapes[] = {{1, 1}, {1, 64}, {3, 100}, {440, 256}};
// The allocator checks: one thread, one wavefront, a partial block, and two 256-thread
// blocks per compute unit of an MI250X die (110 CUs).
constexpr Shape kAllocatorShapes[] = {{1, 1}, {1, 64}, {3, 100}, {220, 256}};

int g_checks = 0;  // launcher calls made (each a group of checks)

int report(const char* name, const Shape& s, int status) {
  ++g_checks;
  if (status == SWIM_MEM_GPU_OK) {
    std::printf("[  PASSED  ] %s %u x %u\n", name, s.blocks, s.threads);
    return 0;
  }
  if (status < 0) {
    std::printf("[  FAILED  ] %s %u x %u: runtime failure (%d): %s\n", name, s.blocks, s.threads,
                status, swim_mem_hip_last_error());
  } else {
    std::printf("[  FAILED  ] %s %u x %u: %d failed check(s)\n", name, s.blocks, s.threads, status);
  }
  return 1;
}

}  // namespace

int main() {
  const int devices = swim_mem_hip_device_count();
  if (devices <= 0) {
    std::printf("SKIPPED: no usable HIP device (hipGetDeviceCount: %s)\n",
                devices == 0 ? "0 devices" : "error");
    if (devices < 0) std::printf("         runtime error code %d\n", -devices);
    return kSkipped;
  }
  int failed = 0;
  for (const Shape& s : kShapes) {
    failed += report("layout", s, swim_mem_hip_check_layout(s.blocks, s.threads));
    failed += report("atomics", s, swim_mem_hip_check_atomics(s.blocks, s.threads, 16));
    failed += report("static_region", s, swim_mem_hip_check_static_region(s.blocks, s.threads));
  }
  for (const Shape& s : kAllocatorShapes) {
    failed += report("slab", s, swim_mem_hip_check_slab(s.blocks, s.threads));
    failed += report("pack", s, swim_mem_hip_check_pack(s.blocks, s.threads));
    failed += report("pool", s, swim_mem_hip_check_pool(s.blocks, s.threads));
    failed += report("addr_space", s, swim_mem_hip_check_addr_space(s.blocks, s.threads));
    failed += report("extent_heap", s, swim_mem_hip_check_extent_heap(s.blocks, s.threads));
    failed += report("size_classes", s, swim_mem_hip_check_size_classes(s.blocks, s.threads));
    swim_mem_warp_front_figures f{};
    failed += report("warp_front", s, swim_mem_hip_check_warp_front(s.blocks, s.threads, &f));
    std::printf("             warp front: max round %llu, max re-calls %llu, largest run %llu, "
                "aggregated %llu, per lane %llu\n",
                f.max_round, f.max_recalls, f.largest_run, f.aggregated, f.per_lane);
    failed += report("leases", s, swim_mem_hip_check_leases(s.blocks, s.threads));
    failed += report("shared_leases", s, swim_mem_hip_check_shared_leases(s.blocks, s.threads));
    failed += report("compaction", s, swim_mem_hip_check_compaction(s.blocks, s.threads));
  }
  failed += report("device_buffers", kAllocatorShapes[0], swim_mem_hip_check_device_buffers(64));
  std::printf("%s: %d of %d launcher(s) failed\n", failed == 0 ? "PASSED" : "FAILED", failed,
              g_checks);
  return failed == 0 ? 0 : 1;
}
