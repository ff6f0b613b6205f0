// Layer 8 (integrations, host only, needs MPI 3): NodePack<Root>, leases and
// residents in memory shared by the ranks of a node.
//
//   using Numbers = swim::mem::Raw<swim::mem::Buf<double>, swim::mem::relative_address>;
//   auto made = swim::mem::mpi::NodePack<Numbers>::try_create(MPI_COMM_WORLD, 1 << 24);
//   Numbers& shared = made->root();            // the same Buf on every rank of the node
//   // rank 0: shared = *Numbers::try_from(made->hold(), data, n);  then sync()
//   // any rank, in its turn: shared.try_push(x); every rank reads shared.data()
//   made->try_destroy();                       // collective
//
// A NodeHold (mpi/node_hold.hpp: the window, the Root, the rules for what a Root
// may hold, errors, collective creation and destruction) whose hold is a
// Pack<concurrent, relative_address> (holds/pack.hpp) over the rest of the window:
// one CAS per allocation or free, from any thread of any rank. The Pack gives bytes
// back when it empties: a structure that grows and shrinks for a long time wants a
// NodePool (mpi/node_pool.hpp). Leaks are reported as "mpi::NodePack".
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>

#include "swim/mem/holds/pack.hpp"
#include "swim/mem/integrations/mpi/node_hold.hpp"

namespace swim::mem::detail {

/// NodeHold's Pack shape (mpi/node_hold.hpp): the Pack, then its region.
struct NodePackShape {
  using hold_type = Pack<concurrent, relative_address>;
  struct Options {};
  static constexpr const char* name = "mpi::NodePack";
  static constexpr std::uint64_t magic = 0x6b6361702d6d6973ull;  // "sim-pack"
  static constexpr unsigned count(Options, unsigned) { return 1; }
  static constexpr std::size_t room(Options, unsigned) { return round64(sizeof(hold_type)); }
  static constexpr std::size_t least_region(Options, unsigned) { return 256; }
  static std::uint64_t key(Options) { return 0; }
  static hold_type* build(std::byte* at, Block region, Options, unsigned) {
    auto* pack = new (at) hold_type(region);
    return pack->init_error() == Error::none ? pack : nullptr;
  }
};

}  // namespace swim::mem::detail

namespace swim::mem::mpi {

/// Leases and residents shared by a node, in a relative Pack (see the file comment).
template <class Root>
using NodePack = NodeHold<Root, detail::NodePackShape>;

}  // namespace swim::mem::mpi
