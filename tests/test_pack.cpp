// Pack-specific behaviour (the shared promises are in tests/conformance/).
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstring>

#include "swim/mem.hpp"

namespace swim::mem {
namespace {

alignas(4096) std::byte g_arena[4096];

template <class Mode>
class PackTest : public ::testing::Test {};
using Modes = ::testing::Types<concurrent, single_owner>;
TYPED_TEST_SUITE(PackTest, Modes);

// Two size_t objects in a 4096-byte Pack, freed in LIFO order: the statistics at
// each step. The Pack keeps its control block outside the region, so all 4096
// bytes are usable; each object costs its size rounded to 8 plus the 8-byte tag.
TYPED_TEST(PackTest, CrateBoxScenario) {
  Pack<TypeParam> pack(Block{g_arena, sizeof g_arena});
  EXPECT_EQ(pack.stats().bytes_free, 4096u);
  const Result<Block> x = pack.try_allocate(Layout::of<std::size_t>());
  ASSERT_TRUE(x.ok());
  *static_cast<std::size_t*>(x->ptr) = 5;
  EXPECT_EQ(pack.stats().live, 1u);
  EXPECT_EQ(pack.stats().bytes_in_use, 8u);
  EXPECT_EQ(pack.stats().bytes_free, 4080u);
  const Result<Block> y = pack.try_allocate(Layout::of<std::size_t>());
  ASSERT_TRUE(y.ok());
  *static_cast<std::size_t*>(y->ptr) = 9;
  EXPECT_EQ(pack.stats().live, 2u);
  EXPECT_EQ(pack.stats().bytes_in_use, 16u);
  EXPECT_EQ(pack.stats().bytes_free, 4064u);
  EXPECT_EQ(pack.try_deallocate(*y), Error::none);  // the top: its bytes come back
  EXPECT_EQ(pack.stats().live, 1u);
  EXPECT_EQ(pack.stats().bytes_in_use, 8u);
  EXPECT_EQ(pack.stats().bytes_free, 4080u);
  EXPECT_EQ(*static_cast<std::size_t*>(x->ptr), 5u);
  EXPECT_EQ(pack.try_deallocate(*x), Error::none);
  EXPECT_EQ(pack.stats().live, 0u);
  EXPECT_EQ(pack.stats().bytes_in_use, 0u);
  EXPECT_EQ(pack.stats().bytes_free, 4096u);
  EXPECT_EQ(pack.stats().peak_bytes, 16u);
}

TYPED_TEST(PackTest, NonLifoFreesWaitForTheResetWhenLiveReachesZero) {
  Pack<TypeParam> pack(Block{g_arena, sizeof g_arena});
  const Block a = *pack.try_allocate(Layout{100, 8});
  const Block b = *pack.try_allocate(Layout{100, 8});
  const std::size_t after_two = pack.stats().bytes_free;
  EXPECT_EQ(pack.try_deallocate(a), Error::none);  // not the top: only counted
  EXPECT_EQ(pack.stats().bytes_free, after_two);
  EXPECT_EQ(pack.stats().live, 1u);
  EXPECT_EQ(pack.try_deallocate(b), Error::none);  // last one: the whole pack resets
  EXPECT_EQ(pack.stats().bytes_free, 4096u);
  const Result<Block> c = pack.try_allocate(Layout{100, 8});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->ptr, a.ptr);
  EXPECT_EQ(pack.try_deallocate(*c), Error::none);
}

TYPED_TEST(PackTest, ResizeGrowsOnlyTheTopAndNeverPastTheEnd) {
  Pack<TypeParam> pack(Block{g_arena, sizeof g_arena});
  const Block a = *pack.try_allocate(Layout{16, 8});
  const Block b = *pack.try_allocate(Layout{16, 8});
  std::memset(b.ptr, 0x5A, 16);
  // The top grows in place.
  const Result<Block> grown = pack.try_resize(b, Layout{64, 8});
  ASSERT_TRUE(grown.ok());
  EXPECT_EQ(grown->ptr, b.ptr);
  EXPECT_EQ(grown->size, 64u);
  EXPECT_EQ(static_cast<unsigned char*>(b.ptr)[15], 0x5A);
  EXPECT_EQ(pack.stats().bytes_in_use, 80u);
  // Not past the end of the region: growth is checked, and a failure changes nothing.
  const Stats before = pack.stats();
  EXPECT_EQ(pack.try_resize(*grown, Layout{8192, 8}).error(), Error::out_of_memory);
  EXPECT_EQ(pack.stats().bytes_free, before.bytes_free);
  EXPECT_EQ(pack.stats().bytes_in_use, before.bytes_in_use);
  // Not when another object is on top; shrinking is fine anywhere.
  EXPECT_EQ(pack.try_resize(a, Layout{32, 8}).error(), Error::out_of_memory);
  const Result<Block> shrunk = pack.try_resize(a, Layout{8, 8});
  ASSERT_TRUE(shrunk.ok());
  EXPECT_EQ(pack.try_resize(*grown, Layout{64, 4096}).error(), Error::misaligned);
  // Through the tag, as a lease would.
  const Result<Block> via_tag = hold_resize(*grown, Layout{24, 8});
  ASSERT_TRUE(via_tag.ok());
  EXPECT_EQ(hold_deallocate(*via_tag), Error::none);
  EXPECT_EQ(hold_deallocate(*shrunk), Error::none);
  EXPECT_EQ(pack.stats().bytes_in_use, 0u);
  EXPECT_EQ(pack.stats().bytes_free, 4096u);
}

TYPED_TEST(PackTest, ZeroSizeObjectsCountButTakeNoBytes) {
  Pack<TypeParam> pack(Block{g_arena, sizeof g_arena});
  const Block z = *pack.try_allocate(Layout{0, 8});
  EXPECT_EQ(pack.stats().live, 1u);
  EXPECT_EQ(pack.stats().bytes_free, 4096u);
  EXPECT_EQ(z.address() % 64, 0u);
  // A zero-size object with a large alignment becomes a real 8-byte object.
  const Block big = *pack.try_allocate(Layout{0, 256});
  EXPECT_EQ(big.address() % 256, 0u);
  EXPECT_EQ(big.size, 8u);
  EXPECT_EQ(hold_deallocate(big), Error::none);
  EXPECT_EQ(hold_deallocate(z), Error::none);
  EXPECT_EQ(hold_deallocate(z), Error::double_free);
  EXPECT_EQ(pack.stats().live, 0u);
}

TYPED_TEST(PackTest, TooSmallRegionGivesAnEmptyPack) {
  Pack<TypeParam> pack(Block{g_arena, 8});
  EXPECT_EQ(pack.init_error(), Error::invalid_argument);
  EXPECT_FALSE(pack.try_allocate(Layout{8, 8}).ok());
  Pack<TypeParam> null_pack(Block{nullptr, 4096});
  EXPECT_EQ(null_pack.capacity(), 0u);
}

// Offsets are 64-bit: a Pack serves objects beyond 4 GiB (a 32-bit mark could
// not). Only the pages that are written are ever touched.
TEST(Pack, ManagesMoreThanFourGiB) {
  const std::size_t size = std::size_t(6) << 30;
  void* region = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (region == MAP_FAILED) GTEST_SKIP() << "cannot reserve 6 GiB of address space here";
  {
    Pack<> pack(Block{region, size});
    EXPECT_EQ(pack.capacity(), size);
    const Result<Block> a = pack.try_allocate(Layout{std::size_t(5) << 30, 8});
    ASSERT_TRUE(a.ok()) << to_string(a.error());
    const Result<Block> b = pack.try_allocate(Layout{64, 8});
    ASSERT_TRUE(b.ok());
    EXPECT_GT(b->address() - reinterpret_cast<std::uintptr_t>(region), std::size_t(5) << 30);
    std::memset(b->ptr, 1, 64);
    EXPECT_EQ(pack.stats().bytes_in_use, (std::size_t(5) << 30) + 64);
    EXPECT_EQ(pack.try_deallocate(*b), Error::none);
    EXPECT_EQ(pack.try_deallocate(*a), Error::none);
    EXPECT_EQ(pack.stats().bytes_free, size);
  }
  munmap(region, size);
}

TEST(Pack, DestructionWithLiveObjectsReportsALeak) {
  static int calls = 0;
  calls = 0;
  const leak_handler previous =
      set_leak_handler([](const LeakReport& r) { calls += r.stats.live == 1 ? 1 : 100; });
  {
    Pack<> pack(Block{g_arena, sizeof g_arena});
    ASSERT_TRUE(pack.try_allocate(Layout{8, 8}).ok());
  }
  set_leak_handler(previous);
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace swim::mem
