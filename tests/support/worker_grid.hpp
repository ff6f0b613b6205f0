// Test support: the device suite's worker functions on host threads.
//
// A kernel launch becomes run_grid: `threads` std::threads released together, worker
// i on thread i % threads, joined before it returns (the end of a kernel); the
// workers' shared LeaseCounters are described by where() in a failure message.
#pragma once

#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "../../device/lease_workers/common.hpp"
#include "swim/mem/physical.hpp"

namespace swim::mem::testing {

/// Runs work(i) for i in [0, n) on `threads` threads released together, worker i on
/// thread i % threads; returns once all are joined.
template <class Work>
void run_grid(device_leases::u64 n, unsigned threads, Work work) {
  std::latch start(threads);
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      start.arrive_and_wait();
      for (device_leases::u64 i = t; i < n; i += threads) work(i);
    });
  }
  for (std::thread& th : pool) th.join();
}

/// The first failed worker check (its line and, where it was an error that may not
/// happen, the error's name), for a failure message.
inline std::string where(const device_leases::LeaseCounters& c) {
  if (c.first_failure == 0) return "no failed worker check";
  std::string s = "first failed worker check at line " + std::to_string(c.first_failure) +
                  " of a device/lease_workers/ header";
  if (c.first_error != 0) s += std::string(" (error: ") + to_string(static_cast<Error>(c.first_error)) + ")";
  return s;
}

}  // namespace swim::mem::testing
