// NodeSlab and SharedWindow (integrations/mpi.hpp) under mpiexec: every rank runs
// the same tests in the same order (their collective calls match), and the
// program fails when a test failed on any rank. Registered with 2 and 4 ranks
// (tests/mpi/CMakeLists.txt); `--no-init` runs the checks of a process that never
// initialised MPI.
#include <gtest/gtest.h>
#include <mpi.h>

#include <atomic>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <new>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "swim/mem.hpp"
#include "swim/mem/integrations/mpi.hpp"
#include "mpi/mpi_main.hpp"

namespace swim::mem::mpi {
namespace {

int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

// Whether `ok` holds on every rank of `comm`.
bool everywhere(bool ok, MPI_Comm comm = MPI_COMM_WORLD) {
  int mine = ok ? 1 : 0, all = 0;
  MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, comm);
  return all == 1;
}

std::atomic<int> g_leaks{0};
std::atomic<std::size_t> g_leaked_live{0};
void count_leak(const LeakReport& r) {
  if (std::strcmp(r.allocator, "mpi::NodeSlab") == 0) {
    ++g_leaks;
    g_leaked_live = r.stats.live;
  }
}

// A ring of hand-off slots in a window of their own, one per lane (a thread of a
// rank): a lane puts a unit's offset in the next lane's slot and frees what it
// finds there. drain() frees what is left (rank 0, after a sync).
struct Ring {
  static constexpr std::uint64_t empty = ~std::uint64_t(0);
  Result<SharedWindow> window;
  std::atomic<std::uint64_t>* slots = nullptr;
  int lanes = 0;

  explicit Ring(int lanes_) : window(SharedWindow::try_create(MPI_COMM_WORLD, 8 * std::size_t(lanes_))), lanes(lanes_) {
    if (!everywhere(window.ok())) return;
    slots = static_cast<std::atomic<std::uint64_t>*>(window->block().ptr);
    if (window->rank() == 0) {
      for (int i = 0; i < lanes; ++i) new (&slots[i]) std::atomic<std::uint64_t>(empty);
    }
    (void)window->sync();
  }
  bool ok() const { return slots != nullptr; }
  // Publish `offset` to the lane after `lane`; what was there before (or empty).
  std::uint64_t pass(int lane, std::uint64_t offset) {
    return slots[(lane + 1) % lanes].exchange(offset);
  }
  template <class S>
  void drain(S& s) {
    ASSERT_EQ(window->sync(), Error::none);
    if (window->rank() != 0) return;
    for (int i = 0; i < lanes; ++i) {
      const std::uint64_t got = slots[i].exchange(empty);
      if (got != empty) {
        EXPECT_EQ(s.try_deallocate(s.block_at(got)), Error::none);
      }
    }
  }
};

TEST(SharedWindow, EveryRankMapsTheSameBytes) {
  Result<SharedWindow> w = SharedWindow::try_create(MPI_COMM_WORLD, 4096);
  ASSERT_TRUE(everywhere(w.ok())) << (w ? "" : to_string(w.error()));
  const int r = w->rank();
  auto* words = static_cast<std::atomic<std::uint64_t>*>(w->block().ptr);
  if (r == 0) {
    for (int i = 0; i < 64; ++i) new (&words[i]) std::atomic<std::uint64_t>(0);
  }
  ASSERT_EQ(w->sync(), Error::none);
  words[r].store(0x100 + r);
  words[63].fetch_add(1);
  ASSERT_EQ(w->sync(), Error::none);
  for (int i = 0; i < w->ranks(); ++i) EXPECT_EQ(words[i].load(), 0x100u + i);
  EXPECT_EQ(words[63].load(), static_cast<std::uint64_t>(w->ranks()));
  EXPECT_EQ(w->try_free(), Error::none);
  EXPECT_FALSE(static_cast<bool>(*w));
  EXPECT_EQ(w->try_free(), Error::none) << "a second free does nothing";
}

// block() starts 64-byte aligned whatever MPI's segment does (Open MPI 4.1's does
// not), at the same offset in every mapping, and all of its bytes are usable.
TEST(SharedWindow, TheBlockStartsOnACacheLineOnEveryRank) {
  for (const std::size_t bytes : {std::size_t(1), std::size_t(63), std::size_t(4096),
                                  std::size_t(65537)}) {
    Result<SharedWindow> w = SharedWindow::try_create(MPI_COMM_WORLD, bytes);
    ASSERT_TRUE(everywhere(w.ok())) << bytes;
    EXPECT_EQ(w->block().address() % 64, 0u) << bytes;
    EXPECT_EQ(w->block().size, bytes);
    auto* last = static_cast<std::atomic<std::uint8_t>*>(w->block().ptr) + (bytes - 1);
    if (w->rank() == 0) new (last) std::atomic<std::uint8_t>(0);
    ASSERT_EQ(w->sync(), Error::none);
    last->fetch_add(1);
    ASSERT_EQ(w->sync(), Error::none);
    EXPECT_EQ(last->load(), static_cast<std::uint8_t>(w->ranks())) << "one last byte for all";
    ASSERT_EQ(w->sync(), Error::none);
    EXPECT_EQ(w->try_free(), Error::none);
  }
}

TEST(SharedWindow, BadRequestsAreErrorsOnEveryRank) {
  EXPECT_EQ(SharedWindow::try_create(MPI_COMM_NULL, 64).error(), Error::invalid_argument);
  EXPECT_EQ(SharedWindow::try_create(MPI_COMM_WORLD, 0).error(), Error::invalid_argument);
  // Mismatched collective call: the ranks ask for different sizes.
  const std::size_t odd = 4096 + 64 * std::size_t(world_rank() % 2);
  int ranks = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  Result<SharedWindow> mixed = SharedWindow::try_create(MPI_COMM_WORLD, odd);
  if (ranks > 1) {
    EXPECT_EQ(mixed.error(), Error::invalid_argument);
  }
  // More than the node holds: refused before MPI is asked (no rank left waiting).
  EXPECT_EQ(SharedWindow::try_create(MPI_COMM_WORLD, std::size_t(1) << 50).error(),
            Error::out_of_memory);
  // A backing directory asked for that cannot be written: refused the same way
  // (Open MPI's allocation would fail on node rank 0 alone, the others waiting).
  setenv("OMPI_MCA_osc_sm_backing_directory", "/nonexistent/swim-mem", 1);
  EXPECT_EQ(SharedWindow::try_create(MPI_COMM_WORLD, 4096).error(), Error::out_of_memory);
  unsetenv("OMPI_MCA_osc_sm_backing_directory");
  // An intercommunicator (two halves of the world): its ranks share no node.
  if (ranks > 1) {
    MPI_Comm half = MPI_COMM_NULL, inter = MPI_COMM_NULL;
    const int color = world_rank() % 2;
    MPI_Comm_split(MPI_COMM_WORLD, color, world_rank(), &half);
    MPI_Intercomm_create(half, 0, MPI_COMM_WORLD, color == 0 ? 1 : 0, 7, &inter);
    EXPECT_EQ(SharedWindow::try_create(inter, 4096).error(), Error::invalid_argument);
    EXPECT_EQ(NodeSlab<true>::try_create(inter, 64, 10).error(), Error::invalid_argument);
    MPI_Comm_free(&inter);
    MPI_Comm_free(&half);
  }
  // A communicator of some ranks only: those ranks share a window, the others
  // (MPI_COMM_NULL) are told invalid_argument.
  {
    MPI_Comm some = MPI_COMM_NULL;
    MPI_Comm_split(MPI_COMM_WORLD, world_rank() < 2 ? 0 : MPI_UNDEFINED, world_rank(), &some);
    Result<SharedWindow> part = SharedWindow::try_create(some, 4096);
    if (some == MPI_COMM_NULL) {
      EXPECT_EQ(part.error(), Error::invalid_argument);
    } else {
      EXPECT_TRUE(part.ok());
      EXPECT_EQ(part->ranks(), ranks < 2 ? 1 : 2);
      EXPECT_EQ(part->try_free(), Error::none);
      MPI_Comm_free(&some);
    }
  }
  // And afterwards the node still works.
  Result<SharedWindow> w = SharedWindow::try_create(MPI_COMM_WORLD, 4096);
  EXPECT_TRUE(everywhere(w.ok()));
}

TEST(NodeSlab, OneSlabSeenFromEveryRank) {
  auto made = NodeSlab<true>::try_create(MPI_COMM_WORLD, 64, 1000);
  ASSERT_TRUE(everywhere(made.ok()));
  NodeSlab<true>& s = *made;
  EXPECT_GE(s.block_count(), 1000u);
  EXPECT_EQ(s.unit(), 64u);
  // Each rank takes one unit and writes its rank in it; the offsets go round.
  const Result<Block> b = s.try_allocate(Layout{64, 8});
  ASSERT_TRUE(everywhere(b.ok()));
  std::memset(b->ptr, 0x40 + s.window().rank(), 64);
  ASSERT_EQ(s.window().fence(), Error::none);  // written before the offset is sent
  const std::uint64_t mine = s.offset_of(b->ptr);
  std::vector<std::uint64_t> all(static_cast<std::size_t>(s.window().ranks()));
  MPI_Allgather(&mine, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, s.window().node());
  ASSERT_EQ(s.window().sync(), Error::none);
  EXPECT_EQ(s.stats().live, all.size());
  EXPECT_EQ(std::set<std::uint64_t>(all.begin(), all.end()).size(), all.size())
      << "every rank got a unit of its own";
  ASSERT_EQ(s.window().sync(), Error::none);  // everyone has counted before anyone frees
  // The next rank frees mine, after reading what I wrote, at its own address.
  const std::size_t from = (static_cast<std::size_t>(s.window().rank()) + all.size() - 1) % all.size();
  const Block theirs = s.block_at(all[from]);
  const auto* bytes = static_cast<const unsigned char*>(theirs.ptr);
  for (int k = 0; k < 64; ++k) EXPECT_EQ(bytes[k], 0x40u + from);
  EXPECT_EQ(s.try_deallocate(theirs), Error::none);
  ASSERT_EQ(s.window().sync(), Error::none);
  EXPECT_EQ(s.stats().live, 0u);
  // Freed again by another rank: a double free, reported, nothing changed.
  EXPECT_EQ(s.try_deallocate(s.block_at(all[(from + 1) % all.size()])), Error::double_free);
  int local = 0;
  EXPECT_EQ(s.try_deallocate(Block{&local, 64}), Error::foreign_pointer);
  EXPECT_EQ(s.offset_of(&local), ~std::size_t(0));
  EXPECT_EQ(s.address_at(std::size_t(1) << 40), nullptr);
  ASSERT_EQ(s.window().sync(), Error::none);
  EXPECT_EQ(s.stats().live, 0u);
  EXPECT_EQ(s.try_destroy(), Error::none);
  EXPECT_FALSE(static_cast<bool>(s));
}

// Every rank allocates and frees at once, handing units to the next rank through
// a ring of slots in a second window; at the end every unit is free exactly once.
template <bool Checked>
void storm(int threads_per_rank) {
  auto made = NodeSlab<Checked>::try_create(MPI_COMM_WORLD, 128, 4096);
  ASSERT_TRUE(everywhere(made.ok()));
  NodeSlab<Checked>& s = *made;
  const int ranks = s.window().ranks();
  const int lanes = ranks * threads_per_rank;
  Ring ring(lanes);
  ASSERT_TRUE(ring.ok());
  std::atomic<int> errors{0};
  auto lane_work = [&](int lane) {
    for (int i = 0; i < 3000; ++i) {
      const Result<Block> r = s.try_allocate(Layout{128, 8});
      if (!r) {
        if (r.error() != Error::out_of_memory && r.error() != Error::contended) ++errors;
        continue;
      }
      auto* w = static_cast<std::uint64_t*>(r->ptr);
      const std::uint64_t stamp = (std::uint64_t(lane) << 32) | std::uint64_t(i);
      for (int k = 0; k < 16; ++k) w[k] = stamp;
      const std::uint64_t got = ring.pass(lane, s.offset_of(r->ptr));
      if (got != Ring::empty) {
        const auto* q = static_cast<const std::uint64_t*>(s.address_at(got));
        for (int k = 1; k < 16; ++k) errors += q[k] != q[0];
        Error e = Error::contended;
        while (e == Error::contended) e = s.try_deallocate(s.block_at(got));
        errors += e != Error::none;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads_per_rank; ++t) {
    pool.emplace_back(lane_work, s.window().rank() * threads_per_rank + t);
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(errors.load(), 0);
  ring.drain(s);
  ASSERT_EQ(s.window().sync(), Error::none);
  // Ownership: nothing live, and rank 0 gets every unit back exactly once.
  EXPECT_EQ(s.stats().live, 0u);
  ASSERT_EQ(s.window().sync(), Error::none);  // everyone has looked before rank 0 takes all
  if (s.window().rank() == 0) {
    std::set<void*> units;
    for (std::size_t i = 0; i < s.block_count(); ++i) {
      const Result<Block> r = s.try_allocate(Layout{128, 8});
      ASSERT_TRUE(r.ok()) << "unit " << i << " lost";
      EXPECT_TRUE(units.insert(r->ptr).second);
    }
    EXPECT_EQ(s.try_allocate(Layout{128, 8}).error(), Error::out_of_memory);
    for (void* p : units) EXPECT_EQ(s.try_deallocate(Block{p, 128}), Error::none);
    if constexpr (Checked) {
      std::size_t free_bytes = 0;
      s.walk([&](const Region& g) { free_bytes += g.kind == RegionKind::free ? g.size : 0; });
      EXPECT_EQ(free_bytes, s.block_count() * 128);
    }
  }
  EXPECT_EQ(s.try_destroy(), Error::none);
}

// Each thread of each rank through a SlabCache over the one Slab; units are freed
// into the caches of other ranks, and the caches go back to the Slab at the end.
TEST(NodeSlab, CachesOverTheNodeSlabFromEveryRank) {
  auto made = NodeSlab<true>::try_create(MPI_COMM_WORLD, 64, 8192);
  ASSERT_TRUE(everywhere(made.ok()));
  NodeSlab<true>& s = *made;
  Ring ring(s.window().ranks());
  ASSERT_TRUE(ring.ok());
  int errors = 0;
  {
    SlabCache<NodeSlab<true>::slab_type, 32> cache(s.slab());
    for (int i = 0; i < 20000; ++i) {
      const Result<Block> r = cache.try_allocate(Layout{64, 8});
      if (!r) {
        errors += r.error() != Error::out_of_memory && r.error() != Error::contended;
        continue;
      }
      const std::uint64_t got = ring.pass(s.window().rank(), s.offset_of(r->ptr));
      if (got != Ring::empty) errors += cache.try_deallocate(s.block_at(got)) != Error::none;
    }
  }  // the cache gives its units back
  EXPECT_EQ(errors, 0);
  ring.drain(s);
  ASSERT_EQ(s.window().sync(), Error::none);
  EXPECT_EQ(s.stats().live, 0u);
  std::size_t free_bytes = 0;
  s.walk([&](const Region& g) { free_bytes += g.kind == RegionKind::free ? g.size : 0; });
  EXPECT_EQ(free_bytes, s.block_count() * 64) << "every unit back on the Slab";
  ASSERT_EQ(s.window().sync(), Error::none);
  EXPECT_EQ(s.try_destroy(), Error::none);
}

TEST(NodeSlab, CrossRankStormChecked) { storm<true>(1); }
TEST(NodeSlab, CrossRankStormUncheckedTwoThreadsPerRank) { storm<false>(2); }

TEST(NodeSlab, BadArgumentsAndMismatchedCallsAreErrorsOnEveryRank) {
  EXPECT_EQ(NodeSlab<true>::try_create(MPI_COMM_WORLD, 6, 100).error(), Error::invalid_argument);
  EXPECT_EQ(NodeSlab<true>::try_create(MPI_COMM_WORLD, 64, 0).error(), Error::invalid_argument);
  EXPECT_EQ(NodeSlab<true>::try_create(MPI_COMM_NULL, 64, 10).error(), Error::invalid_argument);
  int ranks = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  if (ranks > 1) {
    // Different units on different ranks, and different counts.
    const std::size_t unit = world_rank() == 0 ? 64 : 128;
    EXPECT_EQ(NodeSlab<true>::try_create(MPI_COMM_WORLD, unit, 100).error(),
              Error::invalid_argument);
    const std::size_t count = world_rank() == 0 ? 100 : 101;
    EXPECT_EQ(NodeSlab<false>::try_create(MPI_COMM_WORLD, 64, count).error(),
              Error::invalid_argument);
  }
  // More units than a Slab can number, and far more than the node's shared memory.
  EXPECT_EQ(NodeSlab<true>::try_create(MPI_COMM_WORLD, 64, std::size_t(1) << 34).error(),
            Error::invalid_argument);
  EXPECT_EQ(NodeSlab<true>::try_create(MPI_COMM_WORLD, std::size_t(1) << 20, std::size_t(1) << 26).error(),
            Error::out_of_memory);
  // Many small units of a checked NodeSlab: its bitmap is sized with its hunk, so
  // every unit asked for is there.
  {
    auto many = NodeSlab<true>::try_create(MPI_COMM_WORLD, 4, 1100000);
    ASSERT_TRUE(everywhere(many.ok())) << (many ? "" : to_string(many.error()));
    EXPECT_GE(many->block_count(), 1100000u);
    EXPECT_EQ(many->try_destroy(), Error::none);
  }
  // A full NodeSlab answers out_of_memory and recovers.
  auto made = NodeSlab<true>::try_create(MPI_COMM_WORLD, 64, 8);
  ASSERT_TRUE(everywhere(made.ok()));
  std::vector<Block> held;
  if (made->window().rank() == 0) {
    for (Result<Block> r = made->try_allocate(Layout{64, 8}); r; r = made->try_allocate(Layout{64, 8})) {
      held.push_back(*r);
    }
    EXPECT_GE(held.size(), 8u);
  }
  ASSERT_EQ(made->window().sync(), Error::none);
  EXPECT_EQ(made->try_allocate(Layout{64, 8}).error(), Error::out_of_memory);
  EXPECT_EQ(made->try_allocate(Layout{65, 8}).error(), Error::oversized);
  ASSERT_EQ(made->window().sync(), Error::none);
  for (const Block& b : held) EXPECT_EQ(made->try_deallocate(b), Error::none);
  ASSERT_EQ(made->window().sync(), Error::none);
  EXPECT_TRUE(made->try_allocate(Layout{64, 8}).ok()) << "recovered";
  ASSERT_EQ(made->window().sync(), Error::none);
  // Each rank leaves one unit live: one leak report, on node rank 0, naming all.
  const int node_rank = made->window().rank();
  auto* previous = set_leak_handler(&count_leak);
  g_leaks = 0;
  EXPECT_EQ(made->try_destroy(), Error::none);
  set_leak_handler(previous);
  EXPECT_EQ(g_leaks.load(), node_rank == 0 ? 1 : 0);
  if (node_rank == 0) {
    EXPECT_EQ(g_leaked_live.load(), static_cast<std::size_t>(ranks));
  }
}

}  // namespace
}  // namespace swim::mem::mpi

// Without MPI_Init (and after MPI_Finalize): Error::unsupported, nothing else.
static int check_without_mpi(const char* when) {
  auto w = swim::mem::mpi::SharedWindow::try_create(MPI_COMM_WORLD, 4096);
  auto s = swim::mem::mpi::NodeSlab<>::try_create(MPI_COMM_WORLD, 64, 10);
  const bool ok = !w && w.error() == swim::mem::Error::unsupported && !s &&
                  s.error() == swim::mem::Error::unsupported;
  std::printf("%s: SharedWindow and NodeSlab %s\n", when,
              ok ? "answer unsupported, as they should" : "did NOT answer unsupported");
  return ok ? 0 : 1;
}

int main(int argc, char** argv) {
  // A NodeSlab and a SharedWindow still alive when MPI ends: their destroy (and
  // destructor) afterwards answers unsupported and calls no MPI function (MPI would
  // abort the job).
  return swim::mem::testing::mpi_test_main(argc, argv, check_without_mpi, [] {
    return [late = swim::mem::mpi::NodeSlab<>::try_create(MPI_COMM_WORLD, 64, 10),
            late_window = swim::mem::mpi::SharedWindow::try_create(MPI_COMM_WORLD, 64)]() mutable {
      return late && late_window && late_window->sync() == swim::mem::Error::unsupported &&
             late_window->fence() == swim::mem::Error::unsupported &&
             late->try_destroy() == swim::mem::Error::unsupported && !*late;
    };
  });
}
