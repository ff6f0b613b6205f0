// Layer 8 (integrations, host only, needs MPI 3): NodePool<Root>, leases and
// residents in memory shared by the ranks of a node, in a growable hold.
//
//   using Numbers = swim::mem::Raw<swim::mem::Buf<double>, swim::mem::relative_address>;
//   auto made = swim::mem::mpi::NodePool<Numbers>::try_create(MPI_COMM_WORLD, 1 << 26);
//   Numbers& shared = made->root();            // the same Buf on every rank of the node
//   // rank 0: shared = *Numbers::try_from(made->hold(), data, n);  then sync()
//   // any rank, in its turn: shared.try_push(x); every rank reads shared.data()
//   made->try_destroy();                       // collective
//
// A NodeHold (mpi/node_hold.hpp: the window, the Root, the rules for what a Root
// may hold, errors, collective creation and destruction) whose hold is a
// Pool<Slab<concurrent, true, relative_address>, concurrent, Checked,
// relative_address> (holds/pool.hpp): the window's region is a Slab of hunks
// (options.hunk_bytes each, 64 KiB unless asked), the Pool bumps in one hunk at a
// time, and a hunk whose objects are all freed, by any rank, is reused: unlike a
// NodePack, a structure may grow and shrink for as long as it likes. Allocation,
// free and in-place resize are lock-free from any thread of any rank; growth through
// a lease (Buf::try_push, stow into hold()) draws hunks through the tag, from every
// rank. An object larger than a hunk less its header (64 bytes) is oversized.
// With options.per_rank every node rank allocates from a Pool of its own over the
// same Slab (hold() and get() are this rank's): no cache line is written by every
// rank at every allocation; an object still goes back to its own Pool through its
// tag from any rank, but get()->try_deallocate validates against this rank's Pool
// only (another rank's object is a foreign_pointer there: free it through its tag).
// try_trim() (collective) gives spare hunks back to the Slab. Leaks are reported as
// "mpi::NodePool".
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>

#include "swim/mem/heaps/slab.hpp"
#include "swim/mem/holds/pool.hpp"
#include "swim/mem/integrations/mpi/node_hold.hpp"

namespace swim::mem::detail {

/// NodeHold's Pool shape (mpi/node_hold.hpp): the Pool, the Slab of hunks, then the
/// hunks.
template <bool Checked>
struct NodePoolShape {
  using heap_type = Slab<concurrent, true, relative_address>;
  using hold_type = Pool<heap_type, concurrent, Checked, relative_address>;
  struct Options {
    /// Bytes per hunk: a multiple of 64, at least 4 KiB, at most 1 GiB.
    std::size_t hunk_bytes = 64 * 1024;
    /// One Pool per node rank over the one Slab of hunks: each rank allocates from
    /// its own (no cache line written by every rank), frees go to the object's own
    /// Pool from any rank. A hunk emptied in one rank's Pool serves that rank again,
    /// and the others only after try_trim().
    bool per_rank = false;
  };
  static constexpr const char* name = "mpi::NodePool";
  static constexpr std::uint64_t magic = 0x6c6f6f702d6d6973ull;  // "sim-pool"
  static constexpr std::size_t pool_bytes = round64(sizeof(hold_type));
  static constexpr bool valid(Options o) {
    return o.hunk_bytes >= 4096 && o.hunk_bytes <= (std::size_t(1) << 30) && o.hunk_bytes % 64 == 0;
  }
  /// Pools: one, or one per node rank.
  static constexpr unsigned count(Options o, unsigned ranks) { return o.per_rank ? ranks : 1; }
  /// 0 (refused) for a hunk size out of bounds.
  static constexpr std::size_t room(Options o, unsigned ranks) {
    return valid(o) ? pool_bytes * count(o, ranks) + round64(sizeof(heap_type)) : 0;
  }
  /// A hunk for each Pool (each takes its first when it first allocates), and the
  /// room the Slab may skip to align its first hunk (up to 4 KiB; the region starts
  /// 64-byte aligned).
  static constexpr std::size_t least_region(Options o, unsigned ranks) {
    return o.hunk_bytes * count(o, ranks) + 4096;
  }
  /// The hunk size (a multiple of 64), Checked in bit 0 and per_rank in bit 1: ranks
  /// that mix them over one window refuse together.
  static std::uint64_t key(Options o) {
    return o.hunk_bytes | (Checked ? 1u : 0u) | (o.per_rank ? 2u : 0u);
  }
  /// The Pools (count(o, ranks), pool_bytes apart), then the Slab of hunks.
  static hold_type* build(std::byte* at, Block region, Options o, unsigned ranks) {
    const unsigned n = count(o, ranks);
    auto* hunks = new (at + pool_bytes * n) heap_type(region, o.hunk_bytes);
    if (hunks->init_error() != Error::none || hunks->block_count() < n) return nullptr;
    for (unsigned i = 0; i < n; ++i) new (at + pool_bytes * i) hold_type(*hunks, o.hunk_bytes);
    return reinterpret_cast<hold_type*>(at);
  }
};

}  // namespace swim::mem::detail

namespace swim::mem::mpi {

/// Leases and residents shared by a node, in a relative Pool (see the file comment).
/// Checked: the Pool's try_deallocate validates every pointer against its hunks
/// (holds/pool.hpp).
template <class Root, bool Checked = (SWIM_MEM_CHECKED != 0)>
using NodePool = NodeHold<Root, detail::NodePoolShape<Checked>>;

}  // namespace swim::mem::mpi
