// Umbrella header of layer 6 (leases): the resident contract, stow, Raw and Ptr.
#pragma once
#include "swim/mem/holds.hpp"
#include "swim/mem/leases/arc.hpp"
#include "swim/mem/leases/arc_status.hpp"
#include "swim/mem/leases/exclusive.hpp"
#include "swim/mem/leases/resident.hpp"
#include "swim/mem/leases/stow.hpp"
