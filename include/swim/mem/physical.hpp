// Umbrella header of layer 2 (physical): address policies, Block, Layout, Error, Result, Stats, Region
// (what an allocator's walk reports), the leak handler interface (and the
// deprecated names of the old error model).
#pragma once
#include "swim/mem/config.hpp"
#include "swim/mem/physical/address.hpp"
#include "swim/mem/physical/block.hpp"
#include "swim/mem/physical/error.hpp"
#include "swim/mem/physical/layout.hpp"
#include "swim/mem/physical/leak.hpp"
#include "swim/mem/physical/outcome.hpp"
#include "swim/mem/physical/region.hpp"
#include "swim/mem/physical/region_kind.hpp"
#include "swim/mem/physical/result.hpp"
#include "swim/mem/physical/stats.hpp"
