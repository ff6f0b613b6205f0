// All 18 lease x resident combinations ({Raw, Ptr, Mut, Ref, Hard, Soft} x
// {Box, Buf, String}), each with a user metadata slot: created in one Pack, the
// metadata read back, stowed into another Pack where the lease allows it, dropped;
// both packs end empty.
#include <gtest/gtest.h>

#include <cstdint>

#include "swim/mem.hpp"

namespace swim::mem {
namespace {

struct Tag {
  std::uint32_t id = 0;
};

alignas(4096) std::byte g_a[1 << 14];
alignas(4096) std::byte g_b[1 << 14];

// Make one lease of type L with metadata {7}: a Box of 42, a Buf {1, 2, 3}, or "abc".
template <class L>
Result<L> make(HoldRef hold) {
  using R = typename L::resident_type;
  if constexpr (requires { R::template interface<L>::try_new_with_meta(hold, Tag{7}, 42); }) {
    return L::try_new_with_meta(hold, Tag{7}, 42);
  } else if constexpr (requires { typename R::value_type; } &&
                       !std::is_same_v<typename R::value_type, char>) {
    const int v[3] = {1, 2, 3};
    return L::try_from(hold, v, 3, Tag{7});
  } else {
    return L::try_from(hold, "abc", 3, Tag{7});
  }
}

template <class L>
std::uint32_t meta_of(const L& lease) {
  return lease.meta().user.id;
}
template <class L>
  requires requires(const L& l) { l.meta().id; }
std::uint32_t meta_of(const L& lease) {
  return lease.meta().id;
}

template <class Exclusive>
void exclusive_round_trip() {
  Pack<> a(Block{g_a, sizeof g_a}), b(Block{g_b, sizeof g_b});
  {
    Result<Exclusive> x = make<Exclusive>(HoldRef::of(a));
    ASSERT_TRUE(x.ok()) << to_string(x.error());
    EXPECT_EQ(meta_of(*x), 7u);
    Result<Exclusive> y = try_stow(*x, HoldRef::of(b));
    ASSERT_TRUE(y.ok());
    EXPECT_EQ(meta_of(*y), 7u);
    EXPECT_EQ(a.stats().live, 0u);
    EXPECT_EQ(b.stats().live, 1u);
  }
  EXPECT_EQ(b.stats().live, 0u);
}

TEST(Combinations, RawAndPtrOfEveryResident) {
  exclusive_round_trip<RawBox<int, Tag>>();
  exclusive_round_trip<PtrBox<int, Tag>>();
  exclusive_round_trip<RawBuf<int, Tag>>();
  exclusive_round_trip<PtrBuf<int, Tag>>();
  exclusive_round_trip<RawString<Tag>>();
  exclusive_round_trip<PtrString<Tag>>();
}

// The shared family: a Hard is made, the other three are obtained from it.
template <template <class, class> class Resident, class T>
void shared_round_trip() {
  using R = Resident<T, Tag>;
  Pack<> a(Block{g_a, sizeof g_a}), b(Block{g_b, sizeof g_b});
  {
    Result<Hard<R>> h = make<Hard<R>>(HoldRef::of(a));
    ASSERT_TRUE(h.ok()) << to_string(h.error());
    {
      auto m = h->try_mut();
      ASSERT_TRUE(m.ok());
      EXPECT_EQ(meta_of(*m), 7u);
    }
    {
      auto r = h->try_ref();
      ASSERT_TRUE(r.ok());
      EXPECT_EQ(meta_of(*r), 7u);
    }
    auto s = h->to_soft();
    ASSERT_TRUE(s.ok());
    Result<Hard<R>> moved = try_stow(*h, HoldRef::of(b));
    ASSERT_TRUE(moved.ok());
    EXPECT_EQ(b.stats().live, 1u);
    {
      auto r = moved->try_ref();
      ASSERT_TRUE(r.ok());
      EXPECT_EQ(meta_of(*r), 7u);
    }
  }
  EXPECT_EQ(a.stats().live, 0u);
  EXPECT_EQ(b.stats().live, 0u);
}

template <class T, class M>
using StringOf = String<M>;

TEST(Combinations, MutRefHardSoftOfEveryResident) {
  shared_round_trip<Box, int>();
  shared_round_trip<Buf, int>();
  shared_round_trip<StringOf, char>();
  static_assert(sizeof(MutBox<int, Tag>) == sizeof(void*));
  static_assert(sizeof(RefBuf<int, Tag>) == sizeof(void*));
  static_assert(sizeof(SoftString<Tag>) == sizeof(void*));
}

}  // namespace
}  // namespace swim::mem
