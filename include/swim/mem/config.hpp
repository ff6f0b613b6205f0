// Umbrella header of layer 1 (config): portability macros, atomics, bit arithmetic,
// type lists and the dispatch over them, the warp operations, the memory-checker
// hooks (poisoning, debug fill, fault injection).
#pragma once
#include "swim/mem/config/atomic.hpp"
#include "swim/mem/config/backoff.hpp"
#include "swim/mem/config/bits.hpp"
#include "swim/mem/config/macros.hpp"
#include "swim/mem/config/poison.hpp"
#include "swim/mem/config/type_list.hpp"
#include "swim/mem/config/warp.hpp"
