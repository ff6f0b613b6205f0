// NodePack (integrations/mpi/node_pack.hpp) under mpiexec with 2 and 4 ranks: a
// shared Buf built by one rank, read and grown by all; a shared structure freed by
// other ranks than the one that built it; a storm of allocations from every rank,
// each freed by another rank, with an ownership check at the end; errors; the leak
// report.
#include <gtest/gtest.h>
#include <mpi.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "swim/mem.hpp"
#include "swim/mem/integrations/mpi.hpp"
#include "mpi/mpi_main.hpp"

namespace swim::mem::mpi {
namespace {

using Numbers = Raw<Buf<std::int64_t>, relative_address>;

struct Doc {
  Raw<String<>, relative_address> title;
  Raw<Buf<Raw<String<>, relative_address>>, relative_address> lines;
};

int rank_of(const SharedWindow& w) { return w.rank(); }

bool everywhere(bool mine) {
  int v = mine ? 1 : 0, all = 0;
  MPI_Allreduce(&v, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return all == 1;
}

bool in_window(const SharedWindow& w, const void* p) {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  return a >= w.block().address() && a - w.block().address() < w.block().size;
}

TEST(NodePack, ASharedBufBuiltByOneRankIsReadAndGrownByAll) {
  Result<NodePack<Numbers>> made = NodePack<Numbers>::try_create(MPI_COMM_WORLD, 1 << 22);
  ASSERT_TRUE(made) << to_string(made.error());
  NodePack<Numbers>& np = *made;
  const int me = rank_of(np.window()), n = np.window().ranks();
  Numbers& shared = np.root();
  if (me == 0) {
    std::vector<std::int64_t> first(100);
    for (int i = 0; i < 100; ++i) first[i] = i;
    shared = Numbers::try_from(np.hold(), first.data(), first.size()).take();
  }
  ASSERT_EQ(np.sync(), Error::none);
  ASSERT_EQ(shared.size(), 100u);
  EXPECT_TRUE(in_window(np.window(), shared.data())) << "this rank's address of it";
  for (int i = 0; i < 100; ++i) EXPECT_EQ(shared.data()[i], i);
  // Each rank in its turn grows it (the Buf moves to new objects of the shared Pack).
  for (int turn = 0; turn < n; ++turn) {
    ASSERT_EQ(np.sync(), Error::none);
    if (turn == me) {
      for (int i = 0; i < 1000; ++i) ASSERT_EQ(shared.try_push(1000000 * (me + 1) + i), Error::none);
    }
  }
  ASSERT_EQ(np.sync(), Error::none);
  ASSERT_EQ(shared.size(), 100u + 1000u * static_cast<std::size_t>(n));
  for (int r = 0; r < n; ++r) {
    for (int i = 0; i < 1000; ++i) {
      ASSERT_EQ(shared.data()[100 + 1000 * r + i], 1000000 * (r + 1) + i) << r << " " << i;
    }
  }
  ASSERT_EQ(np.sync(), Error::none);
  if (me == n - 1) shared.reset();  // freed by the last rank, built by the first
  ASSERT_EQ(np.sync(), Error::none);
  EXPECT_EQ(np.stats().live, 0u);
  EXPECT_EQ(np.try_destroy(), Error::none);
  EXPECT_TRUE(everywhere(!::testing::Test::HasFailure()));
}

TEST(NodePack, AStructureOfStringsIsBuiltByOneRankAndTakenApartByOthers) {
  NodePack<Doc> np = NodePack<Doc>::try_create(MPI_COMM_WORLD, 1 << 20).take();
  const int me = rank_of(np.window()), n = np.window().ranks();
  Doc& d = np.root();
  if (me == 0) {
    d.title = Raw<String<>, relative_address>::try_from(np.hold(), "shared").take();
    d.lines = decltype(d.lines)::try_empty(np.hold()).take();
    for (int i = 0; i < 40; ++i) {
      const std::string s = "line " + std::to_string(i);
      ASSERT_EQ(d.lines.try_push(Raw<String<>, relative_address>::try_from(np.hold(), s.c_str()).take()),
                Error::none);
    }
  }
  ASSERT_EQ(np.sync(), Error::none);
  ASSERT_EQ(d.lines.size(), 40u);
  EXPECT_EQ(std::string(d.title.view().ptr, d.title.view().len), "shared");
  EXPECT_EQ(std::string(d.lines.data()[39].view().ptr, d.lines.data()[39].view().len), "line 39");
  ASSERT_EQ(np.sync(), Error::none);
  // Each rank frees the lines i with i % n == rank (built by rank 0).
  for (std::size_t i = 0; i < 40; ++i) {
    if (static_cast<int>(i % static_cast<std::size_t>(n)) == me) d.lines.data()[i].reset();
  }
  ASSERT_EQ(np.sync(), Error::none);
  for (std::size_t i = 0; i < 40; ++i) EXPECT_FALSE(d.lines.data()[i]) << i;
  const Stats s = np.stats();
  EXPECT_EQ(s.live, 2u) << "the title and the Buf of lines";
  ASSERT_EQ(np.sync(), Error::none);
  EXPECT_EQ(np.try_destroy(), Error::none);  // destroys the Root: title and lines
  EXPECT_TRUE(everywhere(!::testing::Test::HasFailure()));
}

// Every rank (two threads each) allocates objects at once and records their offsets;
// then every object is freed by the next rank; each exactly once (a second free is a
// double free), and the Pack is empty at the end.
TEST(NodePack, EveryRankAllocatesAtOnceAndTheNextRankFrees) {
  struct Slots {
    std::uint64_t offset[4][2][512];
  };
  NodePack<Slots> np = NodePack<Slots>::try_create(MPI_COMM_WORLD, 8 << 20).take();
  const int me = rank_of(np.window()), n = np.window().ranks();
  ASSERT_LE(n, 4);
  Slots& slots = np.root();
  auto* base = static_cast<std::byte*>(np.window().block().ptr);  // offsets from here
  std::atomic<int> bad{0};
  auto fill = [&](int t) {
    for (int i = 0; i < 512; ++i) {
      const Result<Block> b = np.hold().try_allocate(Layout{16 + 8 * static_cast<std::size_t>(i % 7), 8});
      if (!b) {
        bad.fetch_add(1);
        slots.offset[me][t][i] = ~std::uint64_t(0);
        continue;
      }
      *static_cast<std::uint64_t*>(b->ptr) = static_cast<std::uint64_t>(me * 10000 + t * 1000 + i);
      slots.offset[me][t][i] = static_cast<std::uint64_t>(static_cast<std::byte*>(b->ptr) - base);
    }
  };
  std::thread other(fill, 1);
  fill(0);
  other.join();
  ASSERT_EQ(bad.load(), 0);
  ASSERT_EQ(np.sync(), Error::none);
  EXPECT_EQ(np.stats().live, static_cast<std::size_t>(n) * 1024);
  ASSERT_EQ(np.sync(), Error::none);  // every rank has read the counts before any frees
  const int from = (me + n - 1) % n;
  auto drain = [&](int t) {
    for (int i = 0; i < 512; ++i) {
      void* p = base + slots.offset[from][t][i];
      if (*static_cast<std::uint64_t*>(p) != static_cast<std::uint64_t>(from * 10000 + t * 1000 + i)) {
        bad.fetch_add(1);
      }
      if (hold_deallocate(Block{p, 16 + 8 * static_cast<std::size_t>(i % 7)}) != Error::none) {
        bad.fetch_add(1);
      }
    }
  };
  std::thread other2(drain, 1);
  drain(0);
  other2.join();
  EXPECT_EQ(bad.load(), 0);
  ASSERT_EQ(np.sync(), Error::none);
  EXPECT_EQ(np.stats().live, 0u);
  EXPECT_EQ(np.stats().bytes_in_use, 0u);
  // A second free of any of them is refused, through the tag or the Pack.
  void* again = base + slots.offset[from][0][0];
  EXPECT_EQ(np.hold().try_deallocate(Block{again, 16}), Error::double_free);
  ASSERT_EQ(np.sync(), Error::none);
  EXPECT_EQ(np.try_destroy(), Error::none);
  EXPECT_TRUE(everywhere(!::testing::Test::HasFailure()));
}

LeakReport g_last{};
int g_reports = 0;
void record(const LeakReport& r) {
  ++g_reports;
  g_last = r;
}

TEST(NodePack, ErrorsAndTheLeakReport) {
  const int world = [] {
    int r = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
  }();
  // Different sizes, too small, different Root types: refused everywhere.
  EXPECT_EQ(NodePack<Numbers>::try_create(MPI_COMM_WORLD, world == 0 ? 1 << 20 : 1 << 21).error(),
            Error::invalid_argument);
  EXPECT_EQ(NodePack<Numbers>::try_create(MPI_COMM_WORLD, 100).error(), Error::invalid_argument);
  struct Other {
    std::int64_t a, b;
  };
  if (world == 0) {
    EXPECT_EQ(NodePack<Other>::try_create(MPI_COMM_WORLD, 1 << 20).error(), Error::invalid_argument);
  } else {
    EXPECT_EQ(NodePack<Numbers>::try_create(MPI_COMM_WORLD, 1 << 20).error(), Error::invalid_argument);
  }
  EXPECT_EQ(NodePack<Numbers>::try_create(MPI_COMM_NULL, 1 << 20).error(), Error::invalid_argument);
  MPI_Barrier(MPI_COMM_WORLD);
  // A rank that keeps an object: reported once, on node rank 0.
  NodePack<Numbers> np = NodePack<Numbers>::try_create(MPI_COMM_WORLD, 1 << 20).take();
  const leak_handler previous = set_leak_handler(&record);
  g_reports = 0;
  if (np.window().rank() == np.window().ranks() - 1) {
    EXPECT_TRUE(np.hold().try_allocate(Layout{64, 8}));
  }
  EXPECT_EQ(np.try_destroy(), Error::none);
  set_leak_handler(previous);
  if (np.window().rank() == 0 || world == 0) {
    EXPECT_EQ(g_reports, world == 0 ? 1 : 0);
  }
  if (g_reports == 1) {
    EXPECT_STREQ(g_last.allocator, "mpi::NodePack");
  }
  EXPECT_FALSE(np);
  EXPECT_EQ(np.try_destroy(), Error::none) << "nothing left to do";
  EXPECT_TRUE(everywhere(!::testing::Test::HasFailure()));
}

}  // namespace
}  // namespace swim::mem::mpi

namespace {
int check_without_mpi(const char* when) {
  const auto r =
      swim::mem::mpi::NodePack<swim::mem::mpi::Numbers>::try_create(MPI_COMM_WORLD, 1 << 20);
  const bool ok = !r && r.error() == swim::mem::Error::unsupported;
  std::printf("%s: NodePack %s\n", when, ok ? "answers unsupported" : "did NOT answer unsupported");
  return ok ? 0 : 1;
}
}  // namespace

int main(int argc, char** argv) {
  // A NodePack alive when MPI ends: destroyed afterwards, it calls no MPI function.
  return swim::mem::testing::mpi_test_main(argc, argv, check_without_mpi, [] {
    return [late = swim::mem::mpi::NodePack<swim::mem::mpi::Numbers>::try_create(
                MPI_COMM_WORLD, 1 << 20)]() mutable {
      return late && late->try_destroy() == swim::mem::Error::unsupported && !*late;
    };
  });
}
