// The benchmarks under mpiexec (mpi_bench.cpp, ship_bench.cpp): every rank runs the
// same benchmarks (they synchronise inside), and only rank 0 reports.
#pragma once

#include <benchmark/benchmark.h>

#include <vector>

namespace swim_bench {

/// A reporter that prints nothing (the ranks other than 0).
class NullReporter : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>&) override {}
};

/// Run the registered benchmarks; report on rank 0 only.
inline void run_reporting_on_rank0(int rank) {
  if (rank == 0) {
    benchmark::RunSpecifiedBenchmarks();
  } else {
    NullReporter quiet;
    benchmark::RunSpecifiedBenchmarks(&quiet);
  }
  benchmark::Shutdown();
}

}  // namespace swim_bench
