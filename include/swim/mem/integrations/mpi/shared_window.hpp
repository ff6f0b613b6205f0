// Layer 8 (integrations, host only, needs MPI 3): SharedWindow, one segment of
// memory shared by the ranks of a node.
//
// try_create is collective over a communicator: it splits off the node's ranks
// (MPI_Comm_split_type, MPI_COMM_TYPE_SHARED), node rank 0 allocates the whole
// segment with MPI_Win_allocate_shared and every rank maps it, each at an address
// of its own (MPI_Win_shared_query), so what lives in it keeps no plain pointers:
// heaps/slab.hpp with relative_address, the NodeSlab of mpi/node_slab.hpp. The
// window stays in one passive-target epoch (MPI_Win_lock_all) for its life; the
// ranks update it with C++ atomics (lock-free, address-free) and sync() is the
// memory barrier plus node barrier between phases.
//
// Errors, the same on every rank of the node (decided collectively):
//   unsupported       MPI is not initialised (or already finalised), or an MPI
//                     call failed (the node communicator returns errors, never aborts)
//   invalid_argument  a null communicator, zero bytes, or ranks that asked for
//                     different sizes (a mismatched collective call)
//   out_of_memory     more than the node's shared memory (/dev/shm) or the memory
//                     available now holds, checked before MPI is asked: an MPI that fails
//                     on one rank leaves the others waiting in the collective call
// try_free (and the destructor, which calls it) is collective too: every rank of
// the node must free the window; a rank that returns early leaves the others
// waiting in MPI_Win_free.
#pragma once

#include <mpi.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>

#include "swim/mem/physical.hpp"

namespace swim::mem::mpi {

class SharedWindow {
 public:
  SharedWindow() = default;
  SharedWindow(const SharedWindow&) = delete;
  SharedWindow& operator=(const SharedWindow&) = delete;
  SharedWindow(SharedWindow&& o) noexcept { take(o); }
  SharedWindow& operator=(SharedWindow&& o) noexcept {
    if (this != &o) {
      (void)try_free();
      take(o);
    }
    return *this;
  }
  ~SharedWindow() { (void)try_free(); }

  /// Collective over `comm`: a window of `bytes` shared by the node's ranks.
  static Result<SharedWindow> try_create(MPI_Comm comm, std::size_t bytes) {
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (initialized == 0 || finalized != 0) return Error::unsupported;
    if (comm == MPI_COMM_NULL) return Error::invalid_argument;
    SharedWindow w;
    if (MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &w.node_) !=
        MPI_SUCCESS) {
      w.node_ = MPI_COMM_NULL;
      return Error::unsupported;
    }
    MPI_Comm_set_errhandler(w.node_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(w.node_, &w.rank_);
    MPI_Comm_size(w.node_, &w.ranks_);
    // Every rank must ask for the same size: compare the largest and smallest.
    std::uint64_t ask[2] = {bytes, ~std::uint64_t(bytes)};
    std::uint64_t most[2] = {0, 0};
    if (MPI_Allreduce(ask, most, 2, MPI_UINT64_T, MPI_MAX, w.node_) != MPI_SUCCESS) {
      return Error::unsupported;
    }
    if (most[0] != bytes || ~most[1] != bytes) return Error::invalid_argument;
    if (bytes == 0) return Error::invalid_argument;
    // Rank 0 decides whether the node can hold it, before anyone calls MPI.
    int fits = w.rank_ == 0 ? node_can_hold(bytes) : 0;
    if (MPI_Bcast(&fits, 1, MPI_INT, 0, w.node_) != MPI_SUCCESS) return Error::unsupported;
    if (fits == 0) return Error::out_of_memory;
    MPI_Info info = MPI_INFO_NULL;
    void* mine = nullptr;
    const MPI_Aint size = w.rank_ == 0 ? static_cast<MPI_Aint>(bytes) : 0;
    int ok = MPI_Win_allocate_shared(size, 1, info, w.node_, &mine, &w.win_) == MPI_SUCCESS;
    if (!ok) w.win_ = MPI_WIN_NULL;
    int all_ok = 0;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, w.node_);
    if (all_ok == 0) {
      // Not every rank has the window: freeing it (collective over its ranks)
      // could wait forever, so a rank that got one lets it go unfreed.
      w.win_ = MPI_WIN_NULL;
      return Error::out_of_memory;
    }
    MPI_Win_set_errhandler(w.win_, MPI_ERRORS_RETURN);
    MPI_Aint got = 0;
    int disp = 0;
    void* base = nullptr;
    ok = MPI_Win_shared_query(w.win_, 0, &got, &disp, &base) == MPI_SUCCESS && base != nullptr &&
         static_cast<std::size_t>(got) >= bytes;
    if (ok) {
      w.locked_ = MPI_Win_lock_all(MPI_MODE_NOCHECK, w.win_) == MPI_SUCCESS;
      ok = w.locked_;
    }
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, w.node_);
    if (all_ok == 0) return Error::unsupported;  // every rank frees the window
    w.block_ = Block{base, bytes};
    return w;
  }

  /// This rank's mapping of the segment (null for no window).
  Block block() const { return block_; }
  /// The node communicator (the ranks that share the segment).
  MPI_Comm node() const { return node_; }
  int rank() const { return rank_; }
  int ranks() const { return ranks_; }
  MPI_Win window() const { return win_; }
  explicit operator bool() const { return win_ != MPI_WIN_NULL; }

  /// Collective: every rank's writes to the segment so far are seen by every rank
  /// after it returns (MPI_Win_sync, node barrier, MPI_Win_sync).
  Error sync() const {
    if (win_ == MPI_WIN_NULL) return Error::invalid_argument;
    if (finalized()) return Error::unsupported;
    if (MPI_Win_sync(win_) != MPI_SUCCESS || MPI_Barrier(node_) != MPI_SUCCESS ||
        MPI_Win_sync(win_) != MPI_SUCCESS) {
      return Error::unsupported;
    }
    return Error::none;
  }

  /// Not collective: this rank's writes to the segment so far are ordered before
  /// what it does next, and what it reads next sees writes other ranks ordered so
  /// (MPI_Win_sync, a memory barrier). Between two ranks that exchange a message
  /// about the segment (an offset), the sender calls it before sending and the
  /// receiver after receiving: MPI's rule for shared windows (MPI-3.1, 11.7).
  Error fence() const {
    if (win_ == MPI_WIN_NULL) return Error::invalid_argument;
    if (finalized()) return Error::unsupported;
    return MPI_Win_sync(win_) == MPI_SUCCESS ? Error::none : Error::unsupported;
  }

  /// Collective: free the window and the node communicator. Nothing to do for a
  /// moved-from or never-made window; after MPI_Finalize, the handles are dropped
  /// (MPI has freed them) and Error::unsupported says so.
  Error try_free() {
    if (win_ == MPI_WIN_NULL && node_ == MPI_COMM_NULL) return Error::none;
    Error e = Error::none;
    if (finalized()) {
      e = Error::unsupported;
    } else {
      if (locked_ && MPI_Win_unlock_all(win_) != MPI_SUCCESS) e = Error::unsupported;
      if (win_ != MPI_WIN_NULL && MPI_Win_free(&win_) != MPI_SUCCESS) e = Error::unsupported;
      if (node_ != MPI_COMM_NULL && MPI_Comm_free(&node_) != MPI_SUCCESS) e = Error::unsupported;
    }
    win_ = MPI_WIN_NULL;
    node_ = MPI_COMM_NULL;
    locked_ = false;
    block_ = Block{};
    return e;
  }

 private:
  // Whether `bytes` can be shared on this node: no more than the free space of
  // /dev/shm (where Open MPI and MPICH put the segment) when there is one, and no
  // more than the memory available now (Linux's MemAvailable; physical memory
  // where that cannot be read). What is put in the window is usually written
  // whole (a Slab links every unit), so the pages must exist.
  static int node_can_hold(std::size_t bytes) {
    const long pages = sysconf(_SC_PHYS_PAGES);
    const long page = sysconf(_SC_PAGESIZE);
    std::size_t memory = pages > 0 && page > 0
                             ? static_cast<std::size_t>(pages) * static_cast<std::size_t>(page)
                             : ~std::size_t(0);
    if (std::FILE* info = std::fopen("/proc/meminfo", "r")) {
      char line[128];
      unsigned long long kib = 0;
      while (std::fgets(line, sizeof line, info) != nullptr) {
        if (std::sscanf(line, "MemAvailable: %llu kB", &kib) == 1) {
          memory = static_cast<std::size_t>(kib) * 1024;
          break;
        }
      }
      std::fclose(info);
    }
    if (bytes >= memory) return 0;
    struct statvfs fs {};
    if (statvfs("/dev/shm", &fs) == 0 && fs.f_frsize != 0 &&
        bytes / fs.f_frsize >= static_cast<std::size_t>(fs.f_bavail)) {
      return 0;
    }
    return 1;
  }

  static bool finalized() {
    int done = 0;
    MPI_Finalized(&done);
    return done != 0;
  }

  void take(SharedWindow& o) {
    node_ = o.node_;
    win_ = o.win_;
    block_ = o.block_;
    rank_ = o.rank_;
    ranks_ = o.ranks_;
    locked_ = o.locked_;
    o.node_ = MPI_COMM_NULL;
    o.win_ = MPI_WIN_NULL;
    o.block_ = Block{};
    o.locked_ = false;
  }

  MPI_Comm node_ = MPI_COMM_NULL;
  MPI_Win win_ = MPI_WIN_NULL;
  Block block_{};
  int rank_ = 0;
  int ranks_ = 0;
  bool locked_ = false;
};

}  // namespace swim::mem::mpi
