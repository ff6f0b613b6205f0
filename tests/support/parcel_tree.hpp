// Test support: the tree the Parcel and ship tests send (residents/parcel.hpp,
// integrations/mpi/ship.hpp): a balanced search tree whose nodes own a String and a
// Buf, some of them empty (zero-size objects), built and checked from its keys alone.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "swim/mem.hpp"

namespace swim::mem::testing {

struct Node {
  std::int64_t key = 0;
  Raw<String<>> label;
  Raw<Buf<std::int64_t>> values;
  Raw<Box<Node>> left, right;
};
using Tree = Raw<Box<Node>>;

}  // namespace swim::mem::testing

template <>
struct swim::mem::stow_traits<swim::mem::testing::Node>
    : stow_members<swim::mem::testing::Node, &swim::mem::testing::Node::key,
                   &swim::mem::testing::Node::label, &swim::mem::testing::Node::values,
                   &swim::mem::testing::Node::left, &swim::mem::testing::Node::right> {};

namespace swim::mem::testing {

/// Keys lo..hi-1, balanced, in `hold`; node k has the label "node-k"
/// and k % 4 values k, k+1, ... (so a quarter of the Bufs are empty).
inline Tree build(HoldRef hold, std::int64_t lo, std::int64_t hi) {
  if (lo >= hi) return Tree{};
  const std::int64_t mid = lo + (hi - lo) / 2;
  Tree t = Tree::try_new(hold).take();
  t->key = mid;
  const std::string label = "node-" + std::to_string(mid);
  t->label = Raw<String<>>::try_from(hold, label.c_str()).take();
  std::vector<std::int64_t> v;
  for (std::int64_t i = 0; i < ((mid % 4) + 4) % 4; ++i) v.push_back(mid + i);
  t->values = Raw<Buf<std::int64_t>>::try_from(hold, v.data(), v.size()).take();
  t->left = build(hold, lo, mid);
  t->right = build(hold, mid + 1, hi);
  return t;
}

/// Whether t holds exactly what build(hold, lo, hi) made; counts the nodes.
inline bool same(const Tree& t, std::int64_t lo, std::int64_t hi, std::size_t& nodes) {
  if (lo >= hi) return !t;
  if (!t) return false;
  const std::int64_t mid = lo + (hi - lo) / 2;
  if (t->key != mid) return false;
  const std::string label = "node-" + std::to_string(mid);
  const StringView got = t->label.view();
  if (std::string(got.ptr, got.len) != label) return false;
  if (t->values.size() != static_cast<std::size_t>(((mid % 4) + 4) % 4)) return false;
  for (std::size_t i = 0; i < t->values.size(); ++i) {
    if (t->values.data()[i] != mid + static_cast<std::int64_t>(i)) return false;
  }
  ++nodes;
  return same(t->left, lo, mid, nodes) && same(t->right, mid + 1, hi, nodes);
}

}  // namespace swim::mem::testing
