// An outside project's MPI program: one NodeSlab shared by the node's ranks; each
// rank takes a unit, the next rank frees it by its offset.
#include <mpi.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include <swim/mem/integrations/mpi.hpp>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int failed = 0;
  {
    auto made = swim::mem::mpi::NodeSlab<>::try_create(MPI_COMM_WORLD, 64, 100);
    if (!made) {
      std::printf("NodeSlab: %s\n", swim::mem::to_string(made.error()));
      failed = 1;
    } else {
      auto& slab = *made;
      const int rank = slab.window().rank(), ranks = slab.window().ranks();
      auto b = slab.try_allocate(swim::mem::Layout{64, 8});
      failed |= !b;
      std::memset(b->ptr, rank, 64);
      const unsigned long long mine = slab.offset_of(b->ptr);
      std::vector<unsigned long long> all(static_cast<std::size_t>(ranks));
      MPI_Allgather(&mine, 1, MPI_UNSIGNED_LONG_LONG, all.data(), 1, MPI_UNSIGNED_LONG_LONG,
                    slab.window().node());
      slab.window().sync();
      const int from = (rank + ranks - 1) % ranks;
      const swim::mem::Block theirs = slab.block_at(all[static_cast<std::size_t>(from)]);
      failed |= static_cast<const unsigned char*>(theirs.ptr)[63] != from;
      failed |= slab.try_deallocate(theirs) != swim::mem::Error::none;
      slab.window().sync();
      failed |= slab.stats().live != 0;
      failed |= slab.try_destroy() != swim::mem::Error::none;
    }
  }
  int any = 0;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0) std::printf("consumer_mpi: %s\n", any ? "FAILED" : "passed");
  MPI_Finalize();
  return any;
}
