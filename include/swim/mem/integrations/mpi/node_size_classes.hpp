// Layer 8 (integrations, host only, needs MPI 3): NodeSizeClasses<Root>, leases and
// residents of any size in memory shared by the ranks of a node: the general-purpose
// hold in a window.
//
//   using Numbers = swim::mem::Raw<swim::mem::Buf<double>, swim::mem::relative_address>;
//   auto made = swim::mem::mpi::NodeSizeClasses<Numbers>::try_create(MPI_COMM_WORLD, 1 << 28);
//   Numbers& shared = made->root();            // the same Buf on every rank of the node
//   // rank 0: shared = *Numbers::try_from(made->hold(), data, n);  then sync()
//   // any rank, in its turn: shared.try_push(x); every rank reads shared.data()
//   made->try_destroy();                       // collective
//
// A NodeHold (mpi/node_hold.hpp: the window, the Root, the rules for what a Root
// may hold, errors, collective creation and destruction) whose hold is a
// SizeClasses<Slab<concurrent, true, relative_address>, concurrent, Checked,
// relative_address> (holds/size_classes.hpp): the window's region is a Slab of units
// (options.unit_bytes each, 256 KiB unless asked), each unit a hunk of one size
// class or one large object. Objects of up to 32760 bytes take a unit of their
// class (a stride at most a quarter above the size); larger ones a unit of their
// own, up to a unit less 64 bytes of header (larger is oversized). Units whose
// objects are all freed, by any rank, serve their class again; a freed large object's
// unit goes straight back to the Slab (no large-block cache: the Slab is one), and
// empty hunks at try_trim() (collective). Allocation and free are
// lock-free from any thread of any rank; growth through a lease works from every
// rank. With options.per_rank each node rank allocates from a SizeClasses of its own
// over the same Slab, as NodePool's per_rank. Leaks are reported as
// "mpi::NodeSizeClasses".
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>

#include "swim/mem/heaps/slab.hpp"
#include "swim/mem/holds/size_classes.hpp"
#include "swim/mem/integrations/mpi/node_hold.hpp"

namespace swim::mem::detail {

/// NodeHold's SizeClasses shape (mpi/node_hold.hpp): the holds, the Slab of units,
/// then the units.
template <bool Checked>
struct NodeSizeClassesShape {
  using heap_type = Slab<concurrent, true, relative_address>;
  using hold_type = SizeClasses<heap_type, concurrent, Checked, relative_address>;
  struct Options {
    /// Bytes per unit (a hunk, or a large object): a multiple of 4096, from 256 KiB
    /// (a hunk of the largest classes) to 1 GiB.
    std::size_t unit_bytes = 256 * 1024;
    /// A SizeClasses per node rank over the one Slab (see NodePool's per_rank).
    bool per_rank = false;
  };
  static constexpr const char* name = "mpi::NodeSizeClasses";
  static constexpr std::uint64_t magic = 0x657a69732d6d6973ull;  // "sim-size"
  static constexpr std::size_t hold_bytes = round64(sizeof(hold_type));
  static constexpr bool valid(Options o) {
    return o.unit_bytes >= (std::size_t(256) << 10) && o.unit_bytes <= (std::size_t(1) << 30) &&
           o.unit_bytes % 4096 == 0;
  }
  static constexpr unsigned count(Options o, unsigned ranks) { return o.per_rank ? ranks : 1; }
  /// 0 (refused) for a unit size out of bounds.
  static constexpr std::size_t room(Options o, unsigned ranks) {
    return valid(o) ? hold_bytes * count(o, ranks) + round64(sizeof(heap_type)) : 0;
  }
  /// Four units per hold (a few classes in use at once), and the room the Slab may
  /// skip to align its first unit (up to 4 KiB; the region starts 64-byte aligned).
  static constexpr std::size_t least_region(Options o, unsigned ranks) {
    return 4 * o.unit_bytes * count(o, ranks) + 4096;
  }
  /// The unit size (a multiple of 4096), Checked in bit 0 and per_rank in bit 1.
  static std::uint64_t key(Options o) {
    return o.unit_bytes | (Checked ? 1u : 0u) | (o.per_rank ? 2u : 0u);
  }
  static hold_type* build(std::byte* at, Block region, Options o, unsigned ranks) {
    const unsigned n = count(o, ranks);
    auto* units = new (at + hold_bytes * n) heap_type(region, o.unit_bytes);
    if (units->init_error() != Error::none || units->block_count() < 4 * std::size_t(n)) {
      return nullptr;
    }
    for (unsigned i = 0; i < n; ++i) {
      // No large-block cache: every large object has a whole unit, so a kept unit
      // would serve only requests of the largest bin; the Slab itself is the cache
      // (one CAS to give a unit back, one to take it), shared by every rank.
      (new (at + hold_bytes * i) hold_type(*units))->set_large_cache(0, 0);
    }
    return reinterpret_cast<hold_type*>(at);
  }
};

}  // namespace swim::mem::detail

namespace swim::mem::mpi {

/// Leases and residents of any size shared by a node, in a relative SizeClasses (see
/// the file comment). Checked: the hold's try_deallocate validates every pointer
/// against its hunks (holds/size_classes.hpp).
template <class Root, bool Checked = (SWIM_MEM_CHECKED != 0)>
using NodeSizeClasses = NodeHold<Root, detail::NodeSizeClassesShape<Checked>>;

}  // namespace swim::mem::mpi
