// NodeSizeClasses (integrations/mpi/node_size_classes.hpp) under mpiexec with 2 and 4
// ranks: a storm of objects of every size (class objects and large ones) from every
// rank, two threads each, freed by the next rank, with an ownership check, double and
// foreign frees, and a trim that gives every unit back; the same with a hold per rank;
// a Buf grown by every rank in turn past the classes (a large object, moved from unit
// to unit) beside Strings of every length, and Hards of it kept by every rank; the
// errors and the leak report; use before MPI_Init and after MPI_Finalize.
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
using Text = Raw<String<>, relative_address>;

// ThreadSanitizer sees one process. Two threads of a rank may be ordered only through
// another rank's atomics: a unit this rank's main thread wrote and gave back to the
// window's Slab (a large object freed) is taken by another rank as a hunk and installed
// as a class's current hunk, where this rank's second thread finds it. TSan cannot see
// that chain and reports the second thread's first touch of the hunk as a race with
// the first thread's earlier writes. Under TSan each rank therefore runs the storm on
// one thread; tests/test_relative_size_classes.cpp covers threads on one hold there.
#if defined(__SANITIZE_THREAD__)
constexpr bool under_tsan = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool under_tsan = true;
#else
constexpr bool under_tsan = false;
#endif
#else
constexpr bool under_tsan = false;
#endif

// run(0) and run(1): on two threads of this rank, or one after the other under TSan.
template <class F>
void on_two_threads(const F& run) {
  if (under_tsan) {
    run(0);
    run(1);
  } else {
    std::thread other(run, 1);
    run(0);
    other.join();
  }
}

bool everywhere(bool mine) {
  int v = mine ? 1 : 0, all = 0;
  MPI_Allreduce(&v, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return all == 1;
}

bool in_window(const SharedWindow& w, const void* p) {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  return a >= w.block().address() && a - w.block().address() < w.block().size;
}

template <class Root>
NodeSizeClasses<Root> make(std::size_t bytes, bool per_rank = false) {
  typename NodeSizeClasses<Root>::options_type o;
  o.per_rank = per_rank;
  Result<NodeSizeClasses<Root>> made = NodeSizeClasses<Root>::try_create(MPI_COMM_WORLD, bytes, o);
  EXPECT_TRUE(made) << to_string(made.error());
  return made ? made.take() : NodeSizeClasses<Root>();
}

// Every rank (two threads each) allocates 400 objects of sizes from 1 byte to 150 KB
// and records their offsets; then every object is freed by the next rank, each
// exactly once; the hold is empty at the end, and a trim gives every unit back.
struct Slots {
  std::uint64_t offset[4][2][400];
};
std::size_t size_of(int i) {
  return i % 40 == 0 ? 40000 + 3000 * static_cast<std::size_t>(i % 37) : 1 + static_cast<std::size_t>((i * 97) % 5000);
}
void storm_freed_by_the_next_rank(bool per_rank) {
  NodeSizeClasses<Slots> np = make<Slots>(64 << 20, per_rank);
  ASSERT_TRUE(everywhere(static_cast<bool>(np)));
  const int me = np.window().rank(), n = np.window().ranks();
  ASSERT_LE(n, 4);
  Slots& slots = np.root();
  auto* base = static_cast<std::byte*>(np.window().block().ptr);  // offsets from here
  std::atomic<int> bad{0};
  auto fill = [&](int t) {
    for (int i = 0; i < 400; ++i) {
      const Result<Block> b = np.hold().try_allocate(Layout{size_of(i), 8});
      if (!b) {
        bad.fetch_add(1);
        slots.offset[me][t][i] = ~std::uint64_t(0);
        continue;
      }
      auto* w = static_cast<std::uint64_t*>(b->ptr);
      const auto mark = static_cast<std::uint64_t>(me * 10000 + t * 1000 + i);
      w[0] = mark;
      if (size_of(i) >= 16) w[size_of(i) / 8 - 1] = mark;
      slots.offset[me][t][i] = static_cast<std::uint64_t>(static_cast<std::byte*>(b->ptr) - base);
    }
  };
  on_two_threads(fill);
  EXPECT_EQ(bad.load(), 0);
  ASSERT_EQ(np.sync(), Error::none);
  EXPECT_EQ(np.stats().live, static_cast<std::size_t>(n) * 800);
  ASSERT_EQ(np.sync(), Error::none);  // every rank has read the counts before any frees
  const int from = (me + n - 1) % n;
  auto drain = [&](int t) {
    for (int i = 0; i < 400; ++i) {
      if (slots.offset[from][t][i] == ~std::uint64_t(0)) continue;
      void* p = base + slots.offset[from][t][i];
      const auto* w = static_cast<const std::uint64_t*>(p);
      const auto want = static_cast<std::uint64_t>(from * 10000 + t * 1000 + i);
      if (w[0] != want || (size_of(i) >= 16 && w[size_of(i) / 8 - 1] != want)) bad.fetch_add(1);
      const Block b{p, size_of(i)};
      // Half through the hold's checked free (this rank's own hold, per rank: another
      // rank's object is foreign there), half through the tag.
      if (per_rank && n > 1 && i % 2 == 0) {
        if (np.get()->try_deallocate(b) != Error::foreign_pointer) bad.fetch_add(1);
        if (hold_deallocate(b) != Error::none) bad.fetch_add(1);
      } else if ((i % 2 == 0 ? np.get()->try_deallocate(b) : hold_deallocate(b)) != Error::none) {
        bad.fetch_add(1);
      }
    }
  };
  on_two_threads(drain);
  EXPECT_EQ(bad.load(), 0);
  ASSERT_EQ(np.sync(), Error::none);
  EXPECT_EQ(np.stats().live, 0u);
  EXPECT_EQ(np.stats().bytes_in_use, 0u);
  void* again = base + slots.offset[from][0][1];  // a class object
  EXPECT_EQ(hold_deallocate(Block{again, size_of(1)}), Error::double_free);
  if (!per_rank) {
    EXPECT_EQ(np.get()->try_deallocate(Block{again, size_of(1)}), Error::double_free);
  }
  EXPECT_EQ(np.get()->try_deallocate(Block{base + 8, 8}), Error::foreign_pointer);
  EXPECT_EQ(np.hold_count(), per_rank ? static_cast<unsigned>(n) : 1u);
  ASSERT_EQ(np.sync(), Error::none);  // every rank has looked before the trim
  ASSERT_EQ(np.try_trim(), Error::none);
  EXPECT_EQ(np.get()->hunk_count(), 0u) << "every hunk back in the Slab";
  EXPECT_EQ(np.get()->kept_large_bytes(), 0u) << "and every kept large unit";
  // The hold has no room of its own now; the window's units are the Slab's (docs/mpi.md).
  EXPECT_EQ(np.stats().bytes_free, 0u);
  const Stats units = np.get()->upstream().stats();
  EXPECT_EQ(units.live, 0u);
  EXPECT_GE(units.bytes_free, std::size_t(4) * (256 << 10)) << "the window's units, all free";
  ASSERT_EQ(np.sync(), Error::none);  // every rank has looked before any allocates
  // And the units serve again, for any size.
  const Result<Block> big = np.hold().try_allocate(Layout{200000, 64});
  EXPECT_TRUE(big) << to_string(big.error());
  if (big) {
    EXPECT_EQ(hold_deallocate(*big), Error::none);
  }
  ASSERT_EQ(np.sync(), Error::none);
  EXPECT_EQ(np.try_destroy(), Error::none);
  EXPECT_TRUE(everywhere(!::testing::Test::HasFailure()));
}
TEST(NodeSizeClasses, EveryRankAllocatesEverySizeAndTheNextRankFrees) {
  storm_freed_by_the_next_rank(false);
}
TEST(NodeSizeClasses, PerRankEveryRankAllocatesEverySizeAndTheNextRankFrees) {
  storm_freed_by_the_next_rank(true);
}

// Each rank in its turn appends to a shared Buf (past 32 KiB it is a large object of
// its own unit, moved as it doubles) and adds Strings of every length beside it; every
// rank keeps a Hard of a second Buf and grows it through a Mut in its turn.
struct Notes {
  Numbers numbers;
  Raw<Buf<Text>, relative_address> notes;
  Hard<Buf<std::int64_t>, relative_address> counted;
};

TEST(NodeSizeClasses, SharedStructuresGrownByEveryRankInTurn) {
  NodeSizeClasses<Notes> np = make<Notes>(64 << 20);
  ASSERT_TRUE(everywhere(static_cast<bool>(np)));
  const int me = np.window().rank(), n = np.window().ranks();
  Notes& shared = np.root();
  if (me == 0) {
    shared.numbers = Numbers::try_empty(np.hold()).take();
    shared.notes = Raw<Buf<Text>, relative_address>::try_empty(np.hold()).take();
    shared.counted =
        Mut<Buf<std::int64_t>, relative_address>::try_empty(np.hold()).take().into_hard();
  }
  ASSERT_EQ(np.sync(), Error::none);
  Hard<Buf<std::int64_t>, relative_address> mine = shared.counted.try_clone().take();
  const int each = 3000;  // 4 ranks: 12,000 numbers, 96 KB
  for (int turn = 0; turn < n; ++turn) {
    ASSERT_EQ(np.sync(), Error::none);
    if (turn != me) continue;
    Result<Mut<Buf<std::int64_t>, relative_address>> w = mine.try_mut();
    for (int i = 0; i < each; ++i) {
      Error e = shared.numbers.try_push(1000000 * (me + 1) + i);
      if (e == Error::none && w) e = w->try_push(i);
      if (e == Error::none && i % 100 == 0) {
        Result<Text> t = Text::try_from(np.hold(), std::string(static_cast<std::size_t>(i), 'a' + me).c_str());
        e = t ? shared.notes.try_push(t.take()) : t.error();
      }
      if (e != Error::none) {
        ADD_FAILURE() << "push " << i << ": " << to_string(e);
        break;
      }
    }
  }
  ASSERT_EQ(np.sync(), Error::none);
  EXPECT_TRUE(in_window(np.window(), shared.numbers.data())) << "this rank's address of it";
  if (shared.numbers.size() == static_cast<std::size_t>(each * n)) {
    int wrong = 0;
    for (int r = 0; r < n; ++r) {
      for (int i = 0; i < each; ++i) wrong += shared.numbers.data()[each * r + i] != 1000000 * (r + 1) + i;
    }
    EXPECT_EQ(wrong, 0);
  } else {
    ADD_FAILURE() << "size " << shared.numbers.size();
  }
  EXPECT_EQ(shared.notes.size(), static_cast<std::size_t>(30 * n));
  if (shared.notes.size() > 29) {
    EXPECT_EQ(shared.notes.data()[29].view().len, 2900u);
  }
  {
    Result<Ref<Buf<std::int64_t>, relative_address>> r = mine.try_ref();
    ASSERT_TRUE(r) << to_string(r.error());
    EXPECT_EQ(r->size(), static_cast<std::size_t>(each * n)) << "every rank's pushes, followed";
    EXPECT_TRUE(in_window(np.window(), r->data()));
  }
  ASSERT_EQ(np.sync(), Error::none);
  mine.reset();
  ASSERT_EQ(np.sync(), Error::none);
  if (me == n - 1) {  // freed by the last rank, built by the first
    shared.numbers.reset();
    shared.notes.reset();
    shared.counted.reset();
  }
  ASSERT_EQ(np.sync(), Error::none);
  EXPECT_EQ(np.stats().live, 0u);
  EXPECT_EQ(np.try_destroy(), Error::none);
  EXPECT_TRUE(everywhere(!::testing::Test::HasFailure()));
}

LeakReport g_last{};
int g_reports = 0;
void record(const LeakReport& r) {
  ++g_reports;
  g_last = r;
}

TEST(NodeSizeClasses, ErrorsAndTheLeakReport) {
  const int world = [] {
    int r = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
  }();
  using Options = NodeSizeClasses<Numbers>::options_type;
  // Unit sizes out of bounds, different unit sizes or per_rank, too small a window:
  // refused everywhere.
  for (const std::size_t bad : {std::size_t(0), std::size_t(64 * 1024), std::size_t(256 * 1024 + 64),
                                (std::size_t(1) << 30) + 4096}) {
    Options o;
    o.unit_bytes = bad;
    EXPECT_EQ(NodeSizeClasses<Numbers>::try_create(MPI_COMM_WORLD, 16 << 20, o).error(),
              Error::invalid_argument)
        << bad;
  }
  Options mixed;
  mixed.unit_bytes = world == 0 ? 256 * 1024 : 512 * 1024;
  EXPECT_EQ(NodeSizeClasses<Numbers>::try_create(MPI_COMM_WORLD, 16 << 20, mixed).error(),
            Error::invalid_argument);
  Options some;
  some.per_rank = world == 0;
  int world_size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  if (world_size > 1) {
    EXPECT_EQ(NodeSizeClasses<Numbers>::try_create(MPI_COMM_WORLD, 16 << 20, some).error(),
              Error::invalid_argument);
  }
  EXPECT_EQ(NodeSizeClasses<Numbers>::try_create(MPI_COMM_WORLD, 512 * 1024).error(),
            Error::invalid_argument);
  EXPECT_EQ(NodeSizeClasses<Numbers>::try_create(MPI_COMM_NULL, 16 << 20).error(),
            Error::invalid_argument);
  MPI_Barrier(MPI_COMM_WORLD);
  NodeSizeClasses<Numbers> np = make<Numbers>(16 << 20);
  ASSERT_TRUE(everywhere(static_cast<bool>(np)));
  EXPECT_EQ(np.hold().try_allocate(Layout{256 * 1024, 8}).error(), Error::oversized);
  EXPECT_EQ(np.hold().try_allocate(Layout{64, 3}).error(), Error::misaligned);
  // The window's units drawn dry (large objects): out_of_memory, and back after frees.
  ASSERT_EQ(np.sync(), Error::none);
  if (world == 0) {
    std::vector<Block> held;
    for (;;) {
      const Result<Block> b = np.hold().try_allocate(Layout{200000, 8});
      if (!b) {
        EXPECT_EQ(b.error(), Error::out_of_memory);
        break;
      }
      held.push_back(*b);
    }
    EXPECT_GT(held.size(), 10u);
    for (const Block& b : held) EXPECT_EQ(hold_deallocate(b), Error::none);
    EXPECT_TRUE(np.hold().try_allocate(Layout{200000, 8})) << "after the frees, again";
  }
  // (world 0 keeps that last object: reported below, with the others' one each)
  ASSERT_EQ(np.sync(), Error::none);
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
    EXPECT_STREQ(g_last.allocator, "mpi::NodeSizeClasses");
    EXPECT_EQ(g_last.stats.live, 2u);
  }
  EXPECT_FALSE(np);
  EXPECT_EQ(np.try_trim(), Error::invalid_argument) << "no hold";
  EXPECT_EQ(np.try_destroy(), Error::none) << "nothing left to do";
  EXPECT_TRUE(everywhere(!::testing::Test::HasFailure()));
}

}  // namespace
}  // namespace swim::mem::mpi

namespace {
int check_without_mpi(const char* when) {
  const auto r = swim::mem::mpi::NodeSizeClasses<swim::mem::mpi::Numbers>::try_create(
      MPI_COMM_WORLD, 16 << 20);
  const bool ok = !r && r.error() == swim::mem::Error::unsupported;
  std::printf("%s: NodeSizeClasses %s\n", when, ok ? "answers unsupported" : "did NOT answer unsupported");
  return ok ? 0 : 1;
}
}  // namespace

int main(int argc, char** argv) {
  // A NodeSizeClasses alive when MPI ends: destroyed afterwards, it calls no MPI function.
  return swim::mem::testing::mpi_test_main(argc, argv, check_without_mpi, [] {
    return [late = swim::mem::mpi::NodeSizeClasses<swim::mem::mpi::Numbers>::try_create(
                MPI_COMM_WORLD, 16 << 20)]() mutable {
      return late && late->try_destroy() == swim::mem::Error::unsupported && !*late;
    };
  });
}
