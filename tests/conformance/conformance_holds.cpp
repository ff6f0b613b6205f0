// The conformance suite (conformance/suite.hpp) for the tagged holds other than a
// Pool over each heap kind (conformance_pools.cpp): Pack, SizeClasses, and the
// relative Pool over a relative Slab.
#include <gtest/gtest.h>

#include "swim/mem.hpp"
#include "conformance/suite.hpp"

namespace swim::mem::testing {
namespace {

using HoldFactories =
    ::testing::Types<PackFactory<concurrent>, PackFactory<concurrent, relative_address>,
                     PackFactory<single_owner>,
                     PoolFactoryOf<Slab<concurrent, true, relative_address>, relative_address>,
                     SizeClassesFactory<concurrent, true>, SizeClassesFactory<concurrent, false>,
                     SizeClassesFactory<single_owner, true>,
                     SizeClassesFactory<single_owner, false>, SizeClassesRelativeFactory>;
INSTANTIATE_TYPED_TEST_SUITE_P(Holds, Conformance, HoldFactories, FactoryNames);

}  // namespace
}  // namespace swim::mem::testing
