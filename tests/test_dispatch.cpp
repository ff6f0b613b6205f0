// The dispatch generated from the kind lists: every operation through a tag over
// every kind in holds/hold_kinds.hpp, and every HeapRef operation (plus a Pool
// growing through a tag) over every kind in heaps/heap_kinds.hpp. A kind added
// to either list without a case here fails to compile this file.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "support/arena.hpp"
#include "support/heap_boxes.hpp"
#include "swim/mem.hpp"
#if defined(SWIM_MEM_TEST_HAS_CUDA)
#include "swim/mem/sources/cuda_memory.hpp"
#endif

namespace swim::mem::testing {
namespace {

template <class F, class... Ts>
void for_each_type(detail::type_list<Ts...>, F&& f) {
  (f(static_cast<Ts*>(nullptr)), ...);
}

// ---- Holds ---------------------------------------------------------------------------

/// A hold whose objects of `layout` are tagged with control block type C.
template <class C>
struct ControlCase;

template <class Mode, class Addr>
struct ControlCase<Pack<Mode, Addr>> {
  static constexpr Layout layout{64, 8};
  static constexpr bool resizable = true;
  Arena arena{64 * 1024};
  Pack<Mode, Addr> hold{arena.block()};
};

template <class Mode, class Addr>
struct PoolCase {
  Arena arena{1024 * 1024};
  AddrSpace<Mode> pages{arena.block()};
  Pool<AddrSpace<Mode>, Mode> hold{pages, 4096};
};
// A relative Pool over a relative Slab of hunks.
template <class Mode>
struct PoolCase<Mode, relative_address> {
  using Hunks = Slab<concurrent, true, relative_address>;
  Arena arena{1024 * 1024};
  Hunks hunks{arena.block(), 4096};
  Pool<Hunks, concurrent, true, relative_address> hold{hunks, 4096};
};
template <class Mode, class Addr>
struct ControlCase<detail::PoolHunk<Mode, Addr>> : PoolCase<Mode, Addr> {
  static constexpr Layout layout{64, 8};
  static constexpr bool resizable = true;
};
template <class Mode, class Addr>
struct ControlCase<detail::PoolCore<Mode, Addr>> : PoolCase<Mode, Addr> {
  static constexpr Layout layout{0, 1};  // zero-size objects carry the pool's own tag
  static constexpr bool resizable = false;
};

template <class Mode, class Addr>
struct ClassesCase {
  Arena arena{1024 * 1024};
  ExtentHeap<Mode> extents{arena.block(), 4096};
  SizeClasses<ExtentHeap<Mode>, Mode> hold{extents};
};
// A relative SizeClasses over a relative Slab of 256 KiB hunks.
template <class Mode>
struct ClassesCase<Mode, relative_address> {
  using Hunks = Slab<concurrent, true, relative_address>;
  Arena arena{2 * 1024 * 1024};
  Hunks hunks{arena.block(), 256 * 1024};
  SizeClasses<Hunks, concurrent, true, relative_address> hold{hunks};
};
template <class Mode, class Addr>
struct ControlCase<detail::ClassHunk<Mode, Addr>> : ClassesCase<Mode, Addr> {
  static constexpr Layout layout{64, 8};
  static constexpr bool resizable = false;  // 128 bytes do not fit its 72-byte unit
};
template <class Mode, class Addr>
struct ControlCase<detail::ClassCore<Mode, Addr>> : ClassesCase<Mode, Addr> {
  static constexpr Layout layout{0, 1};  // zero-size objects carry the hold's own tag
  static constexpr bool resizable = false;
};

template <class C>
void check_hold_kind() {
  SCOPED_TRACE(static_cast<unsigned>(hold_kind_v<C>));
  ControlCase<C> k;
  const HoldRef h = HoldRef::of(k.hold);
  // HoldRef::try_allocate (the allocate visitor), then the tag it wrote.
  const Result<Block> made = h.try_allocate(k.layout);
  ASSERT_TRUE(made.ok()) << to_string(made.error());
  Block b = *made;
  const std::uint64_t tag = detail::tag_of<concurrent>(b.ptr).load(order::relaxed);
  EXPECT_EQ(detail::tag_kind(tag), hold_kind_v<C>);
  // The owner visitor.
  EXPECT_EQ(HoldRef::owner_of(b.ptr), h);
  // The stats visitor.
  EXPECT_EQ(h.stats().live, 1u);
  EXPECT_EQ(h.stats().live, k.hold.stats().live);
  // The resize visitor: the most recent object grows in place.
  if constexpr (ControlCase<C>::resizable) {
    const Result<Block> grown = hold_resize(b, Layout{128, 8});
    ASSERT_TRUE(grown.ok()) << to_string(grown.error());
    EXPECT_EQ(grown->ptr, b.ptr);
    EXPECT_EQ(h.stats().bytes_in_use, 128u);
    b = *grown;
  } else {
    EXPECT_FALSE(hold_resize(b, Layout{128, 8}).ok());
  }
  // The free visitor, then the double free every path sees.
  EXPECT_EQ(hold_deallocate(b), Error::none);
  EXPECT_EQ(hold_deallocate(b), Error::double_free);
  EXPECT_EQ(h.try_deallocate(b), Error::double_free);
  EXPECT_EQ(h.stats().live, 0u);
  if (b.size != 0) {
    EXPECT_FALSE(HoldRef::owner_of(b.ptr)) << "a freed object has no owner";
    EXPECT_EQ(hold_resize(b, Layout{64, 8}).error(), Error::double_free);
  }
  // The checked free visitor.
  const Block again = *h.try_allocate(k.layout);
  EXPECT_EQ(h.try_deallocate(again), Error::none);
  EXPECT_EQ(h.stats().live, 0u);
}

TEST(HoldDispatch, EveryVisitorOverEveryKind) {
  for_each_type(hold_kinds{}, [](auto* c) { check_hold_kind<std::remove_pointer_t<decltype(c)>>(); });
}

TEST(HoldDispatch, KindsAreListPositionsInTheFreeBits) {
  static_assert(static_cast<unsigned>(hold_kind_v<Pack<concurrent>>) == 1);
  static_assert(static_cast<unsigned>(hold_kind_v<detail::ClassCore<concurrent, relative_address>>) ==
                hold_kinds::size);
  static_assert(hold_kind_v<int> == HoldKind::none);
  static_assert(hold_kinds::size < static_cast<unsigned>(HoldKind::freed));
  for_each_type(hold_kinds{}, [](auto* c) {
    using C = std::remove_pointer_t<decltype(c)>;
    static_assert(alignof(C) >= detail::control_align);
  });
  alignas(64) static std::byte control[64];
  for (unsigned kind = 0; kind <= detail::tag_kind_mask; ++kind) {
    const std::uint64_t word = detail::make_tag(control, static_cast<HoldKind>(kind));
    EXPECT_EQ(detail::tag_control(word), control);
    EXPECT_EQ(static_cast<unsigned>(detail::tag_kind(word)), kind);
  }
}

TEST(HoldDispatch, WordsOfNoKindAreNeverFollowed) {
  // A control address that would crash if followed: only the kind decides.
  alignas(64) std::uint64_t object[4] = {};
  const Block b{&object[2], 8};
  for (unsigned kind = hold_kinds::size + 1; kind <= detail::tag_kind_mask; ++kind) {
    object[1] = ~std::uint64_t(63) | kind;
    const Error expected =
        kind == static_cast<unsigned>(HoldKind::freed) ? Error::double_free : Error::foreign_pointer;
    EXPECT_EQ(hold_deallocate(b), expected) << kind;
    EXPECT_EQ(hold_resize(b, Layout{16, 8}).error(), expected) << kind;
    EXPECT_FALSE(HoldRef::owner_of(b.ptr)) << kind;
  }
  object[1] = 0;
  EXPECT_EQ(hold_deallocate(b), Error::foreign_pointer);
  EXPECT_FALSE(HoldRef::owner_of(b.ptr));
  EXPECT_EQ(HoldRef{}.try_allocate(Layout{8, 8}).error(), Error::unsupported);
  EXPECT_EQ(HoldRef{}.try_deallocate(b), Error::unsupported);
  EXPECT_EQ(HoldRef{}.stats().live, 0u);
}

// ---- Heaps ---------------------------------------------------------------------------

template <class H>
void check_heap_kind() {
  using Box = HeapBox<H>;
  SCOPED_TRACE(Box::name());
  Box box;
  const HeapRef r = HeapRef::of(box.heap);
  ASSERT_TRUE(r);
  EXPECT_EQ(r.kind(), heap_kind_v<H>);
  // allocate, stats and deallocate through the reference.
  const Result<Block> b = r.try_allocate(Layout{1000, 64});
  ASSERT_TRUE(b.ok()) << to_string(b.error());
  EXPECT_EQ(b->address() % 64, 0u);
  EXPECT_EQ(r.stats().live, 1u);
  EXPECT_EQ(r.stats().bytes_in_use, box.heap.stats().bytes_in_use);
  EXPECT_EQ(r.try_deallocate(*b), Error::none);
  EXPECT_EQ(r.stats().live, 0u);
  // A Pool over it grows through a tag: hunks come from the heap via the HeapRef.
  using Mode = typename Box::Mode_;
  {
    Pool<H, Mode> pool(box.heap, Box::hunk);
    const HoldRef h = HoldRef::of(pool);
    std::vector<Block> objects;
    while (pool.hunk_count() < 3) {
      const Result<Block> o = h.try_allocate(Layout{1000, 8});
      ASSERT_TRUE(o.ok()) << to_string(o.error());
      std::memset(o->ptr, 0xA5, o->size);
      objects.push_back(*o);
      ASSERT_LT(objects.size(), 10000u);
    }
    EXPECT_GE(box.heap.stats().live, 3u);
    for (const Block& o : objects) ASSERT_EQ(hold_deallocate(o), Error::none);
    EXPECT_EQ(pool.stats().live, 0u);
  }
  EXPECT_EQ(box.heap.stats().live, 0u) << "the pool gave every hunk back";
}

template <class H>
using Itself = H;

TEST(HeapDispatch, EveryVisitorOverEveryHostKind) {
  using HostHeaps = map_host_heaps<detail::type_list, Itself, heap_kinds>::type;
  static_assert(HostHeaps::size >= 20);
  for_each_type(HostHeaps{}, [](auto* h) { check_heap_kind<std::remove_pointer_t<decltype(h)>>(); });
}

TEST(HeapDispatch, KindsAreListPositions) {
  static_assert(static_cast<unsigned>(heap_kind_v<Slab<concurrent, true>>) == 1);
  static_assert(heap_kind_v<int> == HeapKind::none);
  static_assert(heap_route_v<SourceHeap<OsPages>> == HeapRoute::host);
  static_assert(heap_route_v<SourceHeap<CudaMemory<CudaMemoryKind::managed>>> ==
                HeapRoute::host_registered);
  std::vector<unsigned> seen;
  [&]<class... Es>(detail::type_list<Es...>) {
    (seen.push_back(static_cast<unsigned>(heap_kind_v<typename Es::type>)), ...);
  }(heap_kinds{});
  for (unsigned i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], i + 1) << "entries are distinct";
}

#if defined(SWIM_MEM_TEST_HAS_CUDA)
// The CUDA kinds are dispatched through the host registry (heaps/heap_kinds.hpp);
// HIP's are checked in hip_sources.cpp (a translation unit of its own).
template <class H>
void check_registered_kind(bool host_accessible) {
  H heap;
  const HeapRef r = HeapRef::of(heap);
  EXPECT_EQ(r.kind(), heap_kind_v<H>);
  EXPECT_NE(detail::host_heap(static_cast<unsigned>(heap_kind_v<H>)), nullptr)
      << "HeapRef::of registers the kind's operations";
  if (!CudaDeviceMemory::available()) {
    // The dispatch reached the runtime, which has no device to allocate on.
    EXPECT_EQ(r.try_allocate(Layout{1024, 256}).error(), Error::unsupported);
    EXPECT_EQ(r.stats().live, 0u);
    return;
  }
  const Result<Block> b = r.try_allocate(Layout{1024, 256});
  ASSERT_TRUE(b.ok()) << to_string(b.error());
  EXPECT_EQ(r.stats().live, 1u);
  EXPECT_EQ(r.try_deallocate(*b), Error::none);
  if (!host_accessible) return;
  // Managed memory: a Pool over it grows through a tag from host code.
  using Mode = std::conditional_t<std::is_same_v<H, SourceHeap<CudaManagedMemory, concurrent>>,
                                  concurrent, single_owner>;
  Pool<H, Mode> pool(heap, 4096);
  const HoldRef h = HoldRef::of(pool);
  std::vector<Block> objects;
  while (pool.hunk_count() < 3) {
    const Result<Block> o = h.try_allocate(Layout{1000, 8});
    ASSERT_TRUE(o.ok()) << to_string(o.error());
    objects.push_back(*o);
  }
  for (const Block& o : objects) ASSERT_EQ(hold_deallocate(o), Error::none);
}

TEST(HeapDispatch, CudaKindsGoThroughTheHostRegistry) {
  check_registered_kind<SourceHeap<CudaDeviceMemory, concurrent>>(false);
  check_registered_kind<SourceHeap<CudaDeviceMemory, single_owner>>(false);
  check_registered_kind<SourceHeap<CudaManagedMemory, concurrent>>(true);
  check_registered_kind<SourceHeap<CudaManagedMemory, single_owner>>(true);
  if (!CudaDeviceMemory::available()) GTEST_SKIP() << "no CUDA device: allocations not tried";
}
#endif

}  // namespace
}  // namespace swim::mem::testing
