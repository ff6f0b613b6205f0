// Layer 6 (leases): the address policies a lease takes (physical/address.hpp).
//
// A lease stores the address of its payload through its Addr policy. Leases have
// direct_address only so far: relative_address is not yet carried by tags, HoldRef
// and the residents' internal references, which move their bytes (docs/design.md,
// "Addresses").
#pragma once

#include "swim/mem/physical/address.hpp"
