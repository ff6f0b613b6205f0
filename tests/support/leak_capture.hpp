// Test support: the leak reports made while a LeakCapture lives (the handler is
// process-wide: one capture at a time, on the test's thread).
#pragma once

#include "swim/mem/physical.hpp"

namespace swim::mem::testing {

/// Installs a handler that counts reports and keeps the last; restores the
/// previous handler when it goes.
struct LeakCapture {
  static inline int reports = 0;
  static inline LeakReport last{};
  LeakCapture() : previous(set_leak_handler(&record)) { reports = 0; }
  ~LeakCapture() { set_leak_handler(previous); }
  LeakCapture(const LeakCapture&) = delete;
  LeakCapture& operator=(const LeakCapture&) = delete;
  static void record(const LeakReport& r) {
    ++reports;
    last = r;
  }
  leak_handler previous;
};

}  // namespace swim::mem::testing
