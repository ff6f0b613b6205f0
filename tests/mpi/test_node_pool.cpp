// NodePool (integrations/mpi/node_pool.hpp) under mpiexec with 2 and 4 ranks: a
// shared Buf built by one rank and grown by all across hunks; structures built and
// freed round after round by every rank in a window far smaller than all they
// allocate (hunks are reused, as a Pack's bytes would not be); a storm of
// allocations from every rank, each freed by another rank, with an ownership check
// and a trim at the end; shared leases (Hard, Ref, Mut) of one Buf kept and grown by
// every rank, following each other's forwards; errors; the leak report.
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
using Lines = Raw<Buf<Text>, relative_address>;

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
NodePool<Root> make(std::size_t bytes, std::size_t hunk, bool per_rank = false) {
  typename NodePool<Root>::options_type o;
  o.hunk_bytes = hunk;
  o.per_rank = per_rank;
  Result<NodePool<Root>> made = NodePool<Root>::try_create(MPI_COMM_WORLD, bytes, o);
  EXPECT_TRUE(made) << to_string(made.error());
  return made ? made.take() : NodePool<Root>();
}

// Each rank in its turn appends to a shared Buf and adds a 4 KB String beside it:
// the Buf cannot grow in place past the Strings, so it moves from hunk to hunk
// (16 KiB each), and every rank reads it where it is.
struct Notes {
  Numbers numbers;
  Lines notes;
};

TEST(NodePool, ASharedBufBuiltByOneRankIsGrownByAllAcrossHunks) {
  NodePool<Notes> np = make<Notes>(4 << 20, 16 * 1024);
  ASSERT_TRUE(everywhere(static_cast<bool>(np)));
  const int me = np.window().rank(), n = np.window().ranks();
  Notes& shared = np.root();
  if (me == 0) {
    shared.numbers = Numbers::try_empty(np.hold()).take();
    shared.notes = Lines::try_empty(np.hold()).take();
  }
  ASSERT_EQ(np.sync(), Error::none);
  const int each = 1000 / n;  // at most 1024 elements: 8 KB, half a hunk
  const std::string note(4000, 'x');
  for (int turn = 0; turn < n; ++turn) {
    ASSERT_EQ(np.sync(), Error::none);
    // A failure ends this rank's turn, never its part in the syncs (no rank is left
    // waiting).
    for (int i = 0; turn == me && i < each; ++i) {
      const Error e = shared.numbers.try_push(1000000 * (me + 1) + i);
      Error f = Error::none;
      if (e == Error::none && i == each / 2) {
        Result<Text> t = Text::try_from(np.hold(), note.c_str());
        f = t ? shared.notes.try_push(t.take()) : t.error();
      }
      if (e != Error::none || f != Error::none) {
        ADD_FAILURE() << "push " << i << ": " << to_string(e) << " " << to_string(f);
        break;
      }
    }
  }
  ASSERT_EQ(np.sync(), Error::none);
  // Expectations only until the last sync: a rank that returned early would leave
  // the others waiting.
  EXPECT_EQ(shared.notes.size(), static_cast<std::size_t>(n));
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
  EXPECT_GT(np.get()->hunk_count(), 1u) << "the Buf moved past its first hunk";
  ASSERT_EQ(np.sync(), Error::none);
  if (me == n - 1) {  // freed by the last rank, built by the first
    shared.numbers.reset();
    shared.notes.reset();
  }
  ASSERT_EQ(np.sync(), Error::none);
  EXPECT_EQ(np.stats().live, 0u);
  EXPECT_EQ(np.try_destroy(), Error::none);
  EXPECT_TRUE(everywhere(!::testing::Test::HasFailure()));
}

// 200 rounds: one rank builds a Buf of 300 Strings, the next takes it apart. Each
// round allocates about 20 KB, 4 MB in all, in a 1 MiB window: only reuse of emptied
// hunks (by whichever rank emptied them) makes it fit.
void build_and_free_round_after_round(bool per_rank) {
  NodePool<Lines> np = make<Lines>(1 << 20, 16 * 1024, per_rank);
  ASSERT_TRUE(everywhere(static_cast<bool>(np)));
  const int me = np.window().rank(), n = np.window().ranks();
  Lines& lines = np.root();
  for (int round = 0; round < 200; ++round) {
    const int builder = round % n, breaker = (round + 1) % n;
    if (me == builder) {
      lines = Lines::try_empty(np.hold()).take();
      for (int i = 0; i < 300; ++i) {
        const std::string s = "round " + std::to_string(round) + " line " + std::to_string(i);
        Result<Text> t = Text::try_from(np.hold(), s.c_str());
        const Error e = t ? lines.try_push(t.take()) : t.error();
        if (e != Error::none) {
          ADD_FAILURE() << round << " " << i << " " << to_string(e);
          break;
        }
      }
    }
    ASSERT_EQ(np.sync(), Error::none);
    if (me == breaker && lines.size() == 300u) {
      const std::string last = "round " + std::to_string(round) + " line 299";
      EXPECT_EQ(std::string(lines.data()[299].view().ptr, lines.data()[299].view().len), last);
      lines.reset();
    }
    ASSERT_EQ(np.sync(), Error::none);
    EXPECT_EQ(np.stats().live, 0u) << round;
    ASSERT_EQ(np.sync(), Error::none);  // read before the next builder starts
  }
  EXPECT_EQ(np.try_destroy(), Error::none);
  EXPECT_TRUE(everywhere(!::testing::Test::HasFailure()));
}
TEST(NodePool, StructuresBuiltAndFreedRoundAfterRoundReuseTheHunks) {
  build_and_free_round_after_round(false);
}
// The same with a Pool per rank: each builder's hunks come back to its own Pool.
TEST(NodePool, PerRankStructuresBuiltAndFreedRoundAfterRoundReuseTheHunks) {
  build_and_free_round_after_round(true);
}

// Every rank (two threads each) allocates objects of up to 2000 bytes at once and
// records their offsets; then every object is freed by the next rank, each exactly
// once (a second free is a double free); the Pool is empty at the end, and a trim
// gives every hunk but the head back to the window's Slab.
struct Slots {
  std::uint64_t offset[4][2][512];
};
void storm_freed_by_the_next_rank(bool per_rank) {
  NodePool<Slots> np = make<Slots>(16 << 20, 64 * 1024, per_rank);
  ASSERT_TRUE(everywhere(static_cast<bool>(np)));
  const int me = np.window().rank(), n = np.window().ranks();
  ASSERT_LE(n, 4);
  Slots& slots = np.root();
  auto* base = static_cast<std::byte*>(np.window().block().ptr);  // offsets from here
  auto size_of = [](int i) { return 16 + 8 * static_cast<std::size_t>((i * 37) % 250); };
  std::atomic<int> bad{0};
  auto fill = [&](int t) {
    for (int i = 0; i < 512; ++i) {
      const Result<Block> b = np.hold().try_allocate(Layout{size_of(i), 8});
      if (!b) {
        bad.fetch_add(1);
        slots.offset[me][t][i] = ~std::uint64_t(0);
        continue;
      }
      auto* w = static_cast<std::uint64_t*>(b->ptr);
      w[0] = w[b->size / 8 - 1] = static_cast<std::uint64_t>(me * 10000 + t * 1000 + i);
      slots.offset[me][t][i] = static_cast<std::uint64_t>(static_cast<std::byte*>(b->ptr) - base);
    }
  };
  std::thread other(fill, 1);
  fill(0);
  other.join();
  EXPECT_EQ(bad.load(), 0);
  ASSERT_EQ(np.sync(), Error::none);
  EXPECT_EQ(np.stats().live, static_cast<std::size_t>(n) * 1024);
  ASSERT_EQ(np.sync(), Error::none);  // every rank has read the counts before any frees
  const int from = (me + n - 1) % n;
  auto drain = [&](int t) {
    for (int i = 0; i < 512; ++i) {
      void* p = base + slots.offset[from][t][i];
      const auto* w = static_cast<const std::uint64_t*>(p);
      const auto want = static_cast<std::uint64_t>(from * 10000 + t * 1000 + i);
      if (w[0] != want || w[size_of(i) / 8 - 1] != want) bad.fetch_add(1);
      // Half through the Pool's checked free, half through the tag. Per rank, the
      // checked free of this rank's Pool refuses another rank's object (it goes
      // back to its own Pool through the tag).
      const Block b{p, size_of(i)};
      if (per_rank && i % 2 == 0) {
        if (n > 1 && np.get()->try_deallocate(b) != Error::foreign_pointer) bad.fetch_add(1);
        if (hold_deallocate(b) != Error::none) bad.fetch_add(1);
      } else if ((i % 2 == 0 ? np.get()->try_deallocate(b) : hold_deallocate(b)) != Error::none) {
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
  void* again = base + slots.offset[from][0][0];
  // Per rank, another rank's (freed) object: the validated frees find it in no hunk of
  // this rank's Pool; an unchecked Pool's free trusts the tag, which says freed.
  const Error second = per_rank && n > 1 ? Error::foreign_pointer : Error::double_free;
  constexpr bool checked = NodePool<Slots>::hold_type::checked;
  EXPECT_EQ(np.hold().try_deallocate(Block{again, size_of(0)}), second);
  EXPECT_EQ(np.get()->try_deallocate(Block{again, size_of(0)}), checked ? second : Error::double_free);
  EXPECT_EQ(hold_deallocate(Block{again, size_of(0)}), Error::double_free);
  EXPECT_EQ(np.hold_count(), per_rank ? static_cast<unsigned>(n) : 1u);
  EXPECT_EQ(np.get()->try_deallocate(Block{base + 8, 8}), Error::foreign_pointer);
  const std::size_t before = np.get()->hunk_count();
  EXPECT_GT(before, 1u);
  ASSERT_EQ(np.try_trim(), Error::none);
  EXPECT_EQ(np.get()->hunk_count(), 1u) << "every hunk but the head back in the Slab";
  ASSERT_EQ(np.sync(), Error::none);  // every rank has looked before any allocates
  // And the hunks serve again.
  const Result<Block> big = np.hold().try_allocate(Layout{60000, 64});
  EXPECT_TRUE(big) << to_string(big.error());
  if (big) {
    EXPECT_EQ(hold_deallocate(*big), Error::none);
  }
  ASSERT_EQ(np.sync(), Error::none);
  EXPECT_EQ(np.try_destroy(), Error::none);
  EXPECT_TRUE(everywhere(!::testing::Test::HasFailure()));
}
TEST(NodePool, EveryRankAllocatesAtOnceAndTheNextRankFrees) { storm_freed_by_the_next_rank(false); }
// The same with a Pool per rank: every rank allocates from its own, frees reach the
// object's Pool through the tag, and the trim covers every rank's Pool.
TEST(NodePool, PerRankEveryRankAllocatesAtOnceAndTheNextRankFrees) {
  storm_freed_by_the_next_rank(true);
}

// The shared leases across ranks: every rank keeps its own Hard of one Buf (in its own
// memory, at its own address of the window), and in its turn grows the Buf through a
// Mut while the others hold theirs, so each growth relocates the arc (a blocker after
// it stops growth in place); every rank then follows the chain of forwards, made by
// every rank in its own mapping, from its stale Hard to the Buf as it is.
struct Counted {
  Hard<Buf<std::int64_t>, relative_address> numbers;
};

TEST(NodePool, SharedLeasesAreCountedBorrowedAndGrownByEveryRank) {
  using Mine = Hard<Buf<std::int64_t>, relative_address>;
  NodePool<Counted> np = make<Counted>(4 << 20, 64 * 1024);
  ASSERT_TRUE(everywhere(static_cast<bool>(np)));
  const int me = np.window().rank(), n = np.window().ranks();
  Counted& shared = np.root();
  if (me == 0) {
    shared.numbers =
        Mut<Buf<std::int64_t>, relative_address>::try_empty(np.hold()).take().into_hard();
  }
  ASSERT_EQ(np.sync(), Error::none);
  Mine mine = shared.numbers.try_clone().take();
  Raw<Box<std::int64_t>, relative_address> blocker;
  ASSERT_EQ(np.sync(), Error::none);
  EXPECT_EQ(shared.numbers.hard_count(), static_cast<std::size_t>(n + 1));
  const int each = 300;
  for (int turn = 0; turn < n; ++turn) {
    ASSERT_EQ(np.sync(), Error::none);
    if (turn != me) continue;
    Result<Mut<Buf<std::int64_t>, relative_address>> w = mine.try_mut();
    for (int i = 0; w && i < each; ++i) {
      const Error e = w->try_push(1000000 * (me + 1) + i);
      if (e != Error::none) {
        ADD_FAILURE() << "push " << i << ": " << to_string(e);
        break;
      }
    }
    if (!w) ADD_FAILURE() << "mut: " << to_string(w.error());
    Result<Raw<Box<std::int64_t>, relative_address>> b =
        Raw<Box<std::int64_t>, relative_address>::try_new(np.hold(), me);
    if (b) blocker = b.take();
  }
  ASSERT_EQ(np.sync(), Error::none);
  EXPECT_TRUE(shared.numbers.is_relocated()) << "the first growth with other Hards moved it";
  {
    Result<Ref<Buf<std::int64_t>, relative_address>> r = mine.try_ref();
    ASSERT_TRUE(r) << to_string(r.error());
    EXPECT_TRUE(in_window(np.window(), r->data())) << "this rank's address of it";
    if (r->size() == static_cast<std::size_t>(each * n)) {
      int wrong = 0;
      for (int k = 0; k < n; ++k) {
        for (int i = 0; i < each; ++i) wrong += (*r)[each * k + i] != 1000000 * (k + 1) + i;
      }
      EXPECT_EQ(wrong, 0);
    } else {
      ADD_FAILURE() << "size " << r->size();
    }
  }
  EXPECT_EQ(mine.refresh(), Error::none);
  EXPECT_FALSE(mine.is_relocated());
  ASSERT_EQ(np.sync(), Error::none);
  mine.reset();
  blocker.reset();
  ASSERT_EQ(np.sync(), Error::none);
  if (me == n - 1) shared.numbers.reset();  // the last Hard, and with it every stub
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

TEST(NodePool, ErrorsAndTheLeakReport) {
  const int world = [] {
    int r = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
  }();
  using Options = NodePool<Numbers>::options_type;
  // Hunk sizes out of bounds, different hunk sizes, too small a window, an object
  // larger than a hunk: refused everywhere.
  for (const std::size_t bad : {std::size_t(0), std::size_t(1000), std::size_t(4096 + 8),
                                (std::size_t(1) << 30) + 64}) {
    Options o;
    o.hunk_bytes = bad;
    EXPECT_EQ(NodePool<Numbers>::try_create(MPI_COMM_WORLD, 1 << 20, o).error(),
              Error::invalid_argument)
        << bad;
  }
  Options mixed;
  mixed.hunk_bytes = world == 0 ? 16384 : 32768;
  EXPECT_EQ(NodePool<Numbers>::try_create(MPI_COMM_WORLD, 1 << 20, mixed).error(),
            Error::invalid_argument);
  // A Pool per rank: the window must hold a hunk for each (one 64 KiB hunk fits in
  // 100 KiB, two do not); ranks that disagree on per_rank refuse together.
  int world_size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  if (world_size > 1) {  // (the tests run on one node)
    Options each;
    each.hunk_bytes = 64 * 1024;
    each.per_rank = true;
    EXPECT_EQ(NodePool<Numbers>::try_create(MPI_COMM_WORLD, 100 * 1024, each).error(),
              Error::invalid_argument);
    Options some;
    some.per_rank = world == 0;
    EXPECT_EQ(NodePool<Numbers>::try_create(MPI_COMM_WORLD, 1 << 20, some).error(),
              Error::invalid_argument);
    // Around the size limit, 64 bytes at a time: a window is refused on every rank,
    // or it gives every rank a hunk (the Slab may skip up to 4 KiB to align its first).
    each.hunk_bytes = 8192;
    const auto ranks = static_cast<unsigned>(world_size);  // (one node)
    const std::size_t least =
        NodePool<Numbers>::hold_at +
        detail::NodePoolShape<(SWIM_MEM_CHECKED != 0)>::room(each, ranks) + 8192 * ranks;
    for (std::size_t bytes = least - 128; bytes <= least + 4096 + 128; bytes += 64) {
      Result<NodePool<Numbers>> np = NodePool<Numbers>::try_create(MPI_COMM_WORLD, bytes, each);
      bool fine = !np && np.error() == Error::invalid_argument;
      if (np) {
        const Result<Block> b = np->hold().try_allocate(Layout{8, 8});
        fine = b && hold_deallocate(*b) == Error::none;
      }
      EXPECT_TRUE(everywhere(fine)) << bytes;
    }
  }
  // Checked on one rank, unchecked on the others.
  using CheckedPool = NodePool<Numbers, true>;
  using UncheckedPool = NodePool<Numbers, false>;
  const Error checked_mix = world == 0
                                ? CheckedPool::try_create(MPI_COMM_WORLD, 1 << 20).error()
                                : UncheckedPool::try_create(MPI_COMM_WORLD, 1 << 20).error();
  EXPECT_EQ(checked_mix, Error::invalid_argument);
  EXPECT_EQ(NodePool<Numbers>::try_create(MPI_COMM_WORLD, 4096).error(), Error::invalid_argument);
  EXPECT_EQ(NodePool<Numbers>::try_create(MPI_COMM_NULL, 1 << 20).error(), Error::invalid_argument);
  MPI_Barrier(MPI_COMM_WORLD);
  NodePool<Numbers> np = make<Numbers>(1 << 20, 16384);
  ASSERT_TRUE(everywhere(static_cast<bool>(np)));
  EXPECT_EQ(np.hold().try_allocate(Layout{20000, 8}).error(), Error::oversized);
  // A rank that keeps an object: reported once, on node rank 0.
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
    EXPECT_STREQ(g_last.allocator, "mpi::NodePool");
  }
  EXPECT_FALSE(np);
  EXPECT_EQ(np.try_trim(), Error::invalid_argument) << "no pool";
  EXPECT_EQ(np.try_destroy(), Error::none) << "nothing left to do";
  EXPECT_TRUE(everywhere(!::testing::Test::HasFailure()));
}

}  // namespace
}  // namespace swim::mem::mpi

namespace {
int check_without_mpi(const char* when) {
  const auto r =
      swim::mem::mpi::NodePool<swim::mem::mpi::Numbers>::try_create(MPI_COMM_WORLD, 1 << 20);
  const bool ok = !r && r.error() == swim::mem::Error::unsupported;
  std::printf("%s: NodePool %s\n", when, ok ? "answers unsupported" : "did NOT answer unsupported");
  return ok ? 0 : 1;
}
}  // namespace

int main(int argc, char** argv) {
  // A NodePool alive when MPI ends: destroyed afterwards, it calls no MPI function.
  return swim::mem::testing::mpi_test_main(argc, argv, check_without_mpi, [] {
    return [late = swim::mem::mpi::NodePool<swim::mem::mpi::Numbers>::try_create(
                MPI_COMM_WORLD, 1 << 20)]() mutable {
      return late && late->try_destroy() == swim::mem::Error::unsupported && !*late;
    };
  });
}
