// The translation unit that builds the host tests' precompiled header
// (tests/CMakeLists.txt, swim_mem_test_pch) and the MPI tests' (tests/mpi/CMakeLists.txt,
// swim_mem_mpi_test_pch): it holds nothing of its own.
