// Node-shared records between MPI ranks: one NodeSlab (integrations/mpi.hpp) that
// every rank of the node allocates from and frees to, with no lock and no MPI call
// per record. Each rank produces records and hands each one to the next rank by
// its offset in the window (an address means nothing to another rank); the next
// rank reads it and frees it. Run with:
//   mpiexec -n 4 ./build/default/examples/mpi_node_slab
// (as root, Open MPI also wants OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1,
// and --oversubscribe on a machine with fewer cores than ranks).
#include <mpi.h>

#include <cstdint>
#include <cstdio>
#include <vector>

#include <swim/mem/integrations/mpi.hpp>

namespace sm = swim::mem;

struct Record {
  std::uint64_t producer;
  std::uint64_t serial;
  double payload[6];
};

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int failed = 0;
  {
    constexpr std::size_t per_rank = 1000;
    int world = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    // Collective: node rank 0 creates the window and the Slab in it.
    auto made = sm::mpi::NodeSlab<>::try_create(MPI_COMM_WORLD, sizeof(Record),
                                                per_rank * static_cast<std::size_t>(world));
    if (!made) {
      std::printf("NodeSlab: %s\n", sm::to_string(made.error()));
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    sm::mpi::NodeSlab<>& slab = *made;
    const int rank = slab.window().rank();
    const int ranks = slab.window().ranks();

    // Produce: records in shared memory, their offsets in a plain vector.
    std::vector<std::uint64_t> mine;
    for (std::size_t i = 0; i < per_rank; ++i) {
      sm::Result<sm::Block> b = slab.try_allocate(sm::Layout::of<Record>());
      if (!b) {
        std::printf("rank %d: %s\n", rank, sm::to_string(b.error()));
        failed = 1;
        break;
      }
      auto* r = new (b->ptr) Record{static_cast<std::uint64_t>(rank), i, {}};
      for (double& x : r->payload) x = rank + 0.5;
      mine.push_back(slab.offset_of(b->ptr));
    }
    slab.window().sync();
    const sm::Stats full = slab.stats();

    // Hand the offsets to the next rank (one message of offsets, not of records).
    const int to = (rank + 1) % ranks, from = (rank + ranks - 1) % ranks;
    std::vector<std::uint64_t> theirs(per_rank);
    MPI_Sendrecv(mine.data(), static_cast<int>(mine.size()), MPI_UINT64_T, to, 0, theirs.data(),
                 static_cast<int>(per_rank), MPI_UINT64_T, from, 0, slab.window().node(),
                 MPI_STATUS_IGNORE);

    // Consume: read each record at this rank's address of it, then free it.
    for (std::size_t i = 0; i < per_rank; ++i) {
      const auto* r = static_cast<const Record*>(slab.address_at(theirs[i]));
      failed |= r->producer != static_cast<std::uint64_t>(from) || r->serial != i ||
                r->payload[5] != from + 0.5;
      failed |= slab.try_deallocate(slab.block_at(theirs[i])) != sm::Error::none;
    }
    slab.window().sync();
    if (rank == 0) {
      std::printf("%d ranks shared one NodeSlab of %zu records of %zu bytes\n", ranks,
                  slab.block_count(), slab.unit());
      std::printf("after producing: %zu live records (%zu bytes), node-wide\n", full.live,
                  full.bytes_in_use);
      std::printf("after each rank freed its neighbour's: %zu live\n", slab.stats().live);
    }
    failed |= slab.stats().live != 0;
    failed |= slab.try_destroy() != sm::Error::none;  // collective
  }
  int any = 0;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0) std::printf("%s\n", any ? "FAILED" : "every record was read and freed by the next rank");
  MPI_Finalize();
  return any;
}
