// Threads racing for the only hunk a heap holds (tests/test_pool.cpp,
// tests/test_size_classes.cpp): one draws it, the others find the heap dry while
// its grow is in flight. The hunk has room for every racer's object, so a racer
// told out_of_memory was told it wrongly; contended (a wait past its bound) is
// allowed. Every object is checked to be inside the hunk and freed.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>

#include "swim/mem.hpp"

namespace swim::mem::testing {

struct LastHunkRace {
  int out_of_memory = 0;
  int contended = 0;
};

/// Four threads, started together, each allocating `layout` once from `hold`.
template <class Hold>
std::array<Result<Block>, 4> four_racers(Hold& hold, Layout layout) {
  constexpr int threads = 4;
  std::atomic<int> ready{0};
  std::array<Result<Block>, threads> got = {Error::none, Error::none, Error::none, Error::none};
  auto racer = [&](int t) {
    ready.fetch_add(1);
    while (ready.load() < threads) std::this_thread::yield();
    got[t] = hold.try_allocate(layout);
  };
  std::thread others[threads - 1];
  for (int t = 1; t < threads; ++t) others[t - 1] = std::thread(racer, t);
  racer(0);
  for (std::thread& t : others) t.join();
  return got;
}

/// `rounds` races of four threads, each allocating `layout` once from a fresh
/// Hold(slab, args...) over a Slab whose one unit is `hunk` (`bytes` long).
template <class Hold, class... Args>
LastHunkRace race_for_the_last_hunk(std::byte* hunk, std::size_t bytes, Layout layout, int rounds,
                                    Args... args) {
  LastHunkRace count;
  const auto inside = [&](const void* p) {
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    const auto b = reinterpret_cast<std::uintptr_t>(hunk);
    return a >= b && a < b + bytes;
  };
  for (int round = 0; round < rounds; ++round) {
    Slab<concurrent, false> slab(Block{hunk, bytes}, bytes);
    EXPECT_EQ(slab.block_count(), 1u);
    Hold hold(slab, args...);
    for (const Result<Block>& b : four_racers(hold, layout)) {
      if (b) {
        EXPECT_TRUE(inside(b->ptr)) << b->ptr;
        EXPECT_EQ(hold.try_deallocate(*b), Error::none);
      } else {
        count.out_of_memory += b.error() == Error::out_of_memory;
        count.contended += b.error() == Error::contended;
        EXPECT_TRUE(b.error() == Error::out_of_memory || b.error() == Error::contended)
            << to_string(b.error());
      }
    }
  }
  return count;
}

}  // namespace swim::mem::testing
