// libFuzzer harness: the holds (include/swim/mem/holds/): Pack, Pool over AddrSpace,
// ExtentHeap, Slab and a StaticRegion source, SizeClasses over AddrSpace and
// ExtentHeap (each in both modes, Pool and SizeClasses with both Checked values),
// and the process-wide hold behind try_malloc / try_free.
//
// Input: the same bytes drive every hold in turn, each over a fresh heap. The first
// bytes set it up (the region's place and length, the heap's page / granule / unit,
// the Pool's hunk size), then come up to max_ops operations, one byte each followed
// by its arguments: allocate (typed, or through a HoldRef; any size and alignment,
// zero sizes and bad alignments too), free a live object (typed, hold_deallocate or
// HoldRef::try_deallocate; as returned or with the size asked for), resize one
// (typed try_resize or hold_resize), reallocate one (HoldRef::try_reallocate), free
// an object freed before, free what is no object of the hold (another hold's object,
// an interior pointer, a pointer after a stored HoldRef word, free space, null), the
// zero-size objects, trim, free everything.
//
// Invariants, after every step, against a model of each hold:
// - every answer is the documented one: misaligned / oversized / unsupported for bad
//   layouts and resizes, double_free for an object freed before (exactly, while its
//   memory is still the hold's; else double_free or foreign_pointer through the
//   validating frees), foreign_pointer for what is not an object of the hold, and
//   nothing changes on any failure; Pack is modelled exactly (addresses, its LIFO
//   release and reset); out_of_memory from a Pool or SizeClasses only when their
//   heap really cannot give the hunk or block they need;
// - objects are aligned and at least as large as asked (exactly the documented size:
//   Pack and Pool round to 8 bytes, SizeClasses to its class's stride minus the tag),
//   inside the hold's memory, never overlapping (tags included), and each keeps its
//   pattern (resize and reallocate keep the bytes both sizes cover);
// - HoldRef::owner_of(object) is the hold, HoldRef::stats() its stats;
// - stats() equals the model (live with zero-size objects, bytes_in_use, peak_bytes;
//   bytes_free from the model for a Pack, from reserved_bytes() for the others), and
//   the heap under a Pool or SizeClasses holds exactly the bytes they say they hold;
// - everything freed, the hold's destruction gives every hunk back to the heap and
//   reports no leak.
// (The process hold is one for the whole process: its caches and empty hunks carry
// over from one input to the next, so its checks hold whatever came before.)
#include <algorithm>
#include <optional>
#include <type_traits>
#include <vector>

#include "fuzz_common.hpp"

namespace swim::mem::fuzz {
namespace {

constexpr unsigned max_ops = 96;
using Table = detail::SizeClassTable;

std::uintptr_t addr(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }
void* at(std::uintptr_t a) { return reinterpret_cast<void*>(a); }
std::size_t round8(std::size_t n) { return (n + 7) & ~std::size_t(7); }

/// A live object of the model.
struct Obj {
  Block b;            // as the hold returned it (or resized it)
  std::size_t req;    // the size asked for
  std::size_t align;  // the alignment asked for
  std::uint32_t id;   // its pattern
  bool zero;          // the shared zero-size object
  bool large;         // a block of its own (SizeClasses), whatever it was resized to
};

/// An object freed before, for double frees: `epoch` says whether anything was
/// allocated (or trimmed) since, `given_back` whether its memory left the hold.
struct Stale {
  Block b;
  std::size_t req;
  std::uint64_t epoch;
  bool given_back;
  bool large;         // a SizeClasses large object (its block goes back to the heap)
  const void* hunk;   // the control block its tag named (a Pool's hunk)
};

/// What an allocation is expected to do.
struct AllocExpect {
  Error error = Error::none;    // a certain failure
  bool zero = false;            // the shared zero-size object
  Error or_else = Error::none;  // a failure that may come instead of `error`
  bool exact = false;           // success certain (else a failure the hold checks)
  void* where = nullptr;        // Pack: the exact address
  std::size_t size = 0;         // the block size, when known (0: at least the request)
};

/// What a resize in place is expected to do.
struct ResizeExpect {
  Error error = Error::none;  // a certain failure
  bool maybe = false;         // success or out_of_memory
  std::size_t size = 0;       // the block size on success
};

// ---- The other hold: its objects are foreign to every hold under test ---------------------------

alignas(64) std::byte g_other_bytes[4096];
Pack<concurrent>& other_pack() {
  static Pack<concurrent> p(Block{g_other_bytes, sizeof g_other_bytes});
  return p;
}

// ---- Pack ----------------------------------------------------------------------------------

/// A Pack, modelled exactly: its bump mark, its live count, its reset when the last
/// object goes.
template <class Mode>
class PackHold {
 public:
  using H = Pack<Mode>;
  static constexpr bool validates = true;  // its typed free reads only inside the region
  static constexpr bool gives_back = false;
  static constexpr bool stable_units = false;  // a freed object's bytes are reused anyhow
  static constexpr bool process = false;

  const char* name() const { return Mode::is_concurrent ? "Pack<concurrent>" : "Pack<single_owner>"; }

  void set_up(Input& in, Arena& arena) {
    const std::size_t offset = in.u8();
    const std::size_t bytes = (in.u8() & 0x80) ? in.u8() : in.u32() % (256 * 1024);
    region_ = arena.take(offset, bytes, in.u8());
    pack_.emplace(region_);
    base_ = (addr(region_.ptr) + 7) & ~std::uintptr_t(7);
    cap_ = region_.size > base_ - addr(region_.ptr) ? (region_.size - (base_ - addr(region_.ptr))) & ~std::size_t(7) : 0;
    FUZZ_CHECK_EQ(pack_->capacity(), cap_);
    FUZZ_CHECK((pack_->init_error() == Error::none) == (cap_ >= 16));
    mark_ = 0;
    live_ = 0;
  }
  void tear_down() { pack_.reset(); }

  HoldRef ref() { return HoldRef::of(*pack_); }
  std::uint64_t tag_owner() const { return pack_->tag_owner(); }
  Result<Block> allocate(Layout l) { return pack_->try_allocate(l); }
  Error free_typed(Block b, bool) { return pack_->try_deallocate(b); }
  Result<Block> resize_typed(Block b, Layout l) { return pack_->try_resize(b, l); }
  Stats stats() const { return pack_->stats(); }
  void trim() {}
  Block region() const { return region_; }

  AllocExpect expect_allocate(Layout l) const {
    if (!detail::is_pow2(l.align)) return {Error::misaligned};
    if (l.size == 0 && l.align <= 64) return {Error::none, true};
    if (l.size > ~std::size_t(0) - 7) return {Error::oversized};
    const std::size_t size8 = round8(std::max<std::size_t>(l.size, 1));
    if (size8 > detail::Bump<Mode>::max_capacity) return {Error::oversized};
    const std::size_t align = std::max<std::size_t>(l.align, 8);
    const std::uintptr_t a = (base_ + mark_ * 8 + 8 + align - 1) & ~std::uintptr_t(align - 1);
    const std::size_t off = a - base_;
    if (off > cap_ || cap_ - off < size8) {
      return {size8 > cap_ ? Error::oversized : Error::out_of_memory};
    }
    AllocExpect e;
    e.exact = true;
    e.where = at(a);
    e.size = size8;
    return e;
  }
  void allocated(Layout, Block b) {
    mark_ = (addr(b.ptr) - base_ + b.size) / 8;
    ++live_;
  }
  /// Exact: expect_allocate knew.
  void out_of_memory(Layout, Error) const { fail(__FILE__, __LINE__, "a Pack failed with room left"); }

  /// A free of a live object (the zero-size one aside): the most recent one gives
  /// its bytes back, the last one resets the region.
  void freed(const Obj& o) {
    const std::uint64_t tag_mark = (addr(o.b.ptr) - 8 - base_) / 8;
    const std::uint64_t end_mark = (addr(o.b.ptr) + o.b.size - base_) / 8;
    if (live_ == 1) {
      mark_ = 0;
    } else if (mark_ == end_mark) {
      mark_ = tag_mark;
    }
    --live_;
  }

  ResizeExpect expect_resize(const Obj& o, Layout l) const {
    if (l.size > ~std::size_t(0) - 7) return {Error::oversized};
    if (l.size == 0) return {Error::unsupported};
    if (!detail::is_pow2(l.align) || addr(o.b.ptr) % l.align != 0) return {Error::misaligned};
    const std::size_t new8 = round8(l.size);
    const std::size_t off = addr(o.b.ptr) - base_;
    if (new8 > cap_ - off) return {Error::out_of_memory};
    const std::uint64_t old_end = (off + o.b.size) / 8;
    if (mark_ != old_end && new8 > o.b.size) return {Error::out_of_memory};  // not on top
    return {Error::none, false, new8};
  }
  void resized(const Obj& o, Block to) {
    const std::size_t off = addr(o.b.ptr) - base_;
    if (mark_ == (off + o.b.size) / 8) mark_ = (off + to.size) / 8;
  }

  /// bytes_free is the room above the most recent object.
  void check_stats(const Stats& s) const { FUZZ_CHECK_EQ(s.bytes_free, cap_ - mark_ * 8); }
  bool contains(Block b) const {
    return addr(b.ptr) >= base_ + 8 && addr(b.ptr) - base_ + b.size <= cap_;
  }
  /// The size of the block a request gets (0: unknown beyond at least the request).
  std::size_t granted(Layout l) const { return round8(std::max<std::size_t>(l.size, 1)); }
  void after_destroy() {}

 private:
  Block region_{};
  std::uintptr_t base_ = 0;
  std::size_t cap_ = 0;
  std::uint64_t mark_ = 0;
  std::size_t live_ = 0;
  std::optional<H> pack_;
};

// ---- Upstream heaps for Pool and SizeClasses ------------------------------------------------------

template <class Mode>
struct AddrUpstream {
  using Heap = AddrSpace<Mode, true>;
  static constexpr const char* name = "AddrSpace";
  std::optional<Heap> heap;
  void make(Input& in, Block region) { heap.emplace(region, std::size_t(64) << (in.u8() % 7)); }
};
template <class Mode>
struct ExtentUpstream {
  using Heap = ExtentHeap<Mode>;
  static constexpr const char* name = "ExtentHeap";
  std::optional<Heap> heap;
  void make(Input& in, Block region) { heap.emplace(region, std::size_t(16) << (in.u8() % 9)); }
};
template <class Mode>
struct SlabUpstream {
  using Heap = Slab<Mode, true>;
  static constexpr const char* name = "Slab";
  std::optional<Heap> heap;
  // Units of 4 to 64 KiB: each is one hunk (a multiple of 64, so hunks are aligned).
  void make(Input& in, Block region) { heap.emplace(region, std::size_t(4096) * (1 + in.u8() % 16)); }
};
template <class Mode>
struct RegionUpstream {
  using Heap = SourceHeap<StaticRegion<RegionAccess::host, Mode>, Mode>;
  static constexpr const char* name = "StaticRegion";
  std::optional<Heap> heap;
  void make(Input&, Block region) { heap.emplace(region); }
};

/// The region a heap under a hold gets: up to 1 MiB at a place the input picks.
inline Block upstream_region(Input& in, Arena& arena) {
  const std::size_t offset = 64 * (in.u8() % 64);
  const std::size_t bytes = std::size_t(64 * 1024) * (1 + in.u8() % 16);
  return arena.take(offset, bytes, in.u8());
}

/// After an allocation failed with `e`, the heap is asked directly for what the hold
/// would have needed (`l`): it must fail the same way (the probe gives back whatever
/// it got, and then the check fails).
template <class Heap>
void probe_heap(Heap& heap, Layout l, Error e) {
  const Result<Block> r = heap.try_allocate(l);
  if (r.ok()) {
    (void)heap.try_deallocate(*r);
    fail(__FILE__, __LINE__, "the hold failed while its heap had room for what it needed");
  }
  FUZZ_CHECK_ERROR(r.error(), e);
}

// ---- Pool --------------------------------------------------------------------------------------

template <template <class> class Up, class Mode, bool Checked>
class PoolHold {
 public:
  using U = Up<Mode>;
  using Heap = typename U::Heap;
  using H = Pool<Heap, Mode, Checked>;
  using Hunk = detail::PoolHunk<Mode>;
  static constexpr bool validates = Checked;
  /// Single owner over a heap that reuses blocks: a hunk that empties goes back at
  /// once (its objects' memory is then no longer the pool's to check).
  static constexpr bool gives_back = H::give_back_at_once;
  static constexpr bool stable_units = false;
  static constexpr bool process = false;

  const char* name() const {
    static const std::string n = std::string("Pool<") + U::name +
                                 (Mode::is_concurrent ? ", concurrent" : ", single_owner") +
                                 (Checked ? ", checked>" : ", unchecked>");
    return n.c_str();
  }

  void set_up(Input& in, Arena& arena) {
    up_.make(in, upstream_region(in, arena));
    region_ = Block{arena.base(), arena.size()};
    const std::uint8_t h = in.u8();
    hunk_ = h < 16 ? h : std::size_t(1024) << (h % 7);  // 0 .. 15 bytes: the minimum
    pool_.emplace(*up_.heap, hunk_);
  }
  void tear_down() { pool_.reset(); }
  void after_destroy() {
    // The destructor gave every hunk back.
    FUZZ_CHECK_EQ(up_.heap->stats().live, 0);
    up_.heap.reset();
  }

  HoldRef ref() { return HoldRef::of(*pool_); }
  std::uint64_t tag_owner() const { return pool_->tag_owner(); }
  Result<Block> allocate(Layout l) { return pool_->try_allocate(l); }
  Error free_typed(Block b, bool) { return pool_->try_deallocate(b); }
  Result<Block> resize_typed(Block b, Layout l) { return pool_->try_resize(b, l); }
  Stats stats() const { return pool_->stats(); }
  void trim() { pool_->trim(); }
  Block region() const { return region_; }
  bool registered(const void* hunk) const { return pool_->registered(static_cast<const Hunk*>(hunk)); }

  std::size_t need(Layout l) const {
    const std::size_t size8 = round8(std::max<std::size_t>(l.size, 1));
    const std::size_t align = std::max<std::size_t>(l.align, 8);
    return std::max(sizeof(Hunk) + align + size8, pool_->hunk_size());
  }
  AllocExpect expect_allocate(Layout l) const {
    if (!detail::is_pow2(l.align)) return {Error::misaligned};
    if (l.size == 0 && l.align <= 64) return {Error::none, true};
    if (l.size > (std::size_t(1) << 40) || l.align > (std::size_t(1) << 40)) return {Error::oversized};
    AllocExpect e;
    e.size = round8(std::max<std::size_t>(l.size, 1));
    return e;
  }
  void allocated(Layout, Block) {}
  /// A Pool fails only when its heap cannot give it a hunk for the request.
  void out_of_memory(Layout l, Error e) { probe_heap(*up_.heap, Layout{need(l), 64}, e); }
  void freed(const Obj&) {}

  ResizeExpect expect_resize(const Obj& o, Layout l) const {
    if (l.size == 0) return {Error::unsupported};
    if (l.size > ~std::size_t(0) - 7) return {Error::oversized};
    if (!detail::is_pow2(l.align) || addr(o.b.ptr) % l.align != 0) return {Error::misaligned};
    const std::size_t new8 = round8(l.size);
    // Shrinking always works; growing only on top of its hunk, with room.
    return {Error::none, new8 > o.b.size, new8};
  }
  void resized(const Obj&, Block) {}

  /// bytes_free is what the pool holds from its heap beyond what it handed out, and
  /// the heap holds exactly the pool's hunks.
  void check_stats(const Stats& s) const {
    const std::size_t reserved = pool_->reserved_bytes();
    FUZZ_CHECK_EQ(s.bytes_free, reserved > s.bytes_in_use ? reserved - s.bytes_in_use : 0);
    const Stats h = up_.heap->stats();
    FUZZ_CHECK_EQ(h.bytes_in_use, reserved);
    FUZZ_CHECK_EQ(h.live, pool_->hunk_count());
  }
  bool contains(Block b) const { return region_.contains(static_cast<std::byte*>(b.ptr) - 8, b.size + 8); }
  std::size_t granted(Layout l) const { return round8(std::max<std::size_t>(l.size, 1)); }

 private:
  U up_;
  Block region_{};
  std::size_t hunk_ = 0;
  std::optional<H> pool_;
};

// ---- SizeClasses ---------------------------------------------------------------------------------

template <template <class> class Up, class Mode, bool Checked>
class ClassesHold {
 public:
  using U = Up<Mode>;
  using Heap = typename U::Heap;
  using H = SizeClasses<Heap, Mode, Checked>;
  static constexpr bool validates = Checked;
  static constexpr bool gives_back = false;  // (large objects aside: see Stale::large)
  /// A freed class object's tag stays freed until its unit is handed out again (or
  /// trim() gives its hunk back): every free of it meanwhile is a double free.
  static constexpr bool stable_units = true;
  static constexpr bool process = false;

  const char* name() const {
    static const std::string n = std::string("SizeClasses<") + U::name +
                                 (Mode::is_concurrent ? ", concurrent" : ", single_owner") +
                                 (Checked ? ", checked>" : ", unchecked>");
    return n.c_str();
  }

  void set_up(Input& in, Arena& arena) {
    up_.make(in, upstream_region(in, arena));
    region_ = Block{arena.base(), arena.size()};
    hold_.emplace(*up_.heap);
    const std::uint8_t k = in.u8();
    // The cache of freed large blocks: the default, none, or a small one.
    if (k % 3 == 1) hold_->set_large_cache(0, 0);
    if (k % 3 == 2) hold_->set_large_cache(std::size_t(64) << 10, 8);
  }
  void tear_down() { hold_.reset(); }
  void after_destroy() {
    FUZZ_CHECK_EQ(up_.heap->stats().live, 0);
    up_.heap.reset();
  }

  HoldRef ref() { return HoldRef::of(*hold_); }
  std::uint64_t tag_owner() const { return hold_->tag_owner(); }
  Result<Block> allocate(Layout l) {
    // Both spellings: a Layout, and malloc's (bytes, align).
    return (l.size & 1) != 0 ? hold_->try_allocate(l.size, l.align) : hold_->try_allocate(l);
  }
  Error free_typed(Block b, bool) { return hold_->try_deallocate(b); }
  Result<Block> resize_typed(Block b, Layout l) { return hold_->try_resize(b, l); }
  Stats stats() const { return hold_->stats(); }
  void trim() { (void)hold_->trim(); }
  Block region() const { return region_; }

  static bool is_class(std::size_t n, std::size_t align) {
    return n <= Table::max_object && align <= Table::max_align;
  }
  AllocExpect expect_allocate(Layout l) const {
    if (!detail::is_pow2(l.align) || l.align > Layout::max_align) return {Error::misaligned};
    if (l.size == 0 && l.align <= 64) return {Error::none, true};
    AllocExpect e;
    e.size = granted(l);
    return e;
  }
  std::size_t granted(Layout l) const {
    const std::size_t n = std::max<std::size_t>(l.size, 1);
    if (!is_class(n, l.align)) return 0;  // a large object: at least n
    const unsigned c = l.align <= Table::align ? Table::of_object(n) : Table::of_object_aligned(n, l.align);
    return Table::stride(c) - 8;
  }
  void allocated(Layout, Block) {}
  /// The hold fails only when the heap cannot give the hunk of the class, or the
  /// large block, it asks for (kept large blocks are given back first).
  void out_of_memory(Layout l, Error e) {
    const std::size_t n = std::max<std::size_t>(l.size, 1);
    if (is_class(n, l.align)) {
      const unsigned c = l.align <= Table::align ? Table::of_object(n) : Table::of_object_aligned(n, l.align);
      probe_heap(*up_.heap, Layout{Table::hunk_bytes(c), 64}, e);
      return;
    }
    using Core = detail::ClassCore<Mode>;
    if (l.align <= Table::max_align && n <= Core::large_bin_size(Core::large_bins - 1) - Core::large_offset) {
      const std::size_t need = Core::large_offset + round8(n);
      probe_heap(*up_.heap, Layout{Core::large_bin_size(Core::large_bin_up(need)), 64}, e);
      return;
    }
    const std::size_t align = std::max<std::size_t>(l.align, Table::align);
    const std::size_t offset = (24 + align - 1) / align * align;
    if (n > ~std::size_t(0) - offset - 7) {
      FUZZ_CHECK_ERROR(e, Error::oversized);
      return;
    }
    probe_heap(*up_.heap, Layout{offset + round8(n), align}, e);
  }
  void freed(const Obj&) {}

  ResizeExpect expect_resize(const Obj& o, Layout l) const {
    if (!detail::is_pow2(l.align)) return {Error::misaligned};
    if (addr(o.b.ptr) % l.align != 0) return {Error::unsupported};
    if (l.size > o.b.size) return {Error::out_of_memory};
    return {Error::none, false, o.b.size};  // the object's whole capacity, in place
  }
  void resized(const Obj&, Block) {}

  void check_stats(const Stats& s) const {
    const std::size_t reserved = hold_->reserved_bytes();
    FUZZ_CHECK_EQ(s.bytes_free, reserved > s.bytes_in_use ? reserved - s.bytes_in_use : 0);
    FUZZ_CHECK_EQ(up_.heap->stats().bytes_in_use, reserved);
    FUZZ_CHECK(hold_->kept_large_bytes() <= reserved);
  }
  bool contains(Block b) const { return region_.contains(static_cast<std::byte*>(b.ptr) - 8, b.size + 8); }

 private:
  U up_;
  Block region_{};
  std::optional<H> hold_;
};

// ---- The process hold ------------------------------------------------------------------------------

/// try_malloc / try_free / try_free_checked: one hold for the whole process, over OS
/// pages, with a cache per thread. Requests are kept below 1 MiB. Its statistics
/// count the calling thread's cached objects as live: they are compared exactly
/// only after flush_thread_cache() (the trim operation), else as bounds.
class ProcessHold {
 public:
  static constexpr bool validates = true;  // try_free_checked
  static constexpr bool gives_back = false;
  static constexpr bool stable_units = false;  // (see free_stale; large objects are unmapped)
  static constexpr bool process = true;
  static constexpr std::size_t limit = std::size_t(1) << 20;

  const char* name() const { return "process hold (try_malloc)"; }
  void set_up(Input&, Arena&) {
    flush_thread_cache();
    base_ = process_hold_stats();
  }
  void tear_down() { flush_thread_cache(); }
  void after_destroy() {
    const Stats s = process_hold_stats();
    FUZZ_CHECK_EQ(s.live, base_.live);
    FUZZ_CHECK_EQ(s.bytes_in_use, base_.bytes_in_use);
  }

  HoldRef ref() { return process_hold(); }
  std::uint64_t tag_owner() const { return 0; }  // (no forged words: see free_foreign)
  Layout fit(Layout l) const {
    if (l.size > limit && l.size < ~std::size_t(0) / 2) l.size = limit;
    if (detail::is_pow2(l.align) && l.align > limit && l.align <= Layout::max_align) l.align = limit;
    return l;
  }
  Result<Block> allocate(Layout l) { return try_malloc(l.size, l.align); }
  /// try_free, or the validating try_free_checked.
  Error free_typed(Block b, bool checked) { return checked ? try_free_checked(b.ptr) : try_free(b.ptr); }
  Result<Block> resize_typed(Block b, Layout l) { return hold_resize(b, l); }
  /// The process hold's counters less what was live before this run.
  Stats stats() const {
    Stats s = process_hold_stats();
    s.live -= std::min(s.live, base_.live);
    s.bytes_in_use -= std::min(s.bytes_in_use, base_.bytes_in_use);
    return s;
  }
  /// True once after a flush: the counters are then exact.
  bool exact_now() {
    const bool e = exact_;
    exact_ = false;
    return e;
  }
  void trim() {
    flush_thread_cache();
    if (trims_++ % 4 == 0) (void)trim_process_hold();
    exact_ = true;
  }
  Block region() const { return Block{}; }

  std::size_t granted(Layout l) const {
    const std::size_t n = std::max<std::size_t>(l.size, 1);
    if (n > Table::max_object || l.align > Table::max_align) return 0;
    return Table::stride(l.align <= Table::align ? Table::of_object(n) : Table::of_object_aligned(n, l.align)) - 8;
  }
  AllocExpect expect_allocate(Layout l) const {
    if (!detail::is_pow2(l.align) || l.align > Layout::max_align) return {Error::misaligned};
    // Near SIZE_MAX: oversized, or out_of_memory when the pages are not there.
    if (l.size > limit) return {Error::oversized, false, Error::out_of_memory};
    AllocExpect e;
    e.size = granted(l);
    e.exact = true;  // zero bytes count as one: an object, never the shared one
    return e;
  }
  /// Through its HoldRef the hold is a SizeClasses: zero bytes are the shared
  /// zero-size object there.
  AllocExpect expect_allocate_ref(Layout l) const {
    if (l.size == 0 && detail::is_pow2(l.align) && l.align <= 64) return {Error::none, true};
    return expect_allocate(l);
  }
  void allocated(Layout, Block) {}
  void out_of_memory(Layout, Error) const { fail(__FILE__, __LINE__, "try_malloc failed below 1 MiB"); }
  void freed(const Obj&) {}
  ResizeExpect expect_resize(const Obj& o, Layout l) const {
    if (!detail::is_pow2(l.align)) return {Error::misaligned};
    if (addr(o.b.ptr) % l.align != 0) return {Error::unsupported};
    if (l.size > o.b.size) return {Error::out_of_memory};
    return {Error::none, false, o.b.size};
  }
  void resized(const Obj&, Block) {}
  void check_stats(const Stats&) const {}
  bool contains(Block) const { return true; }

 private:
  Stats base_{};
  bool exact_ = false;
  unsigned trims_ = 0;
};

// ---- The run: one hold, one sequence of operations ----------------------------------------------

/// How an object is freed.
enum class Path { typed, tag, ref };

template <class Hold>
class HoldRunner {
 public:
  HoldRunner(Hold& hold, Arena& arena) : hold_(hold), arena_(arena) {}

  void run(const std::uint8_t* data, std::size_t size) {
    Input in(data, size);
    g_context = hold_.name();
    g_step = 0;
    hold_.set_up(in, arena_);
    FUZZ_TRACE("== %s\n", hold_.name());
    // An object of another hold, foreign to this one.
    const Result<Block> other = other_pack().try_allocate(Layout{64, 8});
    FUZZ_CHECK(other.ok());
    other_ = *other;
    fill(other_.ptr, other_.size, 0xFFFFFFFFu);
    check_step();
    for (unsigned op = 0; op < max_ops && !in.empty(); ++op) {
      g_step = op + 1;
      const std::uint8_t code = in.u8();
      switch (code % 16) {
        case 0:
        case 1:
        case 2:
        case 3:
        case 4: allocate(in); break;
        case 5:
        case 6:
        case 7: free_live(in); break;
        case 8: resize(in); break;
        case 9: reallocate(in); break;
        case 10: free_stale(in); break;
        case 11: free_foreign(in); break;
        case 12: zero_objects(in); break;
        case 13:
          if (code >= 0xC0) trim();
          break;
        case 14: check_contents(false); break;
        default:
          if (code >= 0xE0) free_all();
          break;
      }
      check_step();
    }
    g_step = max_ops + 1;
    free_all();
    trim();
    check_step();
    FUZZ_CHECK(intact(other_.ptr, other_.size, 0xFFFFFFFFu, false));
    FUZZ_CHECK_ERROR(other_pack().try_deallocate(other_), Error::none);
    hold_.tear_down();
    hold_.after_destroy();
    FUZZ_CHECK_EQ(g_leaks, 0);
    arena_.release();
  }

 private:
  Layout fit(Layout l) const {
    if constexpr (requires { hold_.fit(l); }) {
      return hold_.fit(l);
    } else {
      return l;
    }
  }
  AllocExpect expect_by_ref(Layout l) const {
    if constexpr (requires { hold_.expect_allocate_ref(l); }) {
      return hold_.expect_allocate_ref(l);
    } else {
      return hold_.expect_allocate(l);
    }
  }
  Path path(std::uint8_t how) const { return static_cast<Path>((how >> 1) % 3); }
  /// Whether a path reads nothing beyond the word in front of the pointer before it
  /// knows the object is the hold's (HoldRef::try_deallocate always; the typed free
  /// of a checked hold).
  bool validating(Path p) const { return p == Path::ref || (p == Path::typed && Hold::validates); }

  Error free_by(Path p, Block b, bool alt) {
    switch (p) {
      case Path::typed: return hold_.free_typed(b, alt);
      case Path::tag: return hold_deallocate(b);
      default: return hold_.ref().try_deallocate(b);
    }
  }

  /// The control block an object's tag names (a Pool's hunk), read before its free.
  static const void* control_of(const Obj& o) {
    if (o.zero) return nullptr;
    return detail::tag_control(detail::tag_of<concurrent>(o.b.ptr).load(order::relaxed));
  }
  /// Whether a single-owner Pool gave the hunk back to its heap (it does when its
  /// last object goes and it is not the head).
  bool gave_back(const void* hunk) const {
    if constexpr (Hold::gives_back) {
      return hunk != nullptr && !hold_.registered(hunk);
    } else {
      (void)hunk;
      return false;
    }
  }

  Obj* pick(Input& in, bool with_bytes) {
    if (live_.empty()) return nullptr;
    Obj* o = &live_[in.below(live_.size())];
    if (with_bytes && o->b.size == 0) {
      for (Obj& x : live_) {
        if (x.b.size != 0) return &x;
      }
      return nullptr;
    }
    return o;
  }
  const Obj* live_at(const void* p) const {
    for (const Obj& o : live_) {
      if (o.b.ptr == p && !o.zero) return &o;
    }
    return nullptr;
  }

  /// A new object in the model (filled with its pattern; `id` 0: a new one).
  void add(Block b, std::size_t req, std::size_t align, bool zero, std::uint32_t id = 0) {
    // Large or not is decided at allocation: a resize in place keeps the kind.
    const bool large = !zero && hold_.granted(Layout{req, align}) == 0;
    Obj o{b, req, align, id != 0 ? id : next_id_++, zero, large};
    if (zero) {
      ++zeros_;
    } else {
      fill(b.ptr, b.size, o.id);
      used_ += b.size;
      peak_ = std::max(peak_, used_);
    }
    live_.push_back(o);
    ++epoch_;
  }
  /// An object gone from the model (its free already happened).
  void remove(const Obj* target, bool given_back, const void* hunk = nullptr) {
    const std::size_t i = static_cast<std::size_t>(target - live_.data());
    const Obj o = live_[i];
    live_.erase(live_.begin() + static_cast<std::ptrdiff_t>(i));
    if (o.zero) {
      --zeros_;
      return;
    }
    hold_.freed(o);
    used_ -= o.b.size;
    if (stale_.size() == 16) stale_.erase(stale_.begin());
    stale_.push_back(Stale{o.b, o.req, epoch_, given_back, o.large, hunk});
  }

  /// Check a new block against what was expected of it.
  void check_new(Layout l, const AllocExpect& e, Block b) {
    if (e.where != nullptr) FUZZ_CHECK(b.ptr == e.where);
    if (e.size != 0) {
      FUZZ_CHECK_EQ(b.size, e.size);
    } else {
      FUZZ_CHECK(b.size >= std::max<std::size_t>(l.size, 1));
    }
    FUZZ_CHECK_EQ(addr(b.ptr) % l.align, 0);
    FUZZ_CHECK_EQ(addr(b.ptr) % 8, 0);
    FUZZ_CHECK(hold_.contains(b));
  }
  void check_zero(Layout l, Block b) {
    FUZZ_CHECK(b.size == 0 && b.ptr != nullptr && addr(b.ptr) % l.align == 0);
    if (zero_ptr_ == nullptr) zero_ptr_ = b.ptr;
    FUZZ_CHECK(b.ptr == zero_ptr_);  // every zero-size object shares one address
  }
  /// A failed allocation: the expected error, or one the hold shows is right.
  void check_failed(Layout l, const AllocExpect& e, Error got) {
    if (e.error != Error::none) {
      if (e.or_else == Error::none || got != e.or_else) FUZZ_CHECK_ERROR(got, e.error);
      return;
    }
    FUZZ_CHECK(!e.exact && !e.zero);
    FUZZ_CHECK(got == Error::out_of_memory || got == Error::oversized || got == Error::misaligned);
    hold_.out_of_memory(l, got);
  }

  void allocate(Input& in) {
    const std::size_t size = in.size();
    const std::size_t align = in.align();
    const std::uint8_t how = in.u8();
    const Layout l = fit(make_layout(size, align));
    const AllocExpect e = (how & 1) ? expect_by_ref(l) : hold_.expect_allocate(l);
    const Result<Block> r = (how & 1) ? hold_.ref().try_allocate(l) : hold_.allocate(l);
    FUZZ_TRACE("[%u] allocate %zu align %zu -> %s %p %zu\n", g_step, l.size, l.align,
               to_string(r.error()), r.ok() ? r->ptr : nullptr, r.ok() ? r->size : 0);
    if (!r.ok()) {
      check_failed(l, e, r.error());
      return;
    }
    FUZZ_CHECK(e.error == Error::none);
    if (e.zero) {
      check_zero(l, *r);
      add(*r, 0, l.align, true);
      return;
    }
    check_new(l, e, *r);
    hold_.allocated(l, *r);
    add(*r, l.size, l.align, false);
  }

  void free_live(Input& in) {
    Obj* o = pick(in, false);
    const std::uint8_t how = in.u8();
    if (o == nullptr) return;
    Block b = o->b;
    if ((how & 1) && !o->zero) b.size = o->req;  // the size asked for
    if (!o->zero) FUZZ_CHECK(intact(o->b.ptr, o->b.size, o->id, false));
    const void* hunk = control_of(*o);
    const Error got = free_by(path(how), b, (how & 8) != 0);
    FUZZ_TRACE("[%u] free %p %zu path %d -> %s\n", g_step, b.ptr, b.size, int(path(how)), to_string(got));
    FUZZ_CHECK_ERROR(got, Error::none);
    remove(o, gave_back(hunk), hunk);
  }

  /// An object freed before, freed again.
  void free_stale(Input& in) {
    if (stale_.empty()) return;
    const Stale s = stale_[in.below(stale_.size())];
    const std::uint8_t how = in.u8();
    if (live_at(s.b.ptr) != nullptr) return;  // its place holds an object again
    const Path p = path(how);
    Block b = s.b;
    if (how & 1) b.size = s.req;
    // Its hunk may have gone back to the heap since (a single-owner Pool gives a hunk
    // back when its last object goes): then it is no longer the hold's to check.
    const bool given_back = s.given_back || gave_back(s.hunk);
    // Right after its free (nothing allocated since, its memory still the hold's), or
    // while its unit stays a freed unit of the hold, its tag says freed: a double free
    // on every path.
    bool exact = s.epoch == epoch_ && !given_back;
    if (Hold::stable_units && !given_back && !s.large) exact = true;
    if (s.large && (s.epoch != epoch_ || Hold::process)) return;  // the heap's (or unmapped) now
    bool any_path = exact;
    if constexpr (Hold::process) {
      // Over OS pages a hunk that empties may give its units' pages back at once (the
      // free itself may do it): the tag then reads as no tag, foreign_pointer. Every
      // path reads only that word.
      exact = false;
      any_path = true;
    }
    if (!any_path && !validating(p)) return;  // a trusting free would follow whatever is there
    // A large object's block went back to the heap at its free (unless kept): its
    // words are the heap's now, poisoned under ASan (config/poison.hpp); only a
    // validating free, which peeks at the tag, may look at them.
    if (s.large && !validating(p)) return;
    const Error got = free_by(p, b, (how & 8) != 0);
    FUZZ_TRACE("[%u] free again %p %zu path %d -> %s\n", g_step, b.ptr, b.size, int(p), to_string(got));
    if (exact) {
      FUZZ_CHECK_ERROR(got, Error::double_free);
    } else {
      FUZZ_CHECK(got == Error::double_free || got == Error::foreign_pointer);
    }
  }

  /// What is no object of this hold.
  void free_foreign(Input& in) {
    const std::uint8_t kind = in.u8();
    const std::size_t d = in.u16();
    const Path p = path(kind >> 3);
    Obj* o = pick(in, true);
    Block b{};
    Error want = Error::foreign_pointer;
    bool trusting_ok = false;  // the paths that trust the tag may be asked too
    switch (kind % 6) {
      case 0:  // another hold's object: refused, and that hold is untouched
        b = other_;
        trusting_ok = p != Path::tag;  // (hold_deallocate would free it in its hold)
        break;
      case 1:  // inside an object, at a word boundary: the word in front is its data
        if (o == nullptr || o->b.size < 16) return;
        b = Block{static_cast<std::byte*>(o->b.ptr) + 8 * (1 + d % (o->b.size / 8 - 1)), 8};
        break;
      case 2:  // misaligned: refused before anything is read
        if (o == nullptr) return;
        b = Block{static_cast<std::byte*>(o->b.ptr) + 1 + d % 7, o->b.size};
        trusting_ok = true;
        break;
      case 3:  // null (try_free takes it as nothing to do)
        b = Block{nullptr, 8};
        trusting_ok = true;
        if (Hold::process && p == Path::typed) want = Error::none;
        break;
      case 4: {  // the word after a HoldRef kept in an object: never read as a tag
        if (Hold::process || o == nullptr || o->b.size < 16) return;
        auto* words = static_cast<std::uint64_t*>(o->b.ptr);
        const std::size_t i = d % (o->b.size / 8 - 1);
        words[i] = ~hold_.tag_owner();
        b = Block{&words[i + 1], 8};
        const Error got = free_by(validating(p) ? p : Path::ref, b, true);
        fill(o->b.ptr, o->b.size, o->id);
        FUZZ_CHECK_ERROR(got, Error::foreign_pointer);
        return;
      }
      default:  // a class object with more than its capacity: SizeClasses check the size
        if (!can_oversize() || o == nullptr || o->large) return;
        b = Block{o->b.ptr, o->b.size + 8 * (1 + d % 8)};
        trusting_ok = true;
        break;
    }
    if (!validating(p) && !trusting_ok) return;
    const Stats before = hold_.stats();
    const Error got = free_by(p, b, true);
    FUZZ_TRACE("[%u] free foreign kind %d %p %zu path %d -> %s\n", g_step, kind % 6, b.ptr, b.size, int(p),
               to_string(got));
    FUZZ_CHECK_ERROR(got, want);
    if constexpr (!Hold::process) FUZZ_CHECK_EQ(hold_.stats().live, before.live);
    FUZZ_CHECK_EQ(other_pack().stats().live, 1);
  }
  /// SizeClasses refuse a class object freed with more than its capacity.
  static constexpr bool can_oversize() { return Hold::stable_units && !Hold::process; }

  void zero_objects(Input& in) {
    const std::uint8_t how = in.u8();
    if (zero_ptr_ == nullptr) return;
    Path p = path(how);
    if ((how & 1) != 0) {
      if (Hold::process && p == Path::typed) p = Path::ref;  // (try_free takes no size)
      // With bytes, the shared zero-size address is no object.
      FUZZ_CHECK_ERROR(free_by(p, Block{zero_ptr_, 8}, true), Error::foreign_pointer);
      return;
    }
    // Zero-size objects are counted: a free past the count is a double free.
    const Error got = free_by(p, Block{zero_ptr_, 0}, true);
    if (zeros_ == 0) {
      FUZZ_CHECK_ERROR(got, Error::double_free);
      return;
    }
    FUZZ_CHECK_ERROR(got, Error::none);
    for (const Obj& o : live_) {
      if (o.zero) {
        remove(&o, false);
        break;
      }
    }
  }

  void resize(Input& in) {
    Obj* o = pick(in, true);
    const std::size_t size = in.size();
    const std::size_t align = in.align();
    const std::uint8_t how = in.u8();
    if (o == nullptr) return;
    const Layout l = fit(make_layout(size, align));
    const ResizeExpect e = hold_.expect_resize(*o, l);
    const Result<Block> r = (how & 1) ? resize_by_tag(o->b, l) : hold_.resize_typed(o->b, l);
    FUZZ_TRACE("[%u] resize %p %zu to %zu align %zu -> %s %zu\n", g_step, o->b.ptr, o->b.size, l.size, l.align,
               to_string(r.error()), r.ok() ? r->size : 0);
    if (e.error != Error::none) {
      FUZZ_CHECK(!r.ok());
      FUZZ_CHECK_ERROR(r.error(), e.error);
      return;
    }
    if (!r.ok()) {
      FUZZ_CHECK(e.maybe);
      FUZZ_CHECK_ERROR(r.error(), Error::out_of_memory);
      return;
    }
    FUZZ_CHECK(r->ptr == o->b.ptr && r->size == e.size);  // in place, never moved
    const std::size_t keep = std::min(o->b.size, r->size);
    FUZZ_CHECK(intact_prefix(o->b.ptr, keep, o->b.size, o->id));
    hold_.resized(*o, *r);
    used_ = used_ - o->b.size + r->size;
    peak_ = std::max(peak_, used_);
    o->b = *r;
    o->req = l.size;
    fill(o->b.ptr, o->b.size, o->id);
    ++epoch_;  // (growing in place may cover what a freed object left)
  }
  static Result<Block> resize_by_tag(Block b, Layout l) { return hold_resize(b, l); }

  void reallocate(Input& in) {
    Obj* o = pick(in, false);
    const std::size_t size = in.size();
    const std::size_t align = in.align();
    if (o == nullptr) return;
    const Layout l = fit(make_layout(size, align));
    const Obj old = *o;
    // In place when the hold resizes it there, else a new object and a copy.
    ResizeExpect in_place{Error::unsupported};
    if (old.b.size != 0 && l.size != 0 && detail::is_pow2(l.align)) in_place = hold_.expect_resize(old, l);
    const AllocExpect e = expect_by_ref(l);
    const std::size_t index = static_cast<std::size_t>(o - live_.data());
    const void* hunk = control_of(old);
    const Result<Block> r = hold_.ref().try_reallocate(old.b, l);
    FUZZ_TRACE("[%u] reallocate %p %zu to %zu align %zu -> %s %p %zu\n", g_step, old.b.ptr, old.b.size, l.size,
               l.align, to_string(r.error()), r.ok() ? r->ptr : nullptr, r.ok() ? r->size : 0);
    if (!detail::is_pow2(l.align)) {
      FUZZ_CHECK(!r.ok());
      FUZZ_CHECK_ERROR(r.error(), Error::misaligned);
      return;
    }
    const bool may_move = in_place.error != Error::none || in_place.maybe;
    if (!r.ok()) {
      FUZZ_CHECK(may_move);
      check_failed(l, e, r.error());
      return;
    }
    if (r->ptr == old.b.ptr && !old.zero && l.size != 0) {
      FUZZ_CHECK(in_place.error == Error::none && r->size == in_place.size);
      FUZZ_CHECK(intact_prefix(old.b.ptr, std::min(old.b.size, r->size), old.b.size, old.id));
      hold_.resized(*o, *r);
      used_ = used_ - o->b.size + r->size;
      peak_ = std::max(peak_, used_);
      o->b = *r;
      o->req = l.size;
      fill(o->b.ptr, o->b.size, o->id);
      ++epoch_;
      return;
    }
    // Moved: a new object with the old one's first bytes (whole words), the old freed.
    FUZZ_CHECK(may_move);
    FUZZ_CHECK(e.error == Error::none);
    const std::size_t copied = std::min(old.b.size, r->size) & ~std::size_t(7);
    if (e.zero) {
      check_zero(l, *r);
    } else {
      check_new(l, e, *r);
      FUZZ_CHECK(intact_prefix(r->ptr, copied, old.b.size, old.id));
      hold_.allocated(l, *r);
    }
    add(*r, e.zero ? 0 : l.size, l.align, e.zero, 0);
    remove(&live_[index], gave_back(hunk), hunk);
  }

  void trim() {
    hold_.trim();
    ++epoch_;
    // Hunks went back to the heap: their freed objects are no longer the hold's.
    for (Stale& s : stale_) s.given_back = true;
    if (Hold::process) stale_.clear();  // (unmapped)
  }

  void free_all() {
    while (!live_.empty()) {
      const Obj& o = live_.back();
      if (!o.zero) FUZZ_CHECK(intact(o.b.ptr, o.b.size, o.id, false));
      const void* hunk = control_of(o);
      FUZZ_CHECK_ERROR(hold_deallocate(o.b), Error::none);
      remove(&o, gave_back(hunk), hunk);
    }
  }

  void check_contents(bool quick) const {
    for (const Obj& o : live_) {
      if (!o.zero) FUZZ_CHECK(intact(o.b.ptr, o.b.size, o.id, quick));
    }
  }

  void check_step() {
    const Stats s = hold_.stats();
    bool exact = true;
    if constexpr (Hold::process) exact = hold_.exact_now();
    if (exact) {
      FUZZ_CHECK_EQ(s.live, live_.size());
      FUZZ_CHECK_EQ(s.bytes_in_use, used_);
      if (!Hold::process) FUZZ_CHECK_EQ(s.peak_bytes, peak_);
    } else {
      // Objects in this thread's cache count as live until it is flushed.
      FUZZ_CHECK(s.live >= live_.size() && s.bytes_in_use >= used_);
    }
    hold_.check_stats(s);
    if constexpr (!Hold::process) {
      const Stats r = hold_.ref().stats();
      FUZZ_CHECK(r.live == s.live && r.bytes_in_use == s.bytes_in_use && r.bytes_free == s.bytes_free &&
                 r.peak_bytes == s.peak_bytes);
    }
    // Objects with their tags never overlap; each names this hold.
    order_.clear();
    for (const Obj& o : live_) {
      if (o.zero) {
        FUZZ_CHECK(o.b.ptr == zero_ptr_);
      } else {
        order_.push_back(&o);
      }
    }
    std::sort(order_.begin(), order_.end(),
              [](const Obj* x, const Obj* y) { return addr(x->b.ptr) < addr(y->b.ptr); });
    const HoldRef me = hold_.ref();
    for (std::size_t i = 0; i < order_.size(); ++i) {
      const Block b = order_[i]->b;
      if (i + 1 < order_.size()) FUZZ_CHECK(addr(b.ptr) + b.size + 8 <= addr(order_[i + 1]->b.ptr));
      FUZZ_CHECK(HoldRef::owner_of(b.ptr) == me);
    }
    if (zero_ptr_ != nullptr && zeros_ != 0) FUZZ_CHECK(HoldRef::owner_of(zero_ptr_) == me);
    check_contents(true);
  }

  Hold& hold_;
  Arena& arena_;
  Block other_{};
  std::vector<Obj> live_;
  std::vector<Stale> stale_;
  std::vector<const Obj*> order_;
  void* zero_ptr_ = nullptr;
  std::size_t zeros_ = 0;
  std::size_t used_ = 0;
  std::size_t peak_ = 0;
  std::uint64_t epoch_ = 0;
  std::uint32_t next_id_ = 1;
};

Arena& hold_arena() {
  static Arena a(1536 * 1024);
  return a;
}

template <class Hold>
void run_hold(const std::uint8_t* data, std::size_t size) {
  Hold hold;
  HoldRunner<Hold>(hold, hold_arena()).run(data, size);
}

template <template <class> class Up, class Mode>
void run_over(const std::uint8_t* data, std::size_t size) {
  run_hold<PoolHold<Up, Mode, true>>(data, size);
  run_hold<PoolHold<Up, Mode, false>>(data, size);
}
template <template <class> class Up, class Mode>
void run_classes_over(const std::uint8_t* data, std::size_t size) {
  run_hold<ClassesHold<Up, Mode, true>>(data, size);
  run_hold<ClassesHold<Up, Mode, false>>(data, size);
}

}  // namespace
}  // namespace swim::mem::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace swim::mem;
  using namespace swim::mem::fuzz;
  install_leak_counter();
  run_hold<PackHold<concurrent>>(data, size);
  run_hold<PackHold<single_owner>>(data, size);
  run_over<AddrUpstream, concurrent>(data, size);
  run_over<AddrUpstream, single_owner>(data, size);
  run_over<ExtentUpstream, concurrent>(data, size);
  run_over<ExtentUpstream, single_owner>(data, size);
  run_over<SlabUpstream, concurrent>(data, size);
  run_over<SlabUpstream, single_owner>(data, size);
  run_over<RegionUpstream, concurrent>(data, size);
  run_over<RegionUpstream, single_owner>(data, size);
  run_classes_over<AddrUpstream, concurrent>(data, size);
  run_classes_over<AddrUpstream, single_owner>(data, size);
  run_classes_over<ExtentUpstream, concurrent>(data, size);
  run_classes_over<ExtentUpstream, single_owner>(data, size);
  run_hold<ProcessHold>(data, size);
  return 0;
}
