// swim-mem: the host-safe umbrella header (layers 1-7 and the host sources).
#pragma once
#include "swim/mem/config.hpp"
#include "swim/mem/heaps.hpp"
#include "swim/mem/holds.hpp"
#include "swim/mem/leases.hpp"
#include "swim/mem/physical.hpp"
#include "swim/mem/residents.hpp"
#include "swim/mem/residents/scope.hpp"
#include "swim/mem/sources.hpp"
#include "swim/mem/holds/process_hold.hpp"
// Host only (they call the memory source): exact extents of device memory managed
// from the host, and buffers there that compaction moves.
#include "swim/mem/heaps/extent_arena.hpp"
#include "swim/mem/residents/device_buf.hpp"
#if SWIM_MEM_HAS_EXCEPTIONS
#include "swim/mem/physical/exceptions.hpp"
#endif
