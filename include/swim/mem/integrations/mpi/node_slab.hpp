// Layer 8 (integrations, host only, needs MPI 3): NodeSlab, a lock-free heap of
// equal units in memory shared by the ranks of a node.
//
//   auto made = swim::mem::mpi::NodeSlab<>::try_create(MPI_COMM_WORLD, 64, 100000);
//   if (!made) ...                                   // the same Error on every rank
//   auto& slab = *made;
//   Block b = *slab.try_allocate(Layout{64, 8});     // any rank, no lock, no MPI call
//   std::size_t at = slab.offset_of(b.ptr);          // what another rank is told
//   slab.try_deallocate(slab.block_at(at));          // any rank frees any unit
//   slab.try_destroy();                              // collective
//
// One SharedWindow (mpi/shared_window.hpp) holds a header (magic, version, unit,
// count, checked), a Slab<concurrent, Checked, relative_address> (heaps/slab.hpp)
// and its units. Node rank 0 builds it; every rank then uses the same Slab through
// its own mapping: allocation and free are the Slab's, one CAS each, with no MPI
// call, from any number of threads of any number of ranks. Addresses are this
// rank's: a unit travels between ranks as its offset in the window (offset_of,
// block_at), never as a pointer. A checked NodeSlab (the default unless NDEBUG)
// answers a double free or a foreign pointer with an Error, from any rank.
//
// Errors of try_create, the same on every rank: those of SharedWindow::try_create,
// and invalid_argument for a unit or count the Slab cannot use or ranks that
// asked for different units or counts. try_destroy reports the units still live
// (a rank that leaves with units it never freed) to the leak handler once, on node
// rank 0, as an "mpi::NodeSlab", then frees the window.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <new>

#include "swim/mem/heaps/slab.hpp"
#include "swim/mem/integrations/mpi/shared_window.hpp"

namespace swim::mem::mpi {

template <bool Checked = (SWIM_MEM_CHECKED != 0)>
class NodeSlab {
 public:
  using slab_type = Slab<concurrent, Checked, relative_address>;
  /// What the window starts with; the window is a NodeSlab's only while it says so.
  struct Header {
    std::uint64_t magic;
    std::uint32_t version;
    std::uint32_t checked;
    std::uint64_t unit;
    std::uint64_t count;
  };
  static constexpr std::uint64_t magic = 0x6d656d2d6d697773ull;  // "swim-mem"
  static constexpr std::uint32_t version = 1;
  static constexpr std::size_t header_room = 64;
  static constexpr std::size_t slab_room = detail::round64(sizeof(slab_type));

  NodeSlab() = default;
  NodeSlab(NodeSlab&& o) noexcept : window_(static_cast<SharedWindow&&>(o.window_)), slab_(o.slab_) {
    o.slab_ = nullptr;
  }
  NodeSlab& operator=(NodeSlab&& o) noexcept {
    if (this != &o) {
      (void)try_destroy();
      window_ = static_cast<SharedWindow&&>(o.window_);
      slab_ = o.slab_;
      o.slab_ = nullptr;
    }
    return *this;
  }
  NodeSlab(const NodeSlab&) = delete;
  NodeSlab& operator=(const NodeSlab&) = delete;
  /// Collective, as try_destroy.
  ~NodeSlab() { (void)try_destroy(); }

  /// Collective over `comm`: a NodeSlab of at least `count` units of `unit` bytes
  /// (a multiple of 4) for the ranks of each node of `comm`.
  static Result<NodeSlab> try_create(MPI_Comm comm, std::size_t unit, std::size_t count) {
    // The hunk that gives `count` units (its checked bitmap included); 0 for a
    // unit or count the Slab cannot use. Ranks that passed different ones ask for
    // different sizes, or get a header that does not match theirs, below.
    const std::size_t hunk = slab_type::hunk_size_for(unit, count);
    const std::size_t bytes =
        hunk == 0 || hunk > max_bytes ? 0 : header_room + slab_room + hunk;
    Result<SharedWindow> w = SharedWindow::try_create(comm, bytes);
    if (!w) return w.error();
    NodeSlab s;
    s.window_ = static_cast<SharedWindow&&>(*w);
    auto* base = static_cast<std::byte*>(s.window_.block().ptr);
    int ok = 1;
    if (s.window_.rank() == 0) {
      auto* h = new (base) Header{magic, version, Checked ? 1u : 0u, unit, count};
      auto* slab = new (base + header_room)
          slab_type(Block{base + header_room + slab_room, bytes - header_room - slab_room}, unit);
      ok = slab->init_error() == Error::none && slab->block_count() >= count;
      (void)h;
    }
    // Every rank reaches the agreement below, whatever failed where (an early
    // return on some ranks only would leave the others waiting in it).
    const bool synced = s.window_.sync() == Error::none;
    const auto* h = reinterpret_cast<const Header*>(base);
    ok = ok && synced && h->magic == magic && h->version == version && h->unit == unit &&
         h->count == count && h->checked == (Checked ? 1u : 0u);
    int all_ok = 0;
    // Over all of `comm` (every node), as the window's own decisions are.
    if (MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS) all_ok = 0;
    if (all_ok == 0) return Error::invalid_argument;  // s frees the window
    s.slab_ = reinterpret_cast<slab_type*>(base + header_room);
    return s;
  }

  /// One unit (any thread of any rank; see Slab::try_allocate).
  Result<Block> try_allocate(Layout layout) {
    if (slab_ == nullptr) return Error::invalid_argument;
    return slab_->try_allocate(layout);
  }
  /// Give a unit back, whichever rank took it, at this rank's address of it.
  Error try_deallocate(Block block) {
    if (slab_ == nullptr) return Error::invalid_argument;
    return slab_->try_deallocate(block);
  }

  /// Where `p` (an address of this rank's mapping) is in the window: the same
  /// number on every rank. all_ones for an address outside the window.
  std::size_t offset_of(const void* p) const {
    const Block w = window_.block();
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    const std::uintptr_t off = a - w.address();
    return a >= w.address() && off < w.size ? off : all_ones;
  }
  /// This rank's address of the byte at `offset` in the window (null outside it).
  void* address_at(std::size_t offset) const {
    const Block w = window_.block();
    return offset < w.size ? static_cast<std::byte*>(w.ptr) + offset : nullptr;
  }
  /// The unit at `offset` (as offset_of gave it), as a block to free.
  Block block_at(std::size_t offset) const { return Block{address_at(offset), unit()}; }

  /// The node's totals (every rank's units), as Slab::stats.
  Stats stats() const { return slab_ == nullptr ? Stats{} : slab_->stats(); }
  /// The occupancy walk (checked NodeSlabs; quiescent: after a sync()).
  template <class F>
    requires Checked
  void walk(F&& f) const {
    if (slab_ != nullptr) slab_->walk(static_cast<F&&>(f));
  }
  std::size_t unit() const { return slab_ == nullptr ? 0 : slab_->unit(); }
  std::size_t block_count() const { return slab_ == nullptr ? 0 : slab_->block_count(); }
  /// The Slab itself, at this rank's address: for a per-thread
  /// SlabCache<slab_type> (heaps/slab_cache.hpp) over it, which takes and gives back
  /// units in batches, one CAS per batch (units held in a cache count as live in
  /// stats() until it flushes; destroy the caches before try_destroy).
  slab_type& slab() const { return *slab_; }
  /// The window (its node communicator, rank, ranks, sync()).
  const SharedWindow& window() const { return window_; }
  explicit operator bool() const { return slab_ != nullptr; }

  /// Collective over the node: waits for every rank (sync), reports units still
  /// live once (node rank 0, leak handler), frees the window. Nothing to do for
  /// a moved-from or never-made NodeSlab. Call it (or let the destructor run)
  /// before MPI_Finalize: afterwards MPI has freed the window, and this only drops
  /// the handles and answers Error::unsupported.
  Error try_destroy() {
    if (!window_) return Error::none;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized != 0) {
      // MPI is gone, and the window with it: nothing to wait for or report from.
      slab_ = nullptr;
      return window_.try_free();  // drops the handles; Error::unsupported
    }
    Error e = window_.sync();
    if (slab_ != nullptr && window_.rank() == 0) {
      const Stats s = slab_->stats();
      if (s.live != 0) detail::leaked("mpi::NodeSlab", slab_, s);
      // The Slab holds nothing outside the window and has reported through this
      // NodeSlab: its storage goes with the window.
    }
    slab_ = nullptr;
    const Error f = window_.try_free();
    return e != Error::none ? e : f;
  }

 private:
  static constexpr std::size_t all_ones = ~std::size_t(0);
  static constexpr std::size_t max_bytes = std::size_t(1) << 48;

  SharedWindow window_;
  slab_type* slab_ = nullptr;  // in window_, at this rank's address
};

}  // namespace swim::mem::mpi
