// The Box leases, regions and checks the shared-lease tests run on, shared by
// tests/test_arc_basics.cpp, test_arc_borrow.cpp, test_arc_regrow.cpp,
// test_arc_relocation.cpp and test_arc_stow.cpp.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>

#include "swim/mem.hpp"

namespace swim::mem::testing {

using S = ArcStatus;
using HardBox = Hard<Box<std::size_t>>;
using SoftBox = Soft<Box<std::size_t>>;
using RefBox = Ref<Box<std::size_t>>;
using MutBox = Mut<Box<std::size_t>>;

alignas(4096) inline std::byte g_a0[4096];
alignas(4096) inline std::byte g_a1[4096];
alignas(4096) inline std::byte g_a2[4096];

// Our Pack keeps its control block outside the region: 4096 usable bytes, each
// object costs its size rounded to 8 plus the 8-byte tag. A HardBox (of a size_t) is
// 8 (relocation) + 8 (status) + 8 (payload) = 24 bytes, 32 with the tag.
inline void expect_empty(const Pack<>& p) {
  EXPECT_EQ(p.stats().live, 0u);
  EXPECT_EQ(p.stats().bytes_in_use, 0u);
  EXPECT_EQ(p.stats().bytes_free, p.capacity());
}

template <class L>
std::size_t read(const L& lease) {
  auto r = lease.poll_ref();
  EXPECT_TRUE(r.ok()) << to_string(r.error());
  return r.ok() ? **r : ~std::size_t(0);
}

// A structure holding a Soft: a stow meets the Soft's arc through it alone.
struct Watch {
  Soft<Box<std::size_t>> s;
};

}  // namespace swim::mem::testing

template <>
struct swim::mem::stow_traits<swim::mem::testing::Watch>
    : swim::mem::stow_members<swim::mem::testing::Watch, &swim::mem::testing::Watch::s> {};

namespace swim::mem {
namespace {

// The tests name these unqualified. Declared in the including file's own anonymous
// namespace, HardBox, SoftBox, RefBox and MutBox hide swim::mem's alias templates of
// the same names (swim/mem/residents/aliases.hpp).
using testing::expect_empty;
using testing::g_a0;
using testing::g_a1;
using testing::g_a2;
using testing::HardBox;
using testing::MutBox;
using testing::read;
using testing::RefBox;
using testing::S;
using testing::SoftBox;
using testing::Watch;

}  // namespace
}  // namespace swim::mem
