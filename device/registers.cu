// Registers per allocation call site (the device target of docs/benchmarks.md):
// one kernel per call site, each doing that call and storing its result, over a
// SizeClasses<ExtentHeap<concurrent>, concurrent, Checked> in device memory.
// Compiled only, never run: device/registers.sh compiles it with
// `nvcc --resource-usage` for sm_80 and sm_90 and prints the registers ptxas gave
// each kernel (a kernel's count covers what it calls, noinline functions too).
//
//   rc_thread_alloc<C>  hold.try_allocate(Layout) from one thread
//   rc_warp_alloc<C>    warp_try_allocate(Warp, hold, Layout) (the warp front)
//   rc_take_run         try_take_run + claim of unit 0: the leader's part of a round
//   rc_heap_ref         HeapRef::try_allocate: how the hold grows (a new hunk, a
//                       large object), dispatched over every heap kind
//   rc_extent           ExtentHeap<concurrent>::try_allocate alone
//   rc_free<C>          hold.try_deallocate(Block)
//   rc_hold_free        hold_deallocate(Block) (through the tag, any hold)
// C = 1: checked (the default in debug builds), 0: unchecked (release builds).
#include <cuda_runtime.h>

#include "swim/mem/heaps/extent_heap.hpp"
#include "swim/mem/heaps/heap_ref.hpp"
#include "swim/mem/holds/hold.hpp"
#include "swim/mem/holds/size_classes.hpp"
#include "swim/mem/holds/warp_front.hpp"

namespace sm = swim::mem;
template <bool C>
using Hold = sm::SizeClasses<sm::ExtentHeap<sm::concurrent>, sm::concurrent, C>;

template <bool C>
__global__ void rc_thread_alloc(Hold<C>* hold, unsigned size, sm::Block* out) {
  const sm::Result<sm::Block> r = hold->try_allocate(sm::Layout{size, 8});
  out[blockIdx.x * blockDim.x + threadIdx.x] = r ? *r : sm::Block{};
}

template <bool C>
__global__ void rc_warp_alloc(Hold<C>* hold, unsigned size, sm::Block* out) {
  const sm::Warp warp;
  const sm::Result<sm::Block> r = sm::warp_try_allocate(warp, *hold, sm::Layout{size, 8});
  out[blockIdx.x * blockDim.x + threadIdx.x] = r ? *r : sm::Block{};
}

__global__ void rc_take_run(Hold<false>* hold, unsigned klass, sm::Block* out) {
  const sm::Result<sm::detail::ClassRun<sm::concurrent>> r = hold->try_take_run(klass, 32);
  out[blockIdx.x * blockDim.x + threadIdx.x] =
      r ? sm::detail::ClassCore<sm::concurrent>::claim(*r, 0) : sm::Block{};
}

__global__ void rc_heap_ref(const sm::HeapRef* heap, unsigned size, sm::Block* out) {
  const sm::Result<sm::Block> r = heap->try_allocate(sm::Layout{size, 64});
  out[blockIdx.x * blockDim.x + threadIdx.x] = r ? *r : sm::Block{};
}

__global__ void rc_extent(sm::ExtentHeap<sm::concurrent>* heap, unsigned size, sm::Block* out) {
  const sm::Result<sm::Block> r = heap->try_allocate(sm::Layout{size, 64});
  out[blockIdx.x * blockDim.x + threadIdx.x] = r ? *r : sm::Block{};
}

template <bool C>
__global__ void rc_free(Hold<C>* hold, const sm::Block* in, unsigned* errors) {
  const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  errors[i] = static_cast<unsigned>(hold->try_deallocate(in[i]));
}

__global__ void rc_hold_free(const sm::Block* in, unsigned* errors) {
  const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  errors[i] = static_cast<unsigned>(sm::hold_deallocate(in[i]));
}

// Instantiate every kernel (nothing launches them).
template __global__ void rc_thread_alloc<true>(Hold<true>*, unsigned, sm::Block*);
template __global__ void rc_thread_alloc<false>(Hold<false>*, unsigned, sm::Block*);
template __global__ void rc_warp_alloc<true>(Hold<true>*, unsigned, sm::Block*);
template __global__ void rc_warp_alloc<false>(Hold<false>*, unsigned, sm::Block*);
template __global__ void rc_free<true>(Hold<true>*, const sm::Block*, unsigned*);
template __global__ void rc_free<false>(Hold<false>*, const sm::Block*, unsigned*);
