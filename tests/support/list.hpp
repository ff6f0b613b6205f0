// A singly linked list of Raw<Box<Node>>: the smallest recursive structure to
// stow, shared by the lease tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "swim/mem.hpp"

namespace swim::mem::testing {

struct Node {
  std::uint64_t value = 0;
  Raw<Box<Node>> next;
};

}  // namespace swim::mem::testing

template <>
struct swim::mem::stow_traits<swim::mem::testing::Node>
    : swim::mem::stow_members<swim::mem::testing::Node, &swim::mem::testing::Node::value,
                              &swim::mem::testing::Node::next> {};

namespace swim::mem::testing {

/// A list of n nodes holding first, first + 1, ... in `hold`.
inline Raw<Box<Node>> make_list(HoldRef hold, int n, std::uint64_t first = 1) {
  Raw<Box<Node>> head;
  for (int i = n - 1; i >= 0; --i) {
    Result<Raw<Box<Node>>> node = Raw<Box<Node>>::try_new(hold);
    EXPECT_TRUE(node.ok());
    (*node)->value = first + static_cast<std::uint64_t>(i);
    (*node)->next = detail::move(head);
    head = node.take();
  }
  return head;
}

inline std::vector<std::uint64_t> values(const Raw<Box<Node>>& head) {
  std::vector<std::uint64_t> v;
  for (const Raw<Box<Node>>* p = &head; *p; p = &(*p)->next) v.push_back((*p)->value);
  return v;
}

/// Free a list iteratively, so that a long list does not recurse in destructors.
inline void free_list(Raw<Box<Node>>& head) {
  while (head) {
    Raw<Box<Node>> next = detail::move(head->next);
    head = detail::move(next);
  }
}

}  // namespace swim::mem::testing
