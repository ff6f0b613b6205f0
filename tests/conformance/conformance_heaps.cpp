// The conformance suite (conformance/suite.hpp) for the heaps: Slab, SlabCache,
// AddrSpace, ExtentHeap and ExtentArena, in each of their modes.
#include <gtest/gtest.h>

#include "swim/mem.hpp"
#include "conformance/suite.hpp"

namespace swim::mem::testing {
namespace {

using HeapFactories =
    ::testing::Types<SlabFactory<concurrent>, SlabFactory<single_owner>,
                     SlabFactory<concurrent, relative_address>, SlabCacheFactory,
                     AddrSpaceFactory<concurrent>, AddrSpaceFactory<single_owner>,
                     ExtentHeapFactory<concurrent, true>, ExtentHeapFactory<concurrent, false>,
                     ExtentHeapFactory<single_owner, true>, ExtentHeapFactory<single_owner, false>,
                     ExtentArenaFactory>;
INSTANTIATE_TYPED_TEST_SUITE_P(Heaps, Conformance, HeapFactories, FactoryNames);

}  // namespace
}  // namespace swim::mem::testing
