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
// One SharedWindow (mpi/shared_window.hpp) holds a header (magic, version, sizes),
// a Root (node rank 0 default-constructs it) and a Pack<concurrent, relative_address>
// (holds/pack.hpp) over the rest. Every rank uses that one Pack through its own
// mapping: hold() is this rank's HoldRef of it, and allocation, free and in-place
// resize are the Pack's (one CAS, no MPI call, any thread of any rank). Its tags are
// relative, so an object allocated by one rank is freed or grown by any other.
//
// Root lives in the window and is read through every rank's mapping, so it must hold
// no direct address: leases with relative addresses (Raw<R, relative_address>,
// Ptr<R, relative_address>) of Box, Buf and String, plain data, or structs of these.
// Its objects must be allocated in hold() (an object of a rank's private hold would
// not be readable by the others). A lease is not synchronised: ranks take turns on
// one (after a sync(), or under a lock of their own in the window), as threads do.
//
// The Pack gives bytes back when it empties (holds/pack.hpp): a structure that grows
// and shrinks for a long time wants a Pool in the window, which is not there yet.
//
// Errors of try_create, the same on every rank: those of SharedWindow::try_create,
// and invalid_argument for a size too small for the header, the Root and a Pack, or
// ranks that asked for different sizes or Root types. try_destroy destroys the Root
// (node rank 0: its objects go back to the Pack), reports objects still live (a
// rank that kept some) to the leak handler once, as an "mpi::NodePack", then frees
// the window.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <new>

#include "swim/mem/holds.hpp"
#include "swim/mem/integrations/mpi/shared_window.hpp"
#include "swim/mem/residents/parcel.hpp"

namespace swim::mem::detail {
template <class T>
inline constexpr bool direct_exclusive_lease_v = false;
template <resident R, bool M>
inline constexpr bool direct_exclusive_lease_v<ExclusiveLease<R, M, direct_address>> = true;
}  // namespace swim::mem::detail

namespace swim::mem::mpi {

template <class Root>
class NodePack {
  static_assert(alignof(Root) <= 64, "NodePack: a Root aligned to at most 64 bytes");
  // The common mistake, caught: a lease that stores this rank's address. (Members of a
  // struct Root are not seen; the rule is in the file comment.)
  static_assert(!detail::direct_exclusive_lease_v<Root>,
                "NodePack: the Root lives in shared memory; use Raw<R, relative_address>");

 public:
  using pack_type = Pack<concurrent, relative_address>;
  /// What the window starts with; the window is a NodePack's only while it says so.
  struct Header {
    std::uint64_t magic;
    std::uint32_t version;
    std::uint32_t root_size;
    std::uint64_t root_type;  // detail::type_fingerprint<Root>()
    std::uint64_t bytes;
  };
  static constexpr std::uint64_t magic = 0x6b6361702d6d6973ull;  // "sim-pack"
  static constexpr std::uint32_t version = 1;
  static constexpr std::size_t header_room = 64;
  static constexpr std::size_t root_at = header_room;
  static constexpr std::size_t pack_at = root_at + detail::round64(sizeof(Root));
  static constexpr std::size_t region_at = pack_at + detail::round64(sizeof(pack_type));

  NodePack() = default;
  NodePack(NodePack&& o) noexcept : window_(static_cast<SharedWindow&&>(o.window_)), pack_(o.pack_) {
    o.pack_ = nullptr;
  }
  NodePack& operator=(NodePack&& o) noexcept {
    if (this != &o) {
      (void)try_destroy();
      window_ = static_cast<SharedWindow&&>(o.window_);
      pack_ = o.pack_;
      o.pack_ = nullptr;
    }
    return *this;
  }
  NodePack(const NodePack&) = delete;
  NodePack& operator=(const NodePack&) = delete;
  /// Collective, as try_destroy.
  ~NodePack() { (void)try_destroy(); }

  /// Collective over `comm`: a window of `bytes` (its header, the Root and the Pack
  /// included) for the ranks of each node of `comm`.
  static Result<NodePack> try_create(MPI_Comm comm, std::size_t bytes) {
    // Too small for a Pack region of a few objects: ask the window for nothing,
    // which every rank then refuses together (SharedWindow: invalid_argument).
    // The window starts 64-byte aligned (SharedWindow::block()), as the Pack's
    // HoldRef words need: they keep their kind in the low 6 bits.
    const std::size_t asked = bytes < region_at + 256 || bytes > max_bytes ? 0 : bytes;
    Result<SharedWindow> w = SharedWindow::try_create(comm, asked);
    if (!w) return w.error();
    NodePack s;
    s.window_ = static_cast<SharedWindow&&>(*w);
    auto* base = s.base();
    const std::uint64_t type = detail::type_fingerprint<Root>();
    int ok = 1;
    if (s.window_.rank() == 0) {
      new (base) Header{magic, version, static_cast<std::uint32_t>(sizeof(Root)), type, bytes};
      new (base + root_at) Root();
      auto* pack = new (base + pack_at) pack_type(Block{base + region_at, bytes - region_at});
      ok = pack->init_error() == Error::none;
    }
    // Every rank reaches the agreement below, whatever failed where.
    const bool synced = s.window_.sync() == Error::none;
    const auto* h = reinterpret_cast<const Header*>(base);
    ok = ok && synced && h->magic == magic && h->version == version &&
         h->root_size == sizeof(Root) && h->root_type == type && h->bytes == bytes;
    int all_ok = 0;
    if (MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS) all_ok = 0;
    if (all_ok == 0) {
      // Node rank 0 built what it built in a window all ranks now give up: no Root
      // or Pack destructor is run for what the others refused (its Root is new and
      // owns nothing; the Pack is empty).
      return Error::invalid_argument;
    }
    s.pack_ = reinterpret_cast<pack_type*>(base + pack_at);
    return s;
  }

  /// The shared Root, at this rank's address.
  Root& root() const { return *reinterpret_cast<Root*>(base() + root_at); }
  /// This rank's HoldRef of the shared Pack: allocate the Root's objects here.
  HoldRef hold() const { return pack_ == nullptr ? HoldRef() : HoldRef::of(*pack_); }
  /// The node's totals (every rank's objects), as Pack::stats; exact when quiescent.
  Stats stats() const { return pack_ == nullptr ? Stats{} : pack_->stats(); }
  /// Make every rank's writes before it seen by every rank after it (collective).
  Error sync() const { return window_.sync(); }
  /// The window (its node communicator, rank, ranks, fence()).
  const SharedWindow& window() const { return window_; }
  explicit operator bool() const { return pack_ != nullptr; }

  /// Collective over the node: waits for every rank (sync), destroys the Root on node
  /// rank 0 (its objects go back to the Pack), reports objects still live once (leak
  /// handler, "mpi::NodePack"), frees the window. Before MPI_Finalize (afterwards it
  /// only drops the handles and answers unsupported, as NodeSlab's).
  Error try_destroy() {
    if (!window_) return Error::none;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized != 0) {
      pack_ = nullptr;
      return window_.try_free();
    }
    Error e = window_.sync();
    if (pack_ != nullptr && window_.rank() == 0) {
      root().~Root();
      const Stats s = pack_->stats();
      if (s.live != 0) detail::leaked("mpi::NodePack", pack_, s);
      // Reported here: the Pack's own report is not run, its storage goes with the window.
    }
    pack_ = nullptr;
    const Error f = window_.try_free();
    return e != Error::none ? e : f;
  }

 private:
  static constexpr std::size_t max_bytes = std::size_t(1) << 48;

  // The window at this rank's address (64-byte aligned: SharedWindow::block()).
  std::byte* base() const { return static_cast<std::byte*>(window_.block().ptr); }

  SharedWindow window_;
  pack_type* pack_ = nullptr;  // in window_, at this rank's address
};

}  // namespace swim::mem::mpi
