// Layer 6 (leases): the address policies a lease takes (physical/address.hpp).
//
// A lease stores the address of its payload through its Addr policy. The exclusive
// leases (Raw, Ptr) take relative_address too: over a hold whose tags are relative
// (Pack<concurrent, relative_address>), such a lease and its objects work in every
// mapping of the memory that holds them (docs/design.md, "Addresses"). So do the
// shared leases (Hard, Soft, Ref, Mut): their forwards after a relocation are
// distances (leases/arc_core.hpp, forward_word).
#pragma once

#include "swim/mem/physical/address.hpp"
