// Umbrella header of layer 6 (leases): the resident contract, address policies,
// stow and its transaction, the exclusive leases Raw and Ptr, and the shared
// leases Mut, Ref, Hard and Soft.
#pragma once
#include "swim/mem/holds.hpp"
#include "swim/mem/leases/address.hpp"
#include "swim/mem/leases/arc_core.hpp"
#include "swim/mem/leases/arc_lease.hpp"
#include "swim/mem/leases/arc_status.hpp"
#include "swim/mem/leases/arc_stow.hpp"
#include "swim/mem/leases/arc_stow_log.hpp"
#include "swim/mem/leases/exclusive.hpp"
#include "swim/mem/leases/resident.hpp"
#include "swim/mem/leases/stow.hpp"
#include "swim/mem/leases/stow_context.hpp"
