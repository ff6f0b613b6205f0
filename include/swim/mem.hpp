// swim-mem: the host-safe umbrella header (layers 1-5 and the host sources).
#pragma once
#include "swim/mem/config.hpp"
#include "swim/mem/physical.hpp"
#if __has_include("swim/mem/sources.hpp")
#include "swim/mem/sources.hpp"
#endif
#include "swim/mem/heaps.hpp"
#include "swim/mem/holds.hpp"
