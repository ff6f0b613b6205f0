// Layer 8 (integrations, host only, needs MPI 3): NodeHold<Root, Shape>, a hold and
// a Root of leases in memory shared by the ranks of a node. NodePack
// (mpi/node_pack.hpp), NodePool (mpi/node_pool.hpp) and NodeSizeClasses
// (mpi/node_size_classes.hpp) are its shapes.
//
// One SharedWindow (mpi/shared_window.hpp) holds a header (magic, version, sizes,
// the Root type's fingerprint), a Root (node rank 0 default-constructs it) and the
// Shape's hold with relative addresses over the rest: Pack<concurrent,
// relative_address>, or Pool<..., relative_address> over a relative Slab of hunks.
// Every rank uses that one hold through its own mapping: hold() is this rank's
// HoldRef of it, and allocation, free and in-place resize are the hold's (lock-free,
// no MPI call, any thread of any rank). Its tags are relative, so an object
// allocated by one rank is freed or grown by any other.
//
// Root lives in the window and is read through every rank's mapping, so it must hold
// no direct address: leases with relative addresses (Raw<R, relative_address>,
// Ptr<R, relative_address>, and the shared Hard, Soft, Ref and Mut<R,
// relative_address>, whose forwards after a relocation are distances too) of Box, Buf
// and String, plain data, or structs of these.
// Its objects must be allocated in hold() (an object of a rank's private hold would
// not be readable by the others). A lease is not synchronised: ranks take turns on
// one (after a sync(), or under a lock of their own in the window), as threads do.
//
// Errors of try_create, the same on every rank: those of SharedWindow::try_create,
// and invalid_argument for a size too small for the header, the Root and the hold,
// options the Shape refuses, or ranks that asked for different sizes, options or
// Root types. try_destroy destroys the Root (node rank 0: its objects go back to the
// hold), reports objects still live (a rank that kept some) to the leak handler
// once, under the Shape's name, then frees the window.
//
// The Shape contract (detail::NodePackShape, detail::NodePoolShape):
//   hold_type, Options (default-constructible), name, magic (one per shape, so a
//   window of one shape is never taken for the other);
//   count(options, ranks): how many holds (1, or one per node rank: rank r uses
//     hold r), each round64(sizeof(hold_type)) bytes after the one before;
//   room(options, ranks): bytes the holds and their parts take before the region (a
//     multiple of 64);
//   least_region(options, ranks): the smallest region worth having;
//   build(at, region, options, ranks): construct the holds and their parts at `at`
//     (64-byte aligned) over `region`; the first hold, or null when the parts
//     refuse it;
//   key(options): what every rank must have asked the same (64 bits).
#pragma once

#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>

#include "swim/mem/holds.hpp"
#include "swim/mem/integrations/mpi/shared_window.hpp"
#include "swim/mem/residents/parcel.hpp"

namespace swim::mem::detail {
template <class T>
inline constexpr bool direct_lease_v = false;
template <resident R, bool M>
inline constexpr bool direct_lease_v<ExclusiveLease<R, M, direct_address>> = true;
template <resident R, ArcKind K>
inline constexpr bool direct_lease_v<ArcLease<R, K, direct_address>> = true;
}  // namespace swim::mem::detail

namespace swim::mem::mpi {

template <class Root, class Shape>
class NodeHold {
  static_assert(alignof(Root) <= 64, "a node's Root is aligned to at most 64 bytes");
  // The common mistake, caught: a lease that stores this rank's address. (Members of a
  // struct Root are not seen; the rule is in the file comment.)
  static_assert(!detail::direct_lease_v<std::remove_cv_t<Root>>,
                "a node's Root lives in shared memory; use a lease with relative_address "
                "(Raw<R, relative_address>, Hard<R, relative_address>, ...)");

 public:
  using hold_type = typename Shape::hold_type;
  using options_type = typename Shape::Options;
  /// What the window starts with; the window is this shape's only while it says so.
  struct Header {
    std::uint64_t magic;
    std::uint32_t version;
    std::uint32_t root_size;
    std::uint64_t root_type;  // detail::type_fingerprint<Root>()
    std::uint64_t bytes;
    std::uint64_t key;  // Shape::key(options)
  };
  static constexpr std::uint32_t version = 1;
  static constexpr std::size_t header_room = 64;
  static_assert(sizeof(Header) <= header_room);
  static constexpr std::size_t root_at = header_room;
  static constexpr std::size_t hold_at = root_at + detail::round64(sizeof(Root));

  NodeHold() = default;
  NodeHold(NodeHold&& o) noexcept
      : window_(static_cast<SharedWindow&&>(o.window_)), first_(o.first_), count_(o.count_), hold_(o.hold_) {
    o.hold_ = o.first_ = nullptr;
  }
  NodeHold& operator=(NodeHold&& o) noexcept {
    if (this != &o) {
      (void)try_destroy();
      window_ = static_cast<SharedWindow&&>(o.window_);
      first_ = o.first_;
      count_ = o.count_;
      hold_ = o.hold_;
      o.hold_ = o.first_ = nullptr;
    }
    return *this;
  }
  NodeHold(const NodeHold&) = delete;
  NodeHold& operator=(const NodeHold&) = delete;
  /// Collective, as try_destroy.
  ~NodeHold() { (void)try_destroy(); }

  /// Collective over `comm`: a window of `bytes` (its header, the Root and the hold
  /// included) for the ranks of each node of `comm`.
  static Result<NodeHold> try_create(MPI_Comm comm, std::size_t bytes, options_type options = {}) {
    // Too small for a region worth having with one rank (or options the Shape
    // refuses: room 0 is never enough): ask the window for nothing, which every rank
    // then refuses together (SharedWindow: invalid_argument). The node's ranks are
    // known once the window is made; node rank 0 checks again with them.
    const bool fits = Shape::room(options, 1) != 0 && bytes <= max_bytes &&
                      bytes >= hold_at + Shape::room(options, 1) + Shape::least_region(options, 1);
    Result<SharedWindow> w = SharedWindow::try_create(comm, fits ? bytes : 0);
    if (!w) return w.error();
    NodeHold s;
    s.window_ = static_cast<SharedWindow&&>(*w);
    auto* base = s.base();  // 64-byte aligned (SharedWindow::block())
    const auto ranks = static_cast<unsigned>(s.window_.ranks());
    const std::size_t region_at = hold_at + Shape::room(options, ranks);
    const std::uint64_t type = detail::type_fingerprint<Root>();
    const std::uint64_t key = Shape::key(options);
    int ok = 1;
    if (s.window_.rank() == 0) {
      new (base) Header{Shape::magic, version, static_cast<std::uint32_t>(sizeof(Root)), type,
                        bytes, key};
      new (base + root_at) Root();
      ok = bytes >= region_at + Shape::least_region(options, ranks) &&
           Shape::build(base + hold_at, Block{base + region_at, bytes - region_at}, options,
                        ranks) != nullptr;
    }
    // Every rank reaches the agreement below, whatever failed where.
    const bool synced = s.window_.sync() == Error::none;
    const auto* h = reinterpret_cast<const Header*>(base);
    ok = ok && synced && h->magic == Shape::magic && h->version == version &&
         h->root_size == sizeof(Root) && h->root_type == type && h->bytes == bytes &&
         h->key == key;
    int all_ok = 0;
    if (MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS) all_ok = 0;
    if (all_ok == 0) {
      // Node rank 0 built what it built in a window all ranks now give up: no Root
      // or hold destructor is run for what the others refused (its Root is new and
      // owns nothing; the hold is empty).
      return Error::invalid_argument;
    }
    s.first_ = reinterpret_cast<hold_type*>(base + hold_at);
    s.count_ = Shape::count(options, ranks);
    s.hold_ = s.count_ == 1 ? s.first_ : s.at(static_cast<unsigned>(s.window_.rank()));
    return s;
  }

  /// The shared Root, at this rank's address.
  Root& root() const { return *reinterpret_cast<Root*>(base() + root_at); }
  /// This rank's HoldRef of the shared hold (of its own hold, when the Shape gives
  /// each rank one): allocate the Root's objects here.
  HoldRef hold() const { return hold_ == nullptr ? HoldRef() : HoldRef::of(*hold_); }
  /// That hold at this rank's address (null for none).
  hold_type* get() const { return hold_; }
  /// The holds in the window: 1, or one per node rank (Shape::count).
  unsigned hold_count() const { return hold_ == nullptr ? 0 : count_; }
  /// The node's totals (every rank's objects, in every hold): live, bytes_in_use and
  /// bytes_free summed, peak_bytes the sum of the holds' peaks (an upper bound),
  /// largest_free the largest; exact when quiescent.
  Stats stats() const {
    Stats t{};
    for (unsigned i = 0; i < hold_count(); ++i) {
      const Stats s = at(i)->stats();
      t.live += s.live;
      t.bytes_in_use += s.bytes_in_use;
      t.bytes_free += s.bytes_free;
      t.peak_bytes += s.peak_bytes;
      if (s.largest_free > t.largest_free) t.largest_free = s.largest_free;
    }
    return t;
  }
  /// Make every rank's writes before it seen by every rank after it (collective).
  Error sync() const { return window_.sync(); }
  /// The window (its node communicator, rank, ranks, fence()).
  const SharedWindow& window() const { return window_; }
  explicit operator bool() const { return hold_ != nullptr; }

  /// Collective over the node, for a hold that can trim (a NodePool): every rank
  /// stops using the hold (sync), node rank 0 gives the spare hunks back to the
  /// window's Slab, and every rank waits for it (sync).
  Error try_trim()
    requires requires(hold_type& h) { h.trim(); }
  {
    if (hold_ == nullptr) return Error::invalid_argument;
    Error e = window_.sync();
    if (e == Error::none && window_.rank() == 0) {
      for (unsigned i = 0; i < count_; ++i) at(i)->trim();
    }
    const Error f = window_.sync();
    return e != Error::none ? e : f;
  }

  /// Collective over the node: waits for every rank (sync), destroys the Root on node
  /// rank 0 (its objects go back to the hold), reports objects still live once (leak
  /// handler, under the Shape's name), frees the window. Before MPI_Finalize
  /// (afterwards it only drops the handles and answers unsupported, as NodeSlab's).
  Error try_destroy() {
    if (!window_) return Error::none;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized != 0) {
      hold_ = first_ = nullptr;
      return window_.try_free();
    }
    Error e = window_.sync();
    if (hold_ != nullptr && window_.rank() == 0) {
      root().~Root();
      const Stats s = stats();
      if (s.live != 0) detail::leaked(Shape::name, first_, s);
      // Reported here: the hold's own report is not run, its storage goes with the
      // window.
    }
    hold_ = first_ = nullptr;
    const Error f = window_.try_free();
    return e != Error::none ? e : f;
  }

 protected:
  static constexpr std::size_t max_bytes = std::size_t(1) << 48;

  // The window at this rank's address (64-byte aligned: SharedWindow::block()).
  std::byte* base() const { return static_cast<std::byte*>(window_.block().ptr); }

  // Hold i of the window (i < count_), at this rank's address.
  hold_type* at(unsigned i) const {
    return reinterpret_cast<hold_type*>(reinterpret_cast<std::byte*>(first_) +
                                        std::size_t(i) * detail::round64(sizeof(hold_type)));
  }

  SharedWindow window_;
  hold_type* first_ = nullptr;  // the window's first hold, at this rank's address
  unsigned count_ = 0;          // holds (Shape::count)
  hold_type* hold_ = nullptr;   // this rank's hold, at this rank's address
};

}  // namespace swim::mem::mpi
