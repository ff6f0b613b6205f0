// Ship and gather (integrations/mpi/ship.hpp) under mpiexec with 2 and 4 ranks: a
// 10,000-node tree shipped whole and compared on arrival, every form (blocking,
// non-blocking, gather), and every error provoked, each followed by a good message
// to show that nothing was left stuck.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "support/parcel_tree.hpp"
#include "swim/mem.hpp"
// ship.hpp before the others on purpose: each MPI header must stand whatever comes
// first (a swim::mem::mpi::detail declared by one once hid swim::mem::detail from
// the next).
#include "swim/mem/integrations/mpi/ship.hpp"
#include "swim/mem/integrations/mpi/node_slab.hpp"
#include "swim/mem/integrations/mpi/node_pool.hpp"
#include "swim/mem/integrations/mpi/node_pack.hpp"
#include "swim/mem/integrations/mpi.hpp"
#include "mpi/mpi_main.hpp"

namespace swim::mem::mpi {
namespace {

using testing::build;
using testing::same;
using testing::Tree;

int rank_of(MPI_Comm c = MPI_COMM_WORLD) {
  int r = 0;
  MPI_Comm_rank(c, &r);
  return r;
}
int size_of(MPI_Comm c = MPI_COMM_WORLD) {
  int s = 0;
  MPI_Comm_size(c, &s);
  return s;
}

// Whether every rank says yes (so that one rank's failure fails the test everywhere
// instead of leaving the others waiting).
bool everywhere(bool mine) {
  int v = mine ? 1 : 0, all = 0;
  MPI_Allreduce(&v, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return all == 1;
}

constexpr std::int64_t kNodes = 10000;

TEST(Ship, TenThousandNodeTreeArrivesWholeAndWorks) {
  const int me = rank_of(), n = size_of();
  bool ok = true;
  if (me == 0) {
    Tree tree = build(process_hold(), 0, kNodes);
    const Stats before = process_hold_stats();
    EXPECT_EQ(try_ship(tree, 1, MPI_COMM_WORLD), Error::none);
    EXPECT_FALSE(tree) << "the structure moved";
    EXPECT_LT(process_hold_stats().live, before.live) << "its objects were freed here";
  } else if (me == 1) {
    Result<Parcel<Tree>> got = try_receive<Tree>(0, MPI_COMM_WORLD);
    ok = static_cast<bool>(got);
    EXPECT_TRUE(ok) << to_string(got.error());
    if (got) {
      std::size_t nodes = 0;
      EXPECT_TRUE(same(got->root(), 0, kNodes, nodes));
      EXPECT_EQ(nodes, static_cast<std::size_t>(kNodes));
      // Working leases: stowed from the Parcel into this rank's own hold, then grown.
      Result<Tree> mine = try_stow(got->root(), process_hold());
      ASSERT_TRUE(mine);
      EXPECT_EQ(got->stats().live, 0u);
      for (int i = 0; i < 100; ++i) EXPECT_EQ((*mine)->values.try_push(i), Error::none);
      EXPECT_EQ((*mine)->left->label.try_append("!"), Error::none);
    }
  }
  (void)n;
  EXPECT_TRUE(everywhere(ok));
}

TEST(Ship, NonBlockingRoundTheRing) {
  const int me = rank_of(), n = size_of();
  const int next = (me + 1) % n, prev = (me + n - 1) % n;
  Result<Arrival<Tree>> arrival = try_receive_async<Tree>(prev, MPI_COMM_WORLD);
  ASSERT_TRUE(arrival);
  Tree mine = build(process_hold(), 0, 1000 + me);
  Result<Shipment<Tree>> shipment = try_ship_async(mine, next, MPI_COMM_WORLD);
  ASSERT_TRUE(shipment) << to_string(shipment.error());
  EXPECT_FALSE(mine);
  // Poll until it comes (bounded: the ring has every rank sending).
  bool here = false;
  for (long spins = 0; spins < 100000000 && !here; ++spins) {
    Result<bool> t = arrival->test();
    ASSERT_TRUE(t) << to_string(t.error());
    here = *t;
    (void)shipment->test();
  }
  ASSERT_TRUE(here);
  EXPECT_EQ(shipment->wait(), Error::none);
  Result<Parcel<Tree>> got = arrival->take();
  ASSERT_TRUE(got) << to_string(got.error());
  std::size_t nodes = 0;
  EXPECT_TRUE(same(got->root(), 0, 1000 + prev, nodes));
  EXPECT_EQ(arrival->take().error(), Error::invalid_argument) << "taken once";
  EXPECT_TRUE(everywhere(!::testing::Test::HasFailure()));
}

TEST(Ship, OneParcelSentToEveryRank) {
  const int me = rank_of(), n = size_of();
  if (me == 0) {
    Tree tree = build(process_hold(), 0, 500);
    Parcel<Tree> p = Parcel<Tree>::try_pack(tree, process_hold()).take();
    for (int r = 1; r < n; ++r) EXPECT_EQ(try_send(p, r, MPI_COMM_WORLD), Error::none);
  } else {
    Arrival<Tree> a = try_receive_async<Tree>(0, MPI_COMM_WORLD).take();
    EXPECT_EQ(a.wait(), Error::none);
    Result<Parcel<Tree>> got = a.take();
    ASSERT_TRUE(got);
    std::size_t nodes = 0;
    EXPECT_TRUE(same(got->root(), 0, 500, nodes));
  }
  EXPECT_TRUE(everywhere(!::testing::Test::HasFailure()));
}

TEST(Gather, EveryRanksTreeToOneRank) {
  const int me = rank_of(), n = size_of();
  const int root = n - 1;
  Tree mine = build(process_hold(), 0, 2000 + 10 * me);
  Result<Gathered<Tree>> g = try_gather(mine, root, MPI_COMM_WORLD);
  ASSERT_TRUE(g) << to_string(g.error());
  EXPECT_FALSE(mine);
  ASSERT_EQ(g->errors.size(), static_cast<std::size_t>(n));
  if (me == root) {
    ASSERT_EQ(g->parcels.size(), static_cast<std::size_t>(n));
    for (int r = 0; r < n; ++r) {
      EXPECT_EQ(g->errors[r], Error::none) << r;
      std::size_t nodes = 0;
      EXPECT_TRUE(same(g->parcels[r].root(), 0, 2000 + 10 * r, nodes)) << r;
    }
  } else {
    EXPECT_EQ(g->errors[me], Error::none);
    EXPECT_TRUE(g->parcels.empty());
  }
  EXPECT_TRUE(everywhere(!::testing::Test::HasFailure()));
}

// A rank that cannot pack (its hold too small) keeps its structure, and the root
// learns its error; the other ranks' structures arrive.
TEST(Gather, ARankThatCannotPackKeepsItsTreeAndTheRootIsTold) {
  const int me = rank_of(), n = size_of();
  std::vector<std::byte> room(16 * 1024);
  Pack<> small(Block{room.data(), room.size()});
  Tree mine = build(process_hold(), 0, 3000);
  const HoldRef hold = me == 1 ? HoldRef::of(small) : process_hold();
  Result<Gathered<Tree>> g = try_gather(mine, 0, MPI_COMM_WORLD, hold);
  ASSERT_TRUE(g);
  if (me == 1) {
    EXPECT_EQ(g->errors[1], Error::oversized);
    std::size_t nodes = 0;
    EXPECT_TRUE(same(mine, 0, 3000, nodes)) << "kept";
  }
  if (me == 0) {
    EXPECT_EQ(g->errors[1], Error::oversized) << to_string(g->errors[1]);
    EXPECT_FALSE(g->parcels[1]);
    for (int r = 0; r < n; ++r) {
      if (r == 1) continue;
      std::size_t nodes = 0;
      EXPECT_TRUE(same(g->parcels[r].root(), 0, 3000, nodes)) << r;
    }
  }
  EXPECT_TRUE(everywhere(!::testing::Test::HasFailure()));
}

// A rank whose own arguments are bad (a null hold) still takes part: the root is told,
// nobody waits.
TEST(Gather, ARankWithANullHoldIsReportedNotWaitedFor) {
  const int me = rank_of(), n = size_of();
  Tree mine = build(process_hold(), 0, 100);
  const HoldRef hold = me == n - 1 ? HoldRef() : process_hold();
  Result<Gathered<Tree>> g = try_gather(mine, 0, MPI_COMM_WORLD, hold);
  ASSERT_TRUE(g);
  if (me == n - 1) {
    EXPECT_EQ(g->errors[n - 1], Error::invalid_argument);
    EXPECT_TRUE(mine) << "kept";
  }
  if (me == 0) {
    EXPECT_EQ(g->errors[n - 1], Error::invalid_argument);
    for (int r = 0; r < n - 1; ++r) EXPECT_EQ(g->errors[r], Error::none) << r;
  }
  EXPECT_TRUE(everywhere(!::testing::Test::HasFailure()));
}

// After each bad message, a good one from the same sender: received normally.
void expect_good_next(int from) {
  Result<Parcel<Tree>> good = try_receive<Tree>(from, MPI_COMM_WORLD);
  ASSERT_TRUE(good) << to_string(good.error());
  std::size_t nodes = 0;
  EXPECT_TRUE(same(good->root(), 0, 50, nodes));
}
void send_good(int to) {
  Tree t = build(process_hold(), 0, 50);
  EXPECT_EQ(try_ship(t, to, MPI_COMM_WORLD), Error::none);
}

TEST(ShipErrors, BadMessagesAreMalformedAndDrained) {
  const int me = rank_of();
  if (me == 0) {
    // Not a Parcel at all: some words, some odd bytes, nothing.
    std::vector<std::uint64_t> junk(300, 0x1234);
    MPI_Send(junk.data(), 300, MPI_UINT64_T, 1, ship_tag, MPI_COMM_WORLD);
    send_good(1);
    char odd[13] = {};
    MPI_Send(odd, 13, MPI_BYTE, 1, ship_tag, MPI_COMM_WORLD);
    send_good(1);
    MPI_Send(nullptr, 0, MPI_UINT64_T, 1, ship_tag, MPI_COMM_WORLD);
    send_good(1);
    // A real image, truncated by one word, and one with a byte changed.
    Tree t = build(process_hold(), 0, 200);
    Parcel<Tree> p = Parcel<Tree>::try_pack(t, process_hold()).take();
    const Block img = p.seal();
    MPI_Send(img.ptr, static_cast<int>(img.size / 8) - 1, MPI_UINT64_T, 1, ship_tag,
             MPI_COMM_WORLD);
    send_good(1);
    std::vector<std::uint64_t> bent(img.size / 8);
    std::memcpy(bent.data(), img.ptr, img.size);
    bent[bent.size() / 2] ^= 1;
    MPI_Send(bent.data(), static_cast<int>(bent.size()), MPI_UINT64_T, 1, ship_tag,
             MPI_COMM_WORLD);
    send_good(1);
    // The right bytes for another type.
    EXPECT_EQ(try_send(p, 1, MPI_COMM_WORLD), Error::none);
    send_good(1);
  } else if (me == 1) {
    const std::size_t before = process_hold_stats().live;
    for (int i = 0; i < 5; ++i) {
      Result<Parcel<Tree>> bad = try_receive<Tree>(0, MPI_COMM_WORLD);
      EXPECT_EQ(bad.error(), Error::malformed) << "message " << i;
      EXPECT_EQ(process_hold_stats().live, before) << "nothing kept of message " << i;
      expect_good_next(0);
    }
    using Other = Raw<Buf<std::int64_t>>;
    EXPECT_EQ(try_receive<Other>(0, MPI_COMM_WORLD).error(), Error::malformed);
    expect_good_next(0);
  }
  EXPECT_TRUE(everywhere(!::testing::Test::HasFailure()));
}

TEST(ShipErrors, AReceiverWithoutRoomLosesNothingAndGetsTheNextMessage) {
  const int me = rank_of();
  if (me == 0) {
    Tree t = build(process_hold(), 0, 5000);
    EXPECT_EQ(try_ship(t, 1, MPI_COMM_WORLD), Error::none);
    send_good(1);
  } else if (me == 1) {
    std::vector<std::byte> room(8 * 1024);
    Pack<> small(Block{room.data(), room.size()});
    Result<Parcel<Tree>> got = try_receive<Tree>(0, MPI_COMM_WORLD, HoldRef::of(small));
    EXPECT_EQ(got.error(), Error::oversized);
    EXPECT_EQ(small.stats().live, 0u);
    expect_good_next(0);
  }
  EXPECT_TRUE(everywhere(!::testing::Test::HasFailure()));
}

TEST(ShipErrors, BadArgumentsChangeNothing) {
  const int n = size_of();
  Tree t = build(process_hold(), 0, 10);
  EXPECT_EQ(try_ship(t, n, MPI_COMM_WORLD), Error::invalid_argument);
  EXPECT_EQ(try_ship(t, -1, MPI_COMM_WORLD), Error::invalid_argument);
  EXPECT_EQ(try_ship(t, 0, MPI_COMM_NULL), Error::invalid_argument);
  EXPECT_EQ(try_ship(t, 0, MPI_COMM_WORLD, ship_tag, HoldRef()), Error::invalid_argument);
  EXPECT_EQ(try_ship_async(t, n, MPI_COMM_WORLD).error(), Error::invalid_argument);
  std::size_t nodes = 0;
  EXPECT_TRUE(same(t, 0, 10, nodes)) << "untouched";
  nodes = 0;
  EXPECT_EQ(try_receive<Tree>(n, MPI_COMM_WORLD).error(), Error::invalid_argument);
  EXPECT_EQ(try_receive<Tree>(0, MPI_COMM_WORLD, HoldRef()).error(), Error::invalid_argument);
  EXPECT_EQ(try_receive_async<Tree>(-5, MPI_COMM_WORLD).error(), Error::invalid_argument);
  EXPECT_EQ(try_gather(t, n, MPI_COMM_WORLD).error(), Error::invalid_argument);
  // Tags outside 0..MPI_TAG_UB (MPI_ANY_TAG only to receive): refused, not an abort.
  EXPECT_EQ(try_ship(t, 0, MPI_COMM_WORLD, -5), Error::invalid_argument);
  EXPECT_EQ(try_ship(t, 0, MPI_COMM_WORLD, MPI_ANY_TAG), Error::invalid_argument);
  EXPECT_EQ(try_receive<Tree>(0, MPI_COMM_WORLD, process_hold(), -5).error(), Error::invalid_argument);
  EXPECT_EQ(try_gather(t, 0, MPI_COMM_WORLD, process_hold(), -1).error(), Error::invalid_argument);
  EXPECT_TRUE(same(t, 0, 10, nodes)) << "still untouched";
  Arrival<Tree> never;
  EXPECT_EQ(never.take().error(), Error::invalid_argument);
  // A default Arrival has no communicator: an error, never an MPI call that aborts.
  EXPECT_EQ(never.test().error(), Error::invalid_argument);
  EXPECT_EQ(never.wait(), Error::invalid_argument);
  EXPECT_TRUE(everywhere(!::testing::Test::HasFailure()));
}

int check_without_mpi(const char* when) {
  Tree t = build(process_hold(), 0, 10);
  const bool ok = try_ship(t, 0, MPI_COMM_WORLD) == Error::unsupported && t &&
                  try_receive<Tree>(0, MPI_COMM_WORLD).error() == Error::unsupported &&
                  try_gather(t, 0, MPI_COMM_WORLD).error() == Error::unsupported &&
                  try_ship_async(t, 0, MPI_COMM_WORLD).error() == Error::unsupported;
  std::printf("%s: ship, receive, gather %s\n", when,
              ok ? "answer unsupported, the tree kept" : "did NOT answer unsupported");
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace swim::mem::mpi

int main(int argc, char** argv) {
  return swim::mem::testing::mpi_test_main(argc, argv, swim::mem::mpi::check_without_mpi);
}
