// Umbrella header of layer 5 (holds: tagged memory objects): Pack, Pool, SizeClasses, the tag,
// tag-dispatched free/resize, and the warp front of SizeClasses.
#pragma once
#include "swim/mem/heaps.hpp"
#include "swim/mem/holds/current.hpp"
#include "swim/mem/holds/hold.hpp"
#include "swim/mem/holds/pack.hpp"
#include "swim/mem/holds/pool.hpp"
#include "swim/mem/holds/size_classes.hpp"
#include "swim/mem/holds/tag.hpp"
#include "swim/mem/holds/warp_front.hpp"
