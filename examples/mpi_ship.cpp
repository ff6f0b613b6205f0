// Whole structures between MPI ranks (integrations/mpi/ship.hpp): each rank builds a
// small index (a name, and a Buf of entries that own Strings), ships it to the next
// rank in one message, works on the one it received (in its own hold), then every
// index is gathered on rank 0. Run with:
//   mpiexec -n 4 ./build/default/examples/mpi_ship
// (as root, Open MPI also wants OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1,
// and --oversubscribe on a machine with fewer cores than ranks).
#include <mpi.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include <swim/mem/integrations/mpi.hpp>

namespace sm = swim::mem;

struct Entry {
  std::uint64_t id = 0;
  sm::Raw<sm::String<>> word;
};
struct Index {
  sm::Raw<sm::String<>> owner;
  sm::Raw<sm::Buf<Entry>> entries;
};
// What stow (and so shipping) needs to know: the members, in order.
template <>
struct swim::mem::stow_traits<Entry> : stow_members<Entry, &Entry::id, &Entry::word> {};
template <>
struct swim::mem::stow_traits<Index> : stow_members<Index, &Index::owner, &Index::entries> {};

using Doc = sm::Raw<sm::Box<Index>>;

// Errors are values; this example gives up on the first one.
template <class T>
T must(sm::Result<T> r, const char* what) {
  if (!r) {
    std::printf("%s: %s\n", what, sm::to_string(r.error()));
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  return r.take();
}

Doc build(int rank) {
  sm::HoldRef hold = sm::process_hold();
  Doc doc = must(Doc::try_new(hold), "new index");
  const std::string owner = "rank " + std::to_string(rank);
  doc->owner = must(sm::Raw<sm::String<>>::try_from(hold, owner.c_str()), "owner");
  doc->entries = must(sm::Raw<sm::Buf<Entry>>::try_empty(hold), "entries");
  for (int i = 0; i < 1000 * (rank + 1); ++i) {
    Entry e;
    e.id = static_cast<std::uint64_t>(rank) << 32 | static_cast<std::uint64_t>(i);
    const std::string w = "w" + std::to_string(i);
    e.word = must(sm::Raw<sm::String<>>::try_from(hold, w.c_str()), "word");
    if (doc->entries.try_push(std::move(e)) != sm::Error::none) MPI_Abort(MPI_COMM_WORLD, 1);
  }
  return doc;
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  int failed = 0;
  {
    const int next = (rank + 1) % ranks, prev = (rank + ranks - 1) % ranks;
    // Post the receive, ship ours (without waiting), then wait for the neighbour's.
    auto arrival = must(sm::mpi::try_receive_async<Doc>(prev, MPI_COMM_WORLD), "receive");
    Doc mine = build(rank);
    auto shipment = must(sm::mpi::try_ship_async(mine, next, MPI_COMM_WORLD), "ship");
    // `mine` is null now: the index moved to the next rank.
    if (arrival.wait() != sm::Error::none || shipment.wait() != sm::Error::none) failed = 1;
    sm::Parcel<Doc> parcel = must(arrival.take(), "arrival");
    Doc& got = parcel.root();  // working leases in this rank's hold
    const std::string who(got->owner.view().ptr, got->owner.view().len);
    // Move it out of the Parcel into this rank's own hold (the Parcel's copy is
    // freed), and add to it.
    Doc theirs = must(sm::try_stow(got, sm::process_hold()), "stow");
    const std::string note = "read by rank " + std::to_string(rank);
    Entry e;
    e.id = ~std::uint64_t(0);
    e.word = must(sm::Raw<sm::String<>>::try_from(sm::process_hold(), note.c_str()), "note");
    if (theirs->entries.try_push(std::move(e)) != sm::Error::none) failed = 1;
    std::printf("rank %d received the index of %s: %zu entries\n", rank, who.c_str(),
                theirs->entries.size() - 1);

    // Every index to rank 0, one message each.
    auto gathered = must(sm::mpi::try_gather(theirs, 0, MPI_COMM_WORLD), "gather");
    if (rank == 0) {
      for (int r = 0; r < ranks; ++r) {
        if (gathered.errors[r] != sm::Error::none) {
          std::printf("rank %d's index did not arrive: %s\n", r, sm::to_string(gathered.errors[r]));
          failed = 1;
          continue;
        }
        const Index& ix = *gathered.parcels[r].root();
        const Entry& last = ix.entries.data()[ix.entries.size() - 1];
        std::printf("gathered from rank %d: %.*s, %zu entries, last \"%.*s\"\n", r,
                    static_cast<int>(ix.owner.view().len), ix.owner.view().ptr,
                    ix.entries.size(), static_cast<int>(last.word.view().len),
                    last.word.view().ptr);
      }
    }
  }
  int any = 0;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return any;
}
