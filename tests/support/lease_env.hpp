// The holds and lease kinds the resident tests run on (Raw or Ptr, over a Pack or
// a Pool), shared by tests/test_buf.cpp and tests/test_string.cpp.
#pragma once

#include <gtest/gtest.h>

#include "swim/mem.hpp"

namespace swim::mem::testing {

alignas(4096) inline std::byte g_big[4 << 20];

inline void expect_same_stats(const Stats& a, const Stats& b) {
  EXPECT_EQ(a.live, b.live);
  EXPECT_EQ(a.bytes_in_use, b.bytes_in_use);
  EXPECT_EQ(a.bytes_free, b.bytes_free);
}

struct PackEnv {
  Pack<> pack{Block{g_big, sizeof g_big}};
  HoldRef hold() { return HoldRef::of(pack); }
};

struct PoolEnv {
  using Upstream = Slab<concurrent, true>;
  Upstream slab{Block{g_big, sizeof g_big}, 16 * 1024};
  Pool<Upstream> pool{slab, 16 * 1024};
  HoldRef hold() { return HoldRef::of(pool); }
};

struct RawKind {
  template <class R>
  using Lease = Raw<R>;
};
struct PtrKind {
  template <class R>
  using Lease = Ptr<R>;
};
template <class Kind, class EnvT>
struct Combo {
  template <class R>
  using Lease = typename Kind::template Lease<R>;
  using Env = EnvT;
};

}  // namespace swim::mem::testing
