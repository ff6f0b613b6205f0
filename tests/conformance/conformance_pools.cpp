// The conformance suite (conformance/suite.hpp) for a Pool over every heap kind that
// host code runs, and (CUDA builds) over CUDA managed memory, skipped without a device.
#include <gtest/gtest.h>

#include "swim/mem.hpp"
#include "conformance/suite.hpp"

namespace swim::mem::testing {
namespace {

#if defined(SWIM_MEM_TEST_HAS_CUDA)
using PoolFactories = map_host_heaps<::testing::Types, PoolOverFactory, heap_kinds,
                                     PoolOverFactory<SourceHeap<CudaManagedMemory, concurrent>>,
                                     PoolOverFactory<SourceHeap<CudaManagedMemory, single_owner>>>::type;
#else
using PoolFactories = map_host_heaps<::testing::Types, PoolOverFactory, heap_kinds>::type;
#endif
INSTANTIATE_TYPED_TEST_SUITE_P(Pools, Conformance, PoolFactories, FactoryNames);

}  // namespace
}  // namespace swim::mem::testing
