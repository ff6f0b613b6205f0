// Layer 8 (integrations, host only, needs MPI): ship and gather, a whole structure
// to another rank in one message, working leases in the receiver's hold on arrival.
//
//   // rank 0                                     // rank 1
//   Raw<Box<Node>> tree = build();                auto got = mpi::try_receive<Raw<Box<Node>>>(
//   mpi::try_ship(tree, 1, MPI_COMM_WORLD);           0, MPI_COMM_WORLD);
//   // tree is null: it moved                     Raw<Box<Node>>& tree = got->root();
//
// The structure is stowed into a Parcel (residents/parcel.hpp) in a scratch hold,
// its image sealed and sent as one message; the receiver probes the message's size,
// allocates the Parcel in its own hold, receives straight into it and rebases it.
// Nothing about the ranks' addresses is shared, so this works between nodes as
// well as within one. Forms: blocking (try_ship, try_send, try_receive),
// non-blocking (try_ship_async / Shipment, try_receive_async / Arrival), and
// try_gather (every rank's structure to one rank).
//
// Errors (each leaves the structure where it was, and drains the message it was
// about, so the next message is received normally):
//   unsupported       MPI not initialised or already finalised, or an MPI call failed
//                     (under a communicator whose error handler returns errors; under
//                     MPI's default handler a failed call aborts, as any MPI call does)
//   invalid_argument  a null communicator, a rank outside it, a tag outside 0..MPI_TAG_UB
//                     (MPI_ANY_TAG and MPI_ANY_SOURCE to receive), a null hold
//   malformed         a message that is not an image of this type: not a Parcel,
//                     truncated, damaged, another type or program (Parcel's checks)
//   oversized         an image above 16 GiB (one message counts 8-byte words in an int)
//   out_of_memory     the scratch or the receiving hold cannot hold the image
// An unwanted message is drained whole into scratch memory; only when none can be had
// is it received into nothing (a truncation), with MPI_ERRORS_RETURN set on the
// communicator for that one call. Images are sent as MPI_UINT64_T words: the same
// program on every rank, as Parcel requires. Thread-safety: as MPI's
// (MPI_THREAD_MULTIPLE for calls from several threads at once); a Parcel, Shipment
// or Arrival is one thread's at a time.
#pragma once

#include <mpi.h>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#include "swim/mem/holds/process_hold.hpp"
#include "swim/mem/residents.hpp"

namespace swim::mem::mpi {

/// The message tag of ship and receive unless the caller gives one.
inline constexpr int ship_tag = 0x5357;

// Not `detail`: a swim::mem::mpi::detail would hide swim::mem::detail from the
// other MPI headers' unqualified `detail::` (whatever order a program includes them in).
namespace ship_detail {

inline bool mpi_usable() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized != 0 && finalized == 0;
}

// Whether `peer` is a rank of comm that a point-to-point call may name (a rank of
// the remote group for an intercommunicator), or MPI_ANY_SOURCE when allowed; and
// `tag` a valid tag (0 to MPI_TAG_UB, or MPI_ANY_TAG when allowed).
inline Error check_peer(MPI_Comm comm, int peer, bool any_allowed, int tag) {
  if (!mpi_usable()) return Error::unsupported;
  if (comm == MPI_COMM_NULL) return Error::invalid_argument;
  int* ub = nullptr;
  int has_ub = 0;
  if (MPI_Comm_get_attr(comm, MPI_TAG_UB, &ub, &has_ub) != MPI_SUCCESS) return Error::unsupported;
  const bool tag_ok = (any_allowed && tag == MPI_ANY_TAG) ||
                      (tag >= 0 && (has_ub == 0 || ub == nullptr || tag <= *ub));
  if (!tag_ok) return Error::invalid_argument;
  if (any_allowed && peer == MPI_ANY_SOURCE) return Error::none;
  int inter = 0, size = 0;
  if (MPI_Comm_test_inter(comm, &inter) != MPI_SUCCESS) return Error::unsupported;
  const int got = inter != 0 ? MPI_Comm_remote_size(comm, &size) : MPI_Comm_size(comm, &size);
  if (got != MPI_SUCCESS) return Error::unsupported;
  return peer >= 0 && peer < size ? Error::none : Error::invalid_argument;
}

/// The image's length in 8-byte words as one message counts it.
inline Result<int> words_of(Block image) {
  if (image.size % 8 != 0) return Error::malformed;
  if (image.size / 8 > static_cast<std::size_t>(INT_MAX)) return Error::oversized;
  return static_cast<int>(image.size / 8);
}

/// MPI_ERRORS_RETURN on comm while it lives, the previous handler put back after.
/// Only around the one receive that fails on purpose (a drain by truncation, when no
/// memory is left to drain a message into): setting a communicator's handler is not
/// safe against another thread doing the same.
class ReturnErrors {
 public:
  explicit ReturnErrors(MPI_Comm comm) : comm_(comm) {
    if (MPI_Comm_get_errhandler(comm_, &previous_) != MPI_SUCCESS) {
      previous_ = MPI_ERRHANDLER_NULL;
      return;
    }
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
  }
  ~ReturnErrors() {
    if (previous_ == MPI_ERRHANDLER_NULL) return;
    MPI_Comm_set_errhandler(comm_, previous_);
    MPI_Errhandler_free(&previous_);
  }
  ReturnErrors(const ReturnErrors&) = delete;
  ReturnErrors& operator=(const ReturnErrors&) = delete;

 private:
  MPI_Comm comm_;
  MPI_Errhandler previous_ = MPI_ERRHANDLER_NULL;
};

/// A failed rank's message in try_gather: one word, this marker and the Error.
inline constexpr std::uint64_t failure_word = 0x5357000000000000ULL;

/// Receive a matched message that is not wanted (`bytes` long, -1 if unknown), so
/// that it does not block the next one: whole, into scratch memory, when it can be
/// had; else into nothing, which MPI reports as a truncation, ignored.
inline void drain(MPI_Message& msg, MPI_Count bytes, MPI_Comm comm) {
  const bool words = bytes >= 0 && bytes % 8 == 0 && bytes / 8 <= INT_MAX;
  const bool odd = bytes >= 0 && bytes % 8 != 0 && bytes <= INT_MAX;
  void* scratch = nullptr;
  if (bytes > 0 && (words || odd)) scratch = ::operator new(static_cast<std::size_t>(bytes), std::nothrow);
  if (bytes == 0 || scratch != nullptr) {
    if (words) {
      MPI_Mrecv(scratch, static_cast<int>(bytes / 8), MPI_UINT64_T, &msg, MPI_STATUS_IGNORE);
    } else {
      MPI_Mrecv(scratch, static_cast<int>(bytes), MPI_BYTE, &msg, MPI_STATUS_IGNORE);
    }
    ::operator delete(scratch);
    return;
  }
  std::uint64_t nothing = 0;
  ReturnErrors guard(comm);
  MPI_Mrecv(&nothing, 0, MPI_BYTE, &msg, MPI_STATUS_IGNORE);  // MPI_ERR_TRUNCATE: drained
}

/// Receive a matched message into a new Parcel of `hold`. The message is always
/// received, also when the Parcel cannot be made (drain), so that it never blocks
/// the next one.
template <class L>
Result<Parcel<L>> receive_matched(MPI_Message& msg, const MPI_Status& status, HoldRef hold,
                                  UnpackOptions options, MPI_Comm comm) {
  MPI_Count bytes = 0;
  if (MPI_Get_elements_x(&status, MPI_BYTE, &bytes) != MPI_SUCCESS || bytes < 0) {
    bytes = -1;
  }
  bool received = false;
  Result<Parcel<L>> got = Error::malformed;
  if (bytes >= 0 && bytes % 8 == 0 && bytes / 8 <= INT_MAX) {
    got = Parcel<L>::try_unpack_with(
        static_cast<std::size_t>(bytes), hold,
        [&](void* to) {
          received = true;
          return MPI_Mrecv(to, static_cast<int>(bytes / 8), MPI_UINT64_T, &msg,
                           MPI_STATUS_IGNORE) == MPI_SUCCESS
                     ? Error::none
                     : Error::unsupported;
        },
        options);
  } else if (bytes >= 0 && bytes / 8 > INT_MAX) {
    got = Error::oversized;
  }
  if (!received) drain(msg, bytes, comm);
  return got;
}

/// Seal `parcel` and send its image: blocking when `req` is null, else started
/// with MPI_Isend into *req (left MPI_REQUEST_NULL on failure).
template <class L>
Error send_image(Parcel<L>& parcel, int dest, MPI_Comm comm, int tag, MPI_Request* req) {
  const Block image = parcel.seal();
  const Result<int> words = words_of(image);
  if (!words) return words.error();
  if (req == nullptr) {
    return MPI_Send(image.ptr, *words, MPI_UINT64_T, dest, tag, comm) == MPI_SUCCESS
               ? Error::none
               : Error::unsupported;
  }
  if (MPI_Isend(image.ptr, *words, MPI_UINT64_T, dest, tag, comm, req) != MPI_SUCCESS) {
    *req = MPI_REQUEST_NULL;
    return Error::unsupported;
  }
  return Error::none;
}

}  // namespace ship_detail

/// Send a Parcel's image (seal()) to `dest` in one message; the Parcel is kept (so
/// one Parcel can go to several ranks). Blocking.
template <shippable L>
Error try_send(Parcel<L>& parcel, int dest, MPI_Comm comm, int tag = ship_tag) {
  const Error peer = ship_detail::check_peer(comm, dest, false, tag);
  if (peer != Error::none) return peer;
  if (!parcel) return Error::invalid_argument;
  return ship_detail::send_image(parcel, dest, comm, tag, nullptr);
}

/// Ship `root` (and everything it owns) to `dest`: a copy stowed into a Parcel in
/// `scratch` (Parcel::try_pack_copy; capacity_hint as there), sent, the Parcel
/// freed; then the original is destroyed (after the send, so that freeing it
/// overlaps the receiver's work). Blocking. On success `root` is null: the
/// structure moved to the other rank. On failure `root` is as it was.
template <shippable L>
Error try_ship(L& root, int dest, MPI_Comm comm, int tag = ship_tag,
               HoldRef scratch = process_hold(), std::size_t capacity_hint = 0) {
  const Error peer = ship_detail::check_peer(comm, dest, false, tag);
  if (peer != Error::none) return peer;
  Result<Parcel<L>> parcel = Parcel<L>::try_pack_copy(root, scratch, capacity_hint);
  if (!parcel) return parcel.error();
  const Error e = try_send(*parcel, dest, comm, tag);
  parcel->reset();
  if (e == Error::none) root = L{};
  return e;
}

/// Receive one shipped structure from `source` (or MPI_ANY_SOURCE) with `tag` into
/// a new Parcel of `hold`. Blocking. The Parcel's root() is the structure.
template <shippable L>
Result<Parcel<L>> try_receive(int source, MPI_Comm comm, HoldRef hold = process_hold(),
                              int tag = ship_tag, UnpackOptions options = {}) {
  const Error peer = ship_detail::check_peer(comm, source, true, tag);
  if (peer != Error::none) return peer;
  if (!hold) return Error::invalid_argument;
  MPI_Message msg;
  MPI_Status status;
  if (MPI_Mprobe(source, tag, comm, &msg, &status) != MPI_SUCCESS) return Error::unsupported;
  return ship_detail::receive_matched<L>(msg, status, hold, options, comm);
}

/// A non-blocking ship under way (try_ship_async): the Parcel lives until the send
/// completes. Destroying an unfinished Shipment waits for it.
template <shippable L>
class Shipment {
 public:
  Shipment() = default;
  Shipment(Shipment&& o) noexcept : parcel_(static_cast<Parcel<L>&&>(o.parcel_)), req_(o.req_) {
    o.req_ = MPI_REQUEST_NULL;
  }
  Shipment& operator=(Shipment&& o) noexcept {
    if (this != &o) {
      (void)wait();
      parcel_ = static_cast<Parcel<L>&&>(o.parcel_);
      req_ = o.req_;
      o.req_ = MPI_REQUEST_NULL;
    }
    return *this;
  }
  ~Shipment() { (void)wait(); }

  /// Whether the send has completed (then the Parcel is freed). unsupported when
  /// MPI failed or has ended.
  Result<bool> test() {
    if (req_ == MPI_REQUEST_NULL) return true;
    if (!ship_detail::mpi_usable()) return Error::unsupported;
    int done = 0;
    if (MPI_Test(&req_, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return Error::unsupported;
    if (done != 0) parcel_.reset();
    return done != 0;
  }
  /// Wait for the send to complete.
  Error wait() {
    if (req_ == MPI_REQUEST_NULL) return Error::none;
    if (!ship_detail::mpi_usable()) return Error::unsupported;
    const int rc = MPI_Wait(&req_, MPI_STATUS_IGNORE);
    parcel_.reset();
    return rc == MPI_SUCCESS ? Error::none : Error::unsupported;
  }

 private:
  template <shippable M>
  friend Result<Shipment<M>> try_ship_async(M&, int, MPI_Comm, int, HoldRef, std::size_t);
  Parcel<L> parcel_;
  MPI_Request req_ = MPI_REQUEST_NULL;
};

/// try_ship without waiting: the send is started, the Shipment completes it.
template <shippable L>
Result<Shipment<L>> try_ship_async(L& root, int dest, MPI_Comm comm, int tag = ship_tag,
                                   HoldRef scratch = process_hold(),
                                   std::size_t capacity_hint = 0) {
  const Error peer = ship_detail::check_peer(comm, dest, false, tag);
  if (peer != Error::none) return peer;
  Result<Parcel<L>> parcel = Parcel<L>::try_pack_copy(root, scratch, capacity_hint);
  if (!parcel) return parcel.error();
  Shipment<L> s;
  s.parcel_ = parcel.take();
  const Error e = ship_detail::send_image(s.parcel_, dest, comm, tag, &s.req_);
  if (e != Error::none) return e;
  root = L{};  // the copy is on its way
  return Result<Shipment<L>>(static_cast<Shipment<L>&&>(s));
}

/// A non-blocking receive (try_receive_async): test() polls for the message and
/// receives it once it is there; wait() blocks for it. The structure arrives in a
/// Parcel of the hold given when the Arrival was made.
template <shippable L>
class Arrival {
 public:
  Arrival() = default;
  Arrival(int source, MPI_Comm comm, HoldRef hold, int tag, UnpackOptions options)
      : source_(source), comm_(comm), hold_(hold), tag_(tag), options_(options) {}

  /// Receive the message if it has come: true once the structure is here (take it
  /// with take()), false while it has not come. The receive's error once it came
  /// and failed (the message is drained).
  Result<bool> test() {
    if (done_) return result_ ? Result<bool>(true) : Result<bool>(result_.error());
    if (comm_ == MPI_COMM_NULL) return Error::invalid_argument;  // a default Arrival
    if (!ship_detail::mpi_usable()) return Error::unsupported;
    int found = 0;
    MPI_Message msg;
    MPI_Status status;
    if (MPI_Improbe(source_, tag_, comm_, &found, &msg, &status) != MPI_SUCCESS) {
      return Error::unsupported;
    }
    if (found == 0) return false;
    result_ = ship_detail::receive_matched<L>(msg, status, hold_, options_, comm_);
    done_ = true;
    return test();
  }
  /// Block until the structure is here; then take().
  Error wait() {
    if (!done_) {
      if (comm_ == MPI_COMM_NULL) return Error::invalid_argument;  // a default Arrival
      if (!ship_detail::mpi_usable()) return Error::unsupported;
      MPI_Message msg;
      MPI_Status status;
      if (MPI_Mprobe(source_, tag_, comm_, &msg, &status) != MPI_SUCCESS) {
        return Error::unsupported;
      }
      result_ = ship_detail::receive_matched<L>(msg, status, hold_, options_, comm_);
      done_ = true;
    }
    return result_ ? Error::none : result_.error();
  }
  /// The Parcel, once test() said true or wait() said none; invalid_argument before.
  Result<Parcel<L>> take() {
    if (!done_) return Error::invalid_argument;
    done_ = false;
    Result<Parcel<L>> out = static_cast<Result<Parcel<L>>&&>(result_);
    result_ = Error::invalid_argument;
    return out;
  }

 private:
  int source_ = MPI_ANY_SOURCE;
  MPI_Comm comm_ = MPI_COMM_NULL;
  HoldRef hold_;
  int tag_ = ship_tag;
  UnpackOptions options_;
  bool done_ = false;
  Result<Parcel<L>> result_ = Error::invalid_argument;
};

/// Start a non-blocking receive (nothing is posted until test() or wait()).
template <shippable L>
Result<Arrival<L>> try_receive_async(int source, MPI_Comm comm, HoldRef hold = process_hold(),
                                     int tag = ship_tag, UnpackOptions options = {}) {
  const Error peer = ship_detail::check_peer(comm, source, true, tag);
  if (peer != Error::none) return peer;
  if (!hold) return Error::invalid_argument;
  return Arrival<L>(source, comm, hold, tag, options);
}

/// What try_gather gives: on the root, one Parcel per rank of the communicator
/// (the root's own included) and each rank's error (none where its Parcel
/// arrived); on the other ranks, their own send's error only.
template <shippable L>
struct Gathered {
  std::vector<Parcel<L>> parcels;
  std::vector<Error> errors;
};

/// Gather every rank's structure to `root`, one message each (collective over an
/// intracommunicator; every rank calls it with the same root and tag, or they wait
/// as in any mismatched collective). Each rank's `mine` moves into a Parcel (null on
/// success; as it was where packing failed, and then that rank sends its error
/// instead, one word, which the root records). On the root the Parcels are in
/// `hold`.
template <shippable L>
Result<Gathered<L>> try_gather(L& mine, int root, MPI_Comm comm, HoldRef hold = process_hold(),
                               int tag = ship_tag + 1, UnpackOptions options = {},
                               std::size_t capacity_hint = 0) {
  const Error peer = ship_detail::check_peer(comm, root, false, tag);
  if (peer != Error::none) return peer;
  int inter = 0, rank = 0, size = 0;
  if (MPI_Comm_test_inter(comm, &inter) != MPI_SUCCESS || inter != 0) {
    return Error::invalid_argument;
  }
  // A null hold is this rank's error (invalid_argument, from try_pack_copy and
  // try_unpack_with) and goes through the collective like any other: an early
  // return here would leave the root waiting.
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  Gathered<L> out;
  if (rank != root) {
    out.errors.assign(static_cast<std::size_t>(size), Error::none);
    Result<Parcel<L>> parcel = Parcel<L>::try_pack_copy(mine, hold, capacity_hint);
    Error e = parcel ? Error::none : parcel.error();
    Result<int> words = Error::oversized;
    if (parcel) words = ship_detail::words_of(parcel->seal());
    if (parcel && !words) e = words.error();
    // The root waits for every rank: a rank that could not pack says why instead.
    std::uint64_t failure = ship_detail::failure_word | static_cast<std::uint64_t>(e);
    const int sent = e == Error::none
                         ? MPI_Send(parcel->block().ptr, *words, MPI_UINT64_T, root, tag, comm)
                         : MPI_Send(&failure, 1, MPI_UINT64_T, root, tag, comm);
    if (sent != MPI_SUCCESS && e == Error::none) e = Error::unsupported;
    if (e == Error::none) mine = L{};
    out.errors[static_cast<std::size_t>(rank)] = e;
    return out;
  }
  out.parcels.resize(static_cast<std::size_t>(size));
  out.errors.assign(static_cast<std::size_t>(size), Error::none);
  {
    Result<Parcel<L>> own = Parcel<L>::try_pack(mine, hold, capacity_hint);
    if (own) {
      out.parcels[static_cast<std::size_t>(rank)] = own.take();
    } else {
      out.errors[static_cast<std::size_t>(rank)] = own.error();
    }
  }
  for (int r = 0; r < size; ++r) {
    if (r == root) continue;
    MPI_Message msg;
    MPI_Status status;
    if (MPI_Mprobe(r, tag, comm, &msg, &status) != MPI_SUCCESS) {
      out.errors[static_cast<std::size_t>(r)] = Error::unsupported;
      continue;
    }
    MPI_Count bytes = 0;
    if (MPI_Get_elements_x(&status, MPI_BYTE, &bytes) == MPI_SUCCESS && bytes == 8) {
      std::uint64_t word = 0;
      MPI_Mrecv(&word, 1, MPI_UINT64_T, &msg, MPI_STATUS_IGNORE);
      const std::uint64_t code = word & 0xFF;
      const bool failure = (word & ~std::uint64_t(0xFF)) == ship_detail::failure_word && code != 0 &&
                           code <= static_cast<std::uint64_t>(Error::malformed);
      out.errors[static_cast<std::size_t>(r)] = failure ? static_cast<Error>(code) : Error::malformed;
      continue;
    }
    Result<Parcel<L>> got = ship_detail::receive_matched<L>(msg, status, hold, options, comm);
    if (got) {
      out.parcels[static_cast<std::size_t>(r)] = got.take();
    } else {
      out.errors[static_cast<std::size_t>(r)] = got.error();
    }
  }
  return out;
}

}  // namespace swim::mem::mpi
