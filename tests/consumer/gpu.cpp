// An outside project allocating GPU memory from host code through SwimMem::cuda
// (SWIM_MEM_CONSUMER_CUDA) or SwimMem::hip: plain C++, the runtime linked by the
// component target alone; with CUDA also a kernel of its own (gpu_kernel.cu). Exit 0: a buffer allocated in device memory, filled,
// read back and freed; 77: no GPU or driver here (ctest shows it as skipped);
// anything else: a failure.
#include <cstdio>
#include <vector>

#include <swim/mem.hpp>
#ifdef SWIM_MEM_CONSUMER_CUDA
#include <swim/mem/sources/cuda_memory.hpp>
using Device = swim::mem::CudaDeviceMemory;
static const char* const runtime = "CUDA";
#ifdef SWIM_MEM_CONSUMER_KERNEL
std::size_t consumer_kernel_layout_size();  // gpu_kernel.cu (only when CUDA is enabled here)
#endif
#else
#include <swim/mem/sources/hip_memory.hpp>
using Device = swim::mem::HipDeviceMemory;
static const char* const runtime = "HIP";
#endif

int main() {
  using namespace swim::mem;
  if (!Device::available()) {
    std::printf("swim_mem_consumer %s: no device here: skipped\n", runtime);
    return 77;
  }
  ExtentArena<Device> arena(Device{}, ArenaOptions{});
  if (arena.init_error() != Error::none) {
    std::printf("swim_mem_consumer %s: arena: %s\n", runtime, to_string(arena.init_error()));
    return arena.init_error() == Error::unsupported ? 77 : 1;
  }
  const Result<Layout> layout = Layout::array<int>(1000);
  if (!layout) return 2;
  Result<Block> block = arena.try_allocate(*layout);
  if (!block) return 3;
  std::vector<int> in(1000), out(1000, -1);
  for (int i = 0; i < 1000; ++i) in[i] = i * 3;
  Device device;
  if (device.copy(block->ptr, in.data(), layout->size) != Error::none) return 4;
  if (device.copy(out.data(), block->ptr, layout->size) != Error::none) return 5;
  if (out != in) return 6;
  if (arena.try_deallocate(*block) != Error::none) return 7;
#ifdef SWIM_MEM_CONSUMER_KERNEL
  if (consumer_kernel_layout_size() != 100 * sizeof(double)) return 8;
#endif
  std::printf("swim_mem_consumer %s: %zu bytes in device memory, copied both ways: OK\n", runtime,
              layout->size);
  return 0;
}
