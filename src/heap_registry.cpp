// The table of host_registered heap kinds (heaps/heap_kinds.hpp): their operations
// as host functions, filled in by HeapRef::of when typed code first refers to
// such a heap. Global state, hence here and not in a header.
#include <atomic>

#include "swim/mem/heaps/heap_ref.hpp"

namespace swim::mem::detail {
namespace {

constexpr unsigned kMaxKinds = 256;  // HeapKind is one byte
std::atomic<const HostHeapOps*> g_ops[kMaxKinds] = {};

}  // namespace

void register_host_heap(unsigned kind, const HostHeapOps* ops) noexcept {
  if (kind < kMaxKinds) g_ops[kind].store(ops, std::memory_order_release);
}

const HostHeapOps* host_heap(unsigned kind) noexcept {
  return kind < kMaxKinds ? g_ops[kind].load(std::memory_order_acquire) : nullptr;
}

}  // namespace swim::mem::detail
