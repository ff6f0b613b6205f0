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
// Errors, the same on every rank of `comm` (decided collectively, on a duplicate
// of `comm` that returns errors):
//   unsupported       MPI is not initialised (or already finalised), or an MPI
//                     call failed (the node communicator returns errors, never aborts)
//   invalid_argument  a null communicator or an intercommunicator, zero bytes, or
//                     ranks that asked for different sizes (a mismatched collective call)
//   out_of_memory     more than the node's shared memory (/dev/shm or Open MPI's
//                     backing directory, with room to spare) or the memory available
//                     now (MemAvailable, the memory cgroup) holds, checked before MPI is
//                     asked: an MPI that fails on one rank leaves the others waiting in
//                     the collective call, which no library can undo
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
#include <cstdlib>
#include <cstring>

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

  /// Collective over `comm`: a window of `bytes` shared by the ranks of each node
  /// of `comm` (one window per node; every rank of `comm` gets the same answer).
  static Result<SharedWindow> try_create(MPI_Comm comm, std::size_t bytes) {
    if (finalized()) return Error::unsupported;
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (initialized == 0) return Error::unsupported;
    if (comm == MPI_COMM_NULL) return Error::invalid_argument;
    int inter = 0;
    if (MPI_Comm_test_inter(comm, &inter) != MPI_SUCCESS || inter != 0) {
      return Error::invalid_argument;  // the ranks of an intercommunicator share no node
    }
    // This call's collectives run on a duplicate of `comm` that returns errors
    // (the caller's may abort): the split, and every agreement, over all of
    // `comm`'s ranks, so that ranks on different nodes agree as well.
    MPI_Comm all = MPI_COMM_NULL;
    if (MPI_Comm_dup(comm, &all) != MPI_SUCCESS) return Error::unsupported;
    MPI_Comm_set_errhandler(all, MPI_ERRORS_RETURN);
    Result<SharedWindow> made = create(all, bytes);
    MPI_Comm_free(&all);
    return made;
  }

  /// This rank's mapping of the segment (null for no window): `bytes` bytes,
  /// starting 64-byte aligned, at the same offset from MPI's base on every rank.
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
      // Poison this process left in the segment (a cache's units) goes with it,
      // so the next mapping at these addresses starts open.
      if (block_.ptr != nullptr) detail::unpoison_meta(block_.ptr, block_.size);
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
  // Whether `bytes` can be shared on this node, with room to spare, since MPI's own
  // test is not ours: Open MPI 4.1 refused (and left the other ranks waiting) a
  // window 3 MB short of a 64 MiB /dev/shm's free space. So: no more than the free
  // space of the directory that backs the segment (Open MPI's
  // osc_sm_backing_directory when set, else /dev/shm, where Open MPI and MPICH put
  // it) less an eighth and 16 MiB, and no more than the memory available now
  // (Linux's MemAvailable, and the headroom of this process's memory cgroup, v2 or
  // v1, as under Slurm or in a container), since what is put in the window is
  // usually written whole (a Slab links every unit).
  static bool node_can_hold(std::size_t bytes) {
    const long pages = sysconf(_SC_PHYS_PAGES);
    const long page = sysconf(_SC_PAGESIZE);
    std::size_t memory = pages > 0 && page > 0
                             ? static_cast<std::size_t>(pages) * static_cast<std::size_t>(page)
                             : ~std::size_t(0);
    const std::size_t available = meminfo_available();
    if (available < memory) memory = available;
    const std::size_t headroom = cgroup_headroom();
    if (headroom < memory) memory = headroom;
    if (bytes >= memory) return false;
    const char* dir = std::getenv("OMPI_MCA_osc_sm_backing_directory");
    const bool asked = dir != nullptr && *dir != '\0';
    // A backing directory asked for that cannot be written: Open MPI's allocation
    // would fail on node rank 0 alone and leave the others waiting. (Without one,
    // a missing /dev/shm only means Open MPI backs the segment elsewhere.)
    if (asked && access(dir, W_OK) != 0) return false;
    struct statvfs fs {};
    if (statvfs(asked ? dir : "/dev/shm", &fs) == 0 && fs.f_frsize != 0) {
      const std::size_t free = static_cast<std::size_t>(fs.f_bavail) * fs.f_frsize;
      const std::size_t spare = free / 8 + (std::size_t(16) << 20);
      if (free <= spare || bytes > free - spare) return false;
    }
    return true;
  }

  // A number from the first line of a file ("max" or no file: all ones).
  static std::size_t read_number(const char* path) {
    std::size_t n = ~std::size_t(0);
    if (std::FILE* f = std::fopen(path, "r")) {
      unsigned long long v = 0;
      if (std::fscanf(f, "%llu", &v) == 1) n = static_cast<std::size_t>(v);
      std::fclose(f);
    }
    return n;
  }

  static std::size_t meminfo_available() {
    std::size_t n = ~std::size_t(0);
    if (std::FILE* info = std::fopen("/proc/meminfo", "r")) {
      char line[128];
      unsigned long long kib = 0;
      while (std::fgets(line, sizeof line, info) != nullptr) {
        if (std::sscanf(line, "MemAvailable: %llu kB", &kib) == 1) {
          n = static_cast<std::size_t>(kib) * 1024;
          break;
        }
      }
      std::fclose(info);
    }
    return n;
  }

  // The memory cgroup's limit less its usage (all ones without a limit).
  static std::size_t cgroup_headroom() {
    std::FILE* self = std::fopen("/proc/self/cgroup", "r");
    if (self == nullptr) return ~std::size_t(0);
    char line[512];
    char limit[640] = "";
    char usage[640] = "";
    while (std::fgets(line, sizeof line, self) != nullptr) {
      line[std::strcspn(line, "\n")] = '\0';
      if (std::strncmp(line, "0::", 3) == 0 && limit[0] == '\0') {  // v2
        const char* path = line + 3;
        std::snprintf(limit, sizeof limit, "/sys/fs/cgroup%s/memory.max", path);
        std::snprintf(usage, sizeof usage, "/sys/fs/cgroup%s/memory.current", path);
      } else if (const char* v1 = std::strstr(line, ":memory:")) {
        const char* path = v1 + 8;
        std::snprintf(limit, sizeof limit, "/sys/fs/cgroup/memory%s/memory.limit_in_bytes", path);
        std::snprintf(usage, sizeof usage, "/sys/fs/cgroup/memory%s/memory.usage_in_bytes", path);
      }
    }
    std::fclose(self);
    if (limit[0] == '\0') return ~std::size_t(0);
    const std::size_t cap = read_number(limit);
    const std::size_t used = read_number(usage);
    if (cap == ~std::size_t(0)) return cap;
    if (used == ~std::size_t(0)) return cap;
    return used < cap ? cap - used : 0;
  }

  // Whether `ok` holds on every rank of `all` (false when MPI fails).
  static bool everywhere(MPI_Comm all, bool ok) {
    int mine = ok ? 1 : 0, every = 0;
    return MPI_Allreduce(&mine, &every, 1, MPI_INT, MPI_MIN, all) == MPI_SUCCESS && every == 1;
  }

  static Result<SharedWindow> create(MPI_Comm all, std::size_t bytes) {
    SharedWindow w;
    const bool split =
        MPI_Comm_split_type(all, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &w.node_) == MPI_SUCCESS;
    if (!split) w.node_ = MPI_COMM_NULL;
    if (!everywhere(all, split)) return Error::unsupported;
    MPI_Comm_set_errhandler(w.node_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(w.node_, &w.rank_);
    MPI_Comm_size(w.node_, &w.ranks_);
    // Every rank must ask for the same size: compare the largest and smallest.
    std::uint64_t ask[2] = {bytes, ~std::uint64_t(bytes)};
    std::uint64_t most[2] = {0, 0};
    if (MPI_Allreduce(ask, most, 2, MPI_UINT64_T, MPI_MAX, all) != MPI_SUCCESS) {
      return Error::unsupported;
    }
    if (most[0] != bytes || ~most[1] != bytes) return Error::invalid_argument;
    if (bytes == 0) return Error::invalid_argument;
    // 63 bytes more, so that block() can start 64-byte aligned: MPI's segment
    // need not (Open MPI 4.1's does not), and what lives in it wants cache lines
    // of its own and 64-byte aligned control blocks (a HoldRef keeps its kind in
    // the low 6 bits). Every rank has the same `bytes` now, so all agree here.
    if (bytes > (~std::size_t(0) >> 2)) return Error::out_of_memory;
    const std::size_t mapped = bytes + 63;
    // Each node's rank 0 decides whether its node can hold it, before anyone
    // calls MPI: an MPI whose allocation fails on one rank can leave the others
    // waiting in the collective call.
    if (!everywhere(all, w.rank_ != 0 || node_can_hold(mapped))) return Error::out_of_memory;
    void* mine = nullptr;
    const MPI_Aint size = w.rank_ == 0 ? static_cast<MPI_Aint>(mapped) : 0;
    bool ok = MPI_Win_allocate_shared(size, 1, MPI_INFO_NULL, w.node_, &mine, &w.win_) ==
              MPI_SUCCESS;
    if (!ok) w.win_ = MPI_WIN_NULL;
    if (!everywhere(all, ok)) {
      // Not every rank has a window: freeing one (collective over its node) could
      // wait forever, so a rank that got one lets it go unfreed.
      w.win_ = MPI_WIN_NULL;
      return Error::out_of_memory;
    }
    MPI_Win_set_errhandler(w.win_, MPI_ERRORS_RETURN);
    MPI_Aint got = 0;
    int disp = 0;
    void* base = nullptr;
    ok = MPI_Win_shared_query(w.win_, 0, &got, &disp, &base) == MPI_SUCCESS && base != nullptr &&
         static_cast<std::size_t>(got) >= mapped;
    if (ok) {
      w.locked_ = MPI_Win_lock_all(MPI_MODE_NOCHECK, w.win_) == MPI_SUCCESS;
      ok = w.locked_;
    }
    if (!everywhere(all, ok)) return Error::unsupported;  // every rank frees its window
    // A checker's poison belongs to this process's addresses, not to the memory:
    // whatever an earlier user of these addresses left poisoned is open again.
    detail::unpoison_meta(base, mapped);
    // The same offset in every mapping: mappings differ by whole pages.
    const std::uintptr_t a = reinterpret_cast<std::uintptr_t>(base);
    w.block_ = Block{static_cast<std::byte*>(base) + (64 - a % 64) % 64, bytes};
    return w;
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
