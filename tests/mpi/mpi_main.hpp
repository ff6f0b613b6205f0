// The main of every MPI test program (tests/mpi/CMakeLists.txt): gtest under
// MPI_Init, one full report (rank 0's; the other ranks print only their failures),
// every rank's verdict combined, and the library checked before MPI_Init (--no-init)
// and after MPI_Finalize, when every call must answer unsupported and call no MPI.
#pragma once

#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>
#include <string>

namespace swim::mem::testing {

/// `without_mpi(when)` returns 0 when the calls it makes answer unsupported. `late()`
/// runs while MPI is alive and returns a check, `bool()`, run after MPI_Finalize (for
/// objects made before it and used after it).
template <class Late>
int mpi_test_main(int argc, char** argv, int (*without_mpi)(const char* when), Late late) {
  if (argc > 1 && std::string(argv[1]) == "--no-init") return without_mpi("before MPI_Init");
  MPI_Init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) GTEST_FLAG_SET(brief, true);
  const int mine = RUN_ALL_TESTS();
  int any = 0;
  MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  auto check_late = late();
  MPI_Finalize();
  int after = rank == 0 ? without_mpi("after MPI_Finalize") : 0;
  if (!check_late()) {
    std::printf("rank %d: an object used after MPI_Finalize did NOT answer unsupported\n", rank);
    after = 1;
  }
  if (rank == 0 && any != 0) std::printf("a test failed on at least one rank\n");
  return any != 0 || after != 0 ? 1 : 0;
}

inline int mpi_test_main(int argc, char** argv, int (*without_mpi)(const char* when)) {
  return mpi_test_main(argc, argv, without_mpi, [] { return [] { return true; }; });
}

}  // namespace swim::mem::testing
