// Umbrella header of the MPI integration (layer 8, host only, needs MPI 3 and the
// SwimMem::mpi target): node-shared memory for the ranks of a node, and whole
// structures sent to other ranks in one message.
//   SharedWindow  one MPI-3 shared window on the node communicator (mpi/shared_window.hpp)
//   NodeSlab      a lock-free heap of equal units in one, for every rank (mpi/node_slab.hpp)
//   NodeHold      a hold and a Root of leases in one, shared by every rank
//                 (mpi/node_hold.hpp), in three shapes:
//   NodePack        a relative Pack (mpi/node_pack.hpp)
//   NodePool        a relative Pool over a Slab of hunks, growable (mpi/node_pool.hpp)
//   NodeSizeClasses a relative SizeClasses over a Slab of units: objects of any size
//                   (mpi/node_size_classes.hpp)
//   try_ship, try_receive, try_gather (and the non-blocking forms)
//                 a structure stowed into a Parcel, one message, working leases in
//                 the receiver's hold (mpi/ship.hpp)
// Not included by <swim/mem.hpp>.
#pragma once
#include "swim/mem/integrations/mpi/node_hold.hpp"
#include "swim/mem/integrations/mpi/node_pack.hpp"
#include "swim/mem/integrations/mpi/node_pool.hpp"
#include "swim/mem/integrations/mpi/node_size_classes.hpp"
#include "swim/mem/integrations/mpi/node_slab.hpp"
#include "swim/mem/integrations/mpi/shared_window.hpp"
#include "swim/mem/integrations/mpi/ship.hpp"
