// Layer 5 (holds), internal: the count of a hold's zero-size objects.
#pragma once

#include <cstdint>

#include "swim/mem/config.hpp"
#include "swim/mem/physical.hpp"

namespace swim::mem::detail {

/// A count of zero-size objects. They take no bytes and all share one address,
/// so they are only counted: a free that would take the count below zero is a
/// double free. (Two live zero-size objects cannot be told apart, so freeing one
/// twice while another lives is not seen.)
template <concurrency_mode Mode>
struct ZeroCount {
  static constexpr unsigned max_retries = 1u << 16;
  cell<std::uint64_t, Mode> live;

  SWIM_MEM_API void add() { live.fetch_add(1, order::relaxed); }
  SWIM_MEM_API Error remove() {
    std::uint64_t n = live.load(order::relaxed);
    for (unsigned attempt = 0; attempt < max_retries; ++attempt) {
      if (n == 0) return Error::double_free;
      if (live.compare_exchange(n, n - 1, order::relaxed)) return Error::none;
    }
    return Error::contended;
  }
  SWIM_MEM_API std::uint64_t count() const { return live.load(order::relaxed); }
};

}  // namespace swim::mem::detail
