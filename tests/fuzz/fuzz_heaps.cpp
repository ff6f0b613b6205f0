// libFuzzer harness: the heaps (include/swim/mem/heaps/), every kind in
// heaps/heap_kinds.hpp that host code runs (Slab, AddrSpace, SlabCache, ExtentHeap,
// SourceHeap over StaticRegion and OsPages; both modes, both Checked values), plus
// ExtentHeap with its records apart from the range and a SlabCache of 4 units.
//
// Input: the same bytes drive every heap in turn, each from a fresh heap. The first
// bytes set the heap up (unit / page / granule size, where in the arena its region
// starts and how long it is), then come up to max_ops operations, one byte each
// followed by its arguments:
//   allocate (size, alignment: any magnitude, bad alignments too; an owner word for
//   ExtentHeap), free the k-th live block (as returned, or with the size asked for),
//   free a block freed before (double free), free a foreign / interior / resized
//   pointer, free a zero-size block, a heap's own operations (ExtentHeap:
//   try_allocate_at, set_owner, extent_at, largest_free_extent), free everything.
//
// Invariants, after every step, against a model of each heap:
// - every answer is the documented one: the exact Error for bad layouts, bad frees,
//   double frees and foreign pointers (checked heaps; unchecked ones only get what
//   they validate in every build), and out_of_memory only when the model agrees the
//   heap has no room for the request (Slab, SlabCache, AddrSpace and StaticRegion
//   exactly; ExtentHeap whenever a free extent is long enough for its search to
//   find); a failed call changes nothing;
// - live blocks lie inside the heap's managed range, never overlap, have at least
//   the size asked for (exactly the documented rounding) and the alignment asked;
// - each live block keeps the pattern written into it (its ends and words after
//   every step, all of it when freed); heaps that keep no state in their pages
//   (AddrSpace, ExtentHeap, StaticRegion) touch neither free nor live pages, and no
//   heap touches memory outside its region (AddressSanitizer poisoning);
// - stats() equals the model (live, bytes_in_use, bytes_free, peak_bytes);
// - ExtentHeap's extents, walked with extent_at, are the model's, free ones
//   coalesced;
// - once everything is freed the heap is whole again (its largest block can be
//   allocated) and its destruction reports no leak.
#include <algorithm>
#include <optional>
#include <type_traits>
#include <vector>

#include "fuzz_common.hpp"

namespace swim::mem::fuzz {
namespace {

constexpr unsigned max_ops = 96;

std::uintptr_t addr(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }
void* at(std::uintptr_t a) { return reinterpret_cast<void*>(a); }
std::size_t align_up(std::size_t x, std::size_t a) { return (x + a - 1) & ~(a - 1); }
unsigned log2_floor(std::size_t x) { return 63u - static_cast<unsigned>(__builtin_clzll(x)); }
unsigned log2_ceil(std::size_t x) { return x <= 1 ? 0u : log2_floor(x - 1) + 1; }
std::size_t low_bit(std::uintptr_t x) { return static_cast<std::size_t>(x & (~x + 1)); }

/// A block the model knows to be live.
struct Live {
  Block b;            // as the heap returned it
  std::size_t req;    // the size asked for
  std::size_t align;  // the alignment asked for
  std::uint32_t id;   // its fill pattern
  std::uint64_t owner;
};

/// What the model expects of a free: the Error; whether it frees the live block
/// that starts there (else it is a no-op or refused); and whether the heap promises
/// to answer it at all (an unchecked heap may trust a block that is not live: then
/// the harness must not try).
struct FreeExpect {
  Error error = Error::none;
  bool frees = false;
  bool allowed = true;
};
inline constexpr FreeExpect refused(Error e) { return FreeExpect{e, false, true}; }
inline constexpr FreeExpect frees_it{Error::none, true, true};
inline constexpr FreeExpect no_op{Error::none, false, true};
inline constexpr FreeExpect untried{Error::none, false, false};

/// What the model expects of an allocation.
struct AllocExpect {
  Error error = Error::none;    // a certain failure, or none
  bool zero = false;            // success with the dangling Block{(void*)align, 0}
  Error or_else = Error::none;  // a failure that may be this one instead
};

// A family models one heap type for the runner below: set_up / tear_down (the heap
// over a region of the arena, its parameters from the input), allocate / deallocate
// (the calls), expect_allocate / allocated / out_of_memory (what an allocation must
// do, the model's update, whether out_of_memory was right), expect_free / freed (the
// same for a free), expected_stats, check_state (invariants of the heap's own
// state), extra (its own operations) and check_whole (once everything is freed).
// `fills`: the blocks' bytes are the harness's to write (else they stay poisoned);
// `quiet`: the heap keeps no state in the pages it manages, so the harness poisons
// those pages while they are free, and a block while its free is under way.

// ---- Slab and SlabCache -------------------------------------------------------------------

template <class Mode, bool Checked, bool Cached, std::size_t N = 64, class Addr = direct_address>
class SlabFamily {
 public:
  using SlabT = Slab<Mode, Checked, Addr>;
  static constexpr bool relative = std::is_same_v<Addr, relative_address>;
  using Heap = std::conditional_t<Cached, SlabCache<SlabT, N>, SlabT>;
  static constexpr bool fills = true;
  static constexpr bool quiet = false;

  const char* name() const {
    if constexpr (relative) {
      return Checked ? "Slab<concurrent, checked, relative_address>"
                     : "Slab<concurrent, unchecked, relative_address>";
    } else if constexpr (Cached && N != 64) {
      return Mode::is_concurrent ? "SlabCache<Slab<concurrent, unchecked>, 4>"
                                 : "SlabCache<Slab<single_owner, checked>, 4>";
    } else if constexpr (Cached) {
      return Mode::is_concurrent ? (Checked ? "SlabCache<Slab<concurrent, checked>>"
                                            : "SlabCache<Slab<concurrent, unchecked>>")
                                 : (Checked ? "SlabCache<Slab<single_owner, checked>>"
                                            : "SlabCache<Slab<single_owner, unchecked>>");
    }
    return Mode::is_concurrent ? (Checked ? "Slab<concurrent, checked>" : "Slab<concurrent, unchecked>")
                               : (Checked ? "Slab<single_owner, checked>"
                                          : "Slab<single_owner, unchecked>");
  }

  void set_up(Input& in, Arena& arena) {
    const std::uint8_t u = in.u8();
    if ((u & 3) == 0) {
      unit_ = std::size_t(1) << (2 + (u >> 2) % 11);  // 4 .. 4096, the shift path
    } else if ((u & 3) == 1) {
      unit_ = 4 * (1 + in.u16() % 1024u);  // any multiple of 4, the division path
    } else if ((u & 3) == 2) {
      unit_ = 4 * (1 + (u >> 2) % 32u);
    } else {
      unit_ = (u >> 2) % 8;  // unusable: below 4 or not a multiple of 4
    }
    const std::size_t offset = in.u8();
    const std::size_t units = 1 + in.u8() % 100u;
    region_ = arena.take(offset, units * (unit_ == 0 ? 1 : unit_) + in.u8(), in.u8());
    slab_.emplace(region_, unit_);
    if constexpr (Cached) cache_.emplace(*slab_);
    count_ = slab_->block_count();
    align_ = slab_->alignment();
    const bool usable = unit_ >= 4 && unit_ % 4 == 0;
    if (!usable) FUZZ_CHECK_ERROR(slab_->init_error(), Error::invalid_argument);
    FUZZ_CHECK((slab_->init_error() == Error::none) == (count_ != 0));
    if (usable) {
      // The units fill the hunk: all but the alignment padding of the first unit
      // and, checked beyond 64 units, the bitmap (one bit per unit) in front.
      const std::size_t most = region_.size / unit_;
      const std::size_t bitmap = Checked && most > 64 ? (most + 63) / 64 * 8 : 0;
      const std::size_t lost = 7 + bitmap + std::min<std::size_t>(low_bit(unit_), 4096);
      const std::size_t least = region_.size > lost ? (region_.size - lost) / unit_ : 0;
      FUZZ_CHECK(count_ >= least && count_ <= most);
    }
    if (count_ != 0) {
      // A unit is aligned to the largest power of two dividing its size, up to 4096.
      FUZZ_CHECK_EQ(align_, std::min<std::size_t>(low_bit(unit_), 4096));
    }
    live_ = 0;
    peak_ = 0;
  }
  void tear_down() {
    if constexpr (Cached) cache_.reset();
    slab_.reset();
  }

  Heap& heap() {
    if constexpr (Cached) {
      return *cache_;
    } else {
      return *slab_;
    }
  }
  Result<Block> allocate(Layout l, std::uint64_t) { return heap().try_allocate(l); }
  Error deallocate(Block b, std::uint64_t) { return heap().try_deallocate(b); }
  Stats stats() const {
    if constexpr (Cached) {
      return cache_->stats();
    } else {
      return slab_->stats();
    }
  }

  AllocExpect expect_allocate(Layout l) const {
    if (!detail::is_pow2(l.align)) return {Error::misaligned};
    if (l.size == 0) return {Error::none, true};
    if (l.size > unit_) return {Error::oversized};
    if (l.align > align_) return {count_ == 0 ? Error::out_of_memory : Error::misaligned};
    if (live_ == count_) return {Error::out_of_memory};
    return {};
  }
  void allocated(Layout, Block b, std::uint64_t) {
    FUZZ_CHECK_EQ(b.size, unit_);
    FUZZ_CHECK(slab_->owns(b.ptr) && slab_->owns(static_cast<std::byte*>(b.ptr) + b.size - 1));
    FUZZ_CHECK_EQ(addr(b.ptr) % align_, 0);
    if (first_unit_ == 0) first_unit_ = addr(b.ptr);
    ++live_;
    peak_ = std::max(peak_, live_);
  }
  void out_of_memory(Layout) const { FUZZ_CHECK_EQ(live_, count_); }

  /// A free of `b` with owner word `owner`; `live` is the live block that starts
  /// there, if any.
  FreeExpect expect_free(Block b, const Live* live, std::uint64_t) const {
    if (b.size == 0) return no_op;
    if (live != nullptr && b.size <= unit_) return frees_it;
    if (!Checked) return untried;  // unchecked: only live blocks
    if (!slab_->owns(b.ptr) || b.size > unit_) return refused(Error::foreign_pointer);
    if (live != nullptr) return refused(Error::foreign_pointer);  // (too large, above)
    // Inside the units: a unit start (once handed out, now free) or not.
    return refused(was_unit_start(addr(b.ptr)) ? Error::double_free : Error::foreign_pointer);
  }
  void freed(const Live&) { --live_; }

  Stats expected_stats() const {
    return Stats{live_, live_ * unit_, (count_ - live_) * unit_, peak_ * unit_};
  }
  /// SlabCache: the Slab's peak counts the units the cache holds.
  bool exact_peak() const { return !Cached; }
  std::size_t max_peak() const { return count_ * unit_; }

  bool in_range(Block b) const { return slab_->owns(b.ptr); }
  Block managed() const { return region_; }
  Block region() const { return region_; }

  void check_state() const {}
  template <class Runner>
  void extra(Input&, Runner&) {}
  /// Everything freed: every unit can be had again.
  void check_whole() {
    if (count_ == 0) return;
    std::vector<Block> got;
    for (std::size_t i = 0; i < count_; ++i) {
      const Result<Block> r = heap().try_allocate(Layout{unit_, 1});
      FUZZ_CHECK(r.ok());
      got.push_back(*r);
    }
    const Result<Block> more = heap().try_allocate(Layout{unit_, 1});
    FUZZ_CHECK(!more.ok() && more.error() == Error::out_of_memory);
    for (const Block& b : got) FUZZ_CHECK_ERROR(heap().try_deallocate(b), Error::none);
  }
  /// Whether `a` is a unit start (the units are a fixed stride apart, and the model
  /// knows one of them once a block was handed out).
  bool was_unit_start(std::uintptr_t a) const {
    if (first_unit_ == 0) return false;
    const std::uintptr_t d = a >= first_unit_ ? a - first_unit_ : first_unit_ - a;
    return d % unit_ == 0;
  }

 private:
  Block region_{};
  std::size_t unit_ = 0;
  std::size_t count_ = 0;
  std::size_t align_ = 1;
  std::size_t live_ = 0;
  std::size_t peak_ = 0;
  std::uintptr_t first_unit_ = 0;
  std::optional<SlabT> slab_;
  std::optional<SlabCache<SlabT, N>> cache_;
};

// ---- AddrSpace ------------------------------------------------------------------------------

template <class Mode, bool Checked>
class AddrFamily {
 public:
  using Heap = AddrSpace<Mode, Checked>;
  static constexpr bool fills = true;
  static constexpr bool quiet = true;

  const char* name() const {
    return Mode::is_concurrent
               ? (Checked ? "AddrSpace<concurrent, checked>" : "AddrSpace<concurrent, unchecked>")
               : (Checked ? "AddrSpace<single_owner, checked>" : "AddrSpace<single_owner, unchecked>");
  }

  void set_up(Input& in, Arena& arena) {
    const std::uint8_t p = in.u8();
    page_ = (p & 0x80) == 0 ? std::size_t(64) << (p % 7) : std::size_t(p & 0x7F);  // some unusable
    const std::size_t offset = in.u16() % 8192u;
    const std::size_t bytes = in.u32() % (arena.size() - 8192 + 1);
    region_ = arena.take(offset, bytes, in.u8());
    heap_.emplace(region_, page_);
    cap_ = heap_->capacity();
    const bool usable_page = detail::is_pow2(page_) && page_ >= 64;
    FUZZ_CHECK((heap_->init_error() == Error::none) == (cap_ != 0));
    if (cap_ == 0) {
      FUZZ_CHECK_ERROR(heap_->init_error(), Error::invalid_argument);
      FUZZ_CHECK(heap_->max_block() == 0 && heap_->max_align() == 0);
      // A usable page size over a region of a few pages and some room for the
      // order table, bitmaps and tags always gives pages.
      FUZZ_CHECK(!usable_page || region_.size < 4 * page_ + 4096 + region_.size / 8);
      pages_ = 0;
    } else {
      FUZZ_CHECK(usable_page);
      FUZZ_CHECK_EQ(cap_ % page_, 0);
      base_ = align_up(addr(region_.ptr), page_);
      FUZZ_CHECK(base_ + cap_ <= addr(region_.end()));
      pages_ = cap_ / page_;
      top_ = log2_floor(pages_);
      FUZZ_CHECK_EQ(heap_->max_block(), page_ << top_);
      FUZZ_CHECK_EQ(heap_->max_align(), std::min(low_bit(base_), page_ << top_));
      // The pages start at the region's first page boundary, the metadata after them.
      poison(at(base_), cap_);
    }
    used_.assign(pages_, 0);
    tags_.assign(pages_, 0);
    in_use_ = peak_ = live_ = 0;
  }
  void tear_down() { heap_.reset(); }

  Result<Block> allocate(Layout l, std::uint64_t) { return heap_->try_allocate(l); }
  Error deallocate(Block b, std::uint64_t) { return heap_->try_deallocate(b); }
  Stats stats() const { return heap_->stats(); }

  /// The order of a request, or false when no block is that large.
  bool order_of(std::size_t size, unsigned& k) const {
    const std::size_t pages = size / page_ + (size % page_ != 0 ? 1 : 0);
    if (pages > (std::size_t(1) << top_)) return false;
    k = log2_ceil(pages);
    return true;
  }
  bool order_for(Layout l, unsigned& k) const {
    if (!order_of(l.size, k)) return false;
    if (l.align > page_) k = std::max(k, log2_floor(l.align) - log2_floor(page_));
    return true;
  }
  /// A free block of order k in the model: an aligned run of 2^k free pages.
  bool has_room(unsigned k) const {
    const std::size_t n = std::size_t(1) << k;
    for (std::size_t i = 0; i < (pages_ >> k); ++i) {
      bool free = true;
      for (std::size_t j = 0; j < n && free; ++j) free = used_[i * n + j] == 0;
      if (free) return true;
    }
    return false;
  }

  AllocExpect expect_allocate(Layout l) const {
    if (pages_ == 0) return {Error::out_of_memory};
    if (!detail::is_pow2(l.align)) return {Error::misaligned};
    if (l.size == 0) return {Error::none, true};
    unsigned k = 0;
    if (!order_of(l.size, k)) return {Error::oversized};
    if (l.align > heap_->max_align()) return {Error::misaligned};
    return {};  // a block, or out_of_memory when the model has no room (below)
  }
  void allocated(Layout l, Block b, std::uint64_t) {
    unsigned k = 0;
    FUZZ_CHECK(order_for(l, k));
    FUZZ_CHECK_EQ(b.size, page_ << k);
    FUZZ_CHECK(addr(b.ptr) >= base_ && addr(b.ptr) - base_ + b.size <= cap_);
    const std::size_t page = (addr(b.ptr) - base_) / page_;
    FUZZ_CHECK_EQ((addr(b.ptr) - base_) % page_, 0);
    FUZZ_CHECK_EQ(page % (std::size_t(1) << k), 0);  // a block of order k at its place
    FUZZ_CHECK_EQ(addr(b.ptr) % std::min(page_ << k, heap_->max_align()), 0);
    for (std::size_t j = 0; j < (std::size_t(1) << k); ++j) {
      FUZZ_CHECK(used_[page + j] == 0);
      used_[page + j] = 1;
    }
    tags_[page] = k + 1;
    ++live_;
    in_use_ += b.size;
    peak_ = std::max(peak_, in_use_);
  }
  /// out_of_memory only when no aligned run of free pages of the order exists (with
  /// every buddy pair coalesced, that is when no free block of that order or larger
  /// exists).
  void out_of_memory(Layout l) const {
    unsigned k = 0;
    FUZZ_CHECK(order_for(l, k));
    FUZZ_CHECK(!has_room(k));
  }

  FreeExpect expect_free(Block b, const Live* live, std::uint64_t) const {
    if (b.size == 0) return no_op;
    // Validated in every build: inside the pages, page-aligned, a block size, at a
    // place of that order.
    if (pages_ == 0) return refused(Error::foreign_pointer);
    const std::uintptr_t a = addr(b.ptr);
    if (a < base_ || a - base_ >= cap_ || (a - base_) % page_ != 0) {
      return refused(Error::foreign_pointer);
    }
    unsigned k = 0;
    if (!order_of(b.size, k)) return refused(Error::foreign_pointer);
    const std::size_t page = (a - base_) / page_;
    if (page % (std::size_t(1) << k) != 0 || (page >> k) >= (pages_ >> k)) {
      return refused(Error::foreign_pointer);
    }
    // The start page's tag: k + 1 for a live block of order k, freed, or never a start.
    const std::uint32_t tag = tags_[page];
    if (tag == k + 1) {
      FUZZ_CHECK(live != nullptr);
      return frees_it;
    }
    if (!Checked) return untried;  // an unchecked free trusts the rest
    return refused(tag == tag_freed ? Error::double_free : Error::foreign_pointer);
  }
  void freed(const Live& l) {
    const std::size_t page = (addr(l.b.ptr) - base_) / page_;
    const unsigned k = tags_[page] - 1;
    for (std::size_t j = 0; j < (std::size_t(1) << k); ++j) used_[page + j] = 0;
    tags_[page] = tag_freed;
    --live_;
    in_use_ -= page_ << k;
  }

  Stats expected_stats() const { return Stats{live_, in_use_, cap_ - in_use_, peak_}; }
  bool exact_peak() const { return true; }
  std::size_t max_peak() const { return cap_; }

  bool in_range(Block b) const { return addr(b.ptr) >= base_ && addr(b.ptr) - base_ < cap_; }
  Block managed() const { return Block{at(base_), cap_}; }
  Block region() const { return region_; }

  void check_state() const {}
  template <class Runner>
  void extra(Input&, Runner&) {}
  /// Everything freed: the buddies coalesced, so the largest block is there again.
  void check_whole() {
    if (pages_ == 0) return;
    const Result<Block> r = heap_->try_allocate(Layout{heap_->max_block(), 1});
    FUZZ_CHECK(r.ok());
    unpoison(r->ptr, r->size);
    FUZZ_CHECK_ERROR(heap_->try_deallocate(*r), Error::none);
  }

 private:
  static constexpr std::uint32_t tag_freed = 0xFFFFFFFFu;
  Block region_{};
  std::size_t page_ = 0;
  std::size_t cap_ = 0;
  std::uintptr_t base_ = 0;
  std::size_t pages_ = 0;
  unsigned top_ = 0;
  std::vector<std::uint8_t> used_;
  std::vector<std::uint32_t> tags_;
  std::size_t live_ = 0, in_use_ = 0, peak_ = 0;
  std::optional<Heap> heap_;
};

// ---- ExtentHeap -----------------------------------------------------------------------------

/// ExtentHeap with its records in-band (at the end of the range) or apart from it
/// (then the range itself is never touched: it stays poisoned, blocks unfilled).
template <class Mode, bool InBand>
class ExtentFamily {
 public:
  using Heap = ExtentHeap<Mode>;
  static constexpr bool fills = InBand;
  static constexpr bool quiet = true;
  static constexpr std::uint32_t max_granules = Heap::max_granules;

  const char* name() const {
    return Mode::is_concurrent ? (InBand ? "ExtentHeap<concurrent>, in-band records"
                                         : "ExtentHeap<concurrent>, records apart")
                               : (InBand ? "ExtentHeap<single_owner>, in-band records"
                                         : "ExtentHeap<single_owner>, records apart");
  }

  explicit ExtentFamily(Arena& records) : records_arena_(&records) {}

  void set_up(Input& in, Arena& arena) {
    const std::uint8_t gb = in.u8();
    g_ = (gb & 0xE0) == 0xE0 ? std::size_t(gb & 0x1F) : std::size_t(16) << (gb % 9);  // some unusable
    const std::size_t offset = in.u16() % 8192u;
    // At most 2048 granules, so that the model's walks stay cheap.
    const std::size_t most = 2048 * (g_ + 16);
    const std::size_t bytes = std::min<std::size_t>(in.u32() % (arena.size() - 8192 + 1), most);
    region_ = arena.take(offset, bytes, in.u8());
    const bool usable = detail::is_pow2(g_) && g_ >= 16;
    const std::uintptr_t base = usable ? align_up(addr(region_.ptr), g_) : 0;
    const std::uintptr_t end = addr(region_.end());
    std::size_t n = 0;
    if constexpr (InBand) {
      if (usable && base < end) n = (end - base) / (g_ + 16);
      heap_.emplace(region_, g_);
    } else {
      if (usable && base < end) n = (end - base) / g_;
      // The records: 16-byte aligned and large enough, now and then not.
      const std::uint8_t rb = in.u8();
      const std::size_t roff = (rb & 0xC0) == 0xC0 ? 8 : 16 * (rb & 7);
      std::size_t rbytes = n * 16;
      if ((rb & 0x30) == 0x30 && rbytes != 0) rbytes -= 16;
      records_ = records_arena_->take(roff, rbytes, 0xEE);
      heap_.emplace(region_, g_, records_);
      if (roff % 16 != 0 || records_.size < n * 16) n = 0;
    }
    n_ = static_cast<std::uint32_t>(n);
    FUZZ_CHECK_EQ(heap_->capacity(), n * g_);
    FUZZ_CHECK((heap_->init_error() == Error::none) == (n != 0));
    if (n == 0) FUZZ_CHECK_ERROR(heap_->init_error(), Error::invalid_argument);
    FUZZ_CHECK(heap_->in_band() == (InBand && n != 0));
    if (n != 0) {
      base_ = base;
      FUZZ_CHECK(addr(heap_->base()) == base_);
      FUZZ_CHECK_EQ(heap_->granule(), g_);
      shift_ = log2_floor(g_);
      // Records apart: the range is never read or written, granules nor slack.
      poison(InBand ? at(base_) : region_.ptr, InBand ? n * g_ : region_.size);
    }
    used_.assign(n_, 0);
    live_len_.assign(n_, 0);
    started_.assign(n_, 0);
    owner_.assign(n_, 0);
    if (n_ != 0) started_[0] = 1;  // the first free extent
    live_ = in_use_ = peak_ = 0;
  }
  void tear_down() { heap_.reset(); }

  Result<Block> allocate(Layout l, std::uint64_t owner) { return heap_->try_allocate(l, owner); }
  Error deallocate(Block b, std::uint64_t owner) { return heap_->try_deallocate(b, owner); }

  /// Granules of a request, without wrapping around.
  std::uint64_t granules(std::size_t size) const {
    return size / g_ + (size % g_ != 0 ? 1 : 0);
  }
  std::size_t cap() const { return std::size_t(n_) * g_; }

  AllocExpect expect_allocate(Layout l) const {
    if (!detail::is_pow2(l.align)) return {Error::misaligned};
    if (l.size == 0) return {Error::none, true};
    if (n_ == 0) return {Error::out_of_memory};
    if (l.size > cap()) return {Error::oversized};
    if (l.align > g_ && (l.align >> shift_) > max_granules) return {Error::misaligned};
    return {};
  }
  /// The free run of granules around granule i: [first, end).
  void run_at(std::uint32_t i, std::uint32_t& first, std::uint32_t& end) const {
    first = i;
    while (first > 0 && used_[first - 1] == 0) --first;
    end = i;
    while (end < n_ && used_[end] == 0) ++end;
  }
  std::uint32_t longest_run() const {
    std::uint32_t best = 0, cur = 0;
    for (std::uint32_t i = 0; i < n_; ++i) {
      cur = used_[i] == 0 ? cur + 1 : 0;
      best = std::max(best, cur);
    }
    return best;
  }
  /// Granule start (the extent was cut from the free run around it): the heap now
  /// has extent starts at `first` and, if the run goes on, just past the extent.
  void take(std::uint32_t st, std::uint32_t n, std::uint64_t owner) {
    std::uint32_t f = 0, e = 0;
    run_at(st, f, e);
    FUZZ_CHECK(std::uint64_t(st) + n <= e);
    for (std::uint32_t j = st; j < st + n; ++j) used_[j] = 1;
    started_[st] = 1;
    if (st + n < e) started_[st + n] = 1;
    live_len_[st] = n;
    owner_[st] = owner;
    ++live_;
    in_use_ += std::size_t(n) * g_;
    peak_ = std::max(peak_, in_use_);
  }
  void allocated(Layout l, Block b, std::uint64_t owner) {
    const std::uint64_t n = granules(l.size);
    FUZZ_CHECK_EQ(b.size, n * g_);
    FUZZ_CHECK(addr(b.ptr) >= base_ && (addr(b.ptr) - base_) % g_ == 0);
    const std::uint64_t st = (addr(b.ptr) - base_) / g_;
    FUZZ_CHECK(st + n <= n_);
    for (std::uint64_t j = st; j < st + n; ++j) FUZZ_CHECK(used_[j] == 0);
    take(static_cast<std::uint32_t>(st), static_cast<std::uint32_t>(n), owner);
  }
  /// out_of_memory is allowed while the search may miss a fitting extent, never
  /// when a free extent of at least n + a - 1 granules, rounded up to its list's
  /// step, exists: every extent of that list or above fits.
  void out_of_memory(Layout l) const {
    const std::uint64_t n = granules(l.size);
    const std::uint64_t a = l.align > g_ ? l.align / g_ : 1;
    const std::uint64_t need = n + a - 1;
    if (need > max_granules) return;
    const std::uint64_t up = need < 16 ? need : need + (std::uint64_t(1) << (log2_floor(need) - 4)) - 1;
    if (up > max_granules) return;
    FUZZ_CHECK(longest_run() < up);
  }

  FreeExpect expect_free(Block b, const Live*, std::uint64_t owner) const {
    if (b.size == 0) return no_op;
    // Validated in every build against the records, the range untouched.
    const std::uintptr_t off = addr(b.ptr) - base_;
    if (n_ == 0 || addr(b.ptr) < base_ || off >= cap() || off % g_ != 0) {
      return refused(Error::foreign_pointer);
    }
    const std::uint32_t st = static_cast<std::uint32_t>(off / g_);
    if (live_len_[st] != 0) {
      return granules(b.size) == live_len_[st] && owner_[st] == owner
                 ? frees_it
                 : refused(Error::foreign_pointer);
    }
    // Not a live start: once the start of an extent (now free, or merged into one)
    // is a double free; a granule that never started one is foreign.
    return refused(started_[st] ? Error::double_free : Error::foreign_pointer);
  }
  void freed(const Live& l) {
    const std::uint32_t st = static_cast<std::uint32_t>((addr(l.b.ptr) - base_) / g_);
    const std::uint32_t n = live_len_[st];
    for (std::uint32_t j = st; j < st + n; ++j) used_[j] = 0;
    live_len_[st] = 0;
    owner_[st] = 0;
    --live_;
    in_use_ -= std::size_t(n) * g_;
  }

  Stats expected_stats() const { return Stats{live_, in_use_, cap() - in_use_, peak_}; }
  bool exact_peak() const { return true; }
  std::size_t max_peak() const { return cap(); }
  Stats stats() const { return heap_->stats(); }

  bool in_range(Block b) const { return addr(b.ptr) >= base_ && addr(b.ptr) - base_ < cap(); }
  Block managed() const { return Block{at(base_), cap()}; }
  Block region() const { return region_; }

  /// The extents, walked in address order with extent_at, are the model's: live
  /// ones with their owners, free ones maximal (coalesced).
  void check_state() const {
    std::uint32_t i = 0;
    while (i < n_) {
      const Result<typename Heap::Extent> x = heap_->extent_at(at(base_ + std::uintptr_t(i) * g_));
      FUZZ_CHECK(x.ok());
      const std::uint64_t len = x->block.size / g_;
      FUZZ_CHECK(len != 0 && x->block.size % g_ == 0 && i + len <= n_);
      if (x->free) {
        std::uint32_t f = 0, e = 0;
        run_at(i, f, e);
        FUZZ_CHECK(f == i && e == i + len);  // a whole run of free granules, no more
      } else {
        FUZZ_CHECK_EQ(live_len_[i], len);
        FUZZ_CHECK_EQ(x->owner, owner_[i]);
      }
      i += static_cast<std::uint32_t>(len);
    }
  }

  /// ExtentHeap's own operations.
  template <class Runner>
  void extra(Input& in, Runner& run) {
    const std::uint8_t what = in.u8();
    if (n_ == 0) return;
    switch (what % 5) {
      case 0:
      case 1: {  // try_allocate_at: a place inside a free run (or not quite)
        const std::uint32_t probe = static_cast<std::uint32_t>(in.below(n_));
        const std::uint8_t how = in.u8();
        std::uint32_t f = 0, e = 0;
        std::size_t size = 0;
        std::uint32_t st = probe;
        if (used_[probe] == 0) {
          run_at(probe, f, e);
          st = f + static_cast<std::uint32_t>(in.below(e - f));
          size = g_ * (1 + in.below(e - st)) - (how & 1u ? in.below(g_) : 0);
          if (how & 2u) size += g_ * (1 + (how >> 4));  // past the run: out_of_memory
        } else {
          size = g_ * (1 + (how >> 4));
          f = st;
        }
        if ((how & 0x0C) == 0x0C) size = 0;
        const void* start = at(base_ + std::uintptr_t(st) * g_);
        const void* free_extent = (how & 0x0C) == 0x04 ? nullptr : at(base_ + std::uintptr_t(f) * g_);
        if ((how & 0x0C) == 0x08) free_extent = at(base_ + std::uintptr_t(probe) * g_ + 1);
        const std::uint64_t owner = how & 0x80 ? 0x5eedull * (how + 1) : 0;
        // The model's answer.
        Error want = Error::none;
        const void* fe = free_extent == nullptr ? start : free_extent;
        const std::uintptr_t fo = addr(fe) - base_;
        std::uint32_t fs = 0, fend = 0;
        if (size == 0) {
          want = Error::invalid_argument;
        } else if (fo % g_ != 0 || fo >= cap()) {
          want = Error::foreign_pointer;
        } else if (size > cap()) {
          want = Error::oversized;
        } else {
          const std::uint32_t fg = static_cast<std::uint32_t>(fo / g_);
          if (used_[fg] != 0) {
            want = Error::foreign_pointer;  // live
          } else {
            run_at(fg, fs, fend);
            if (fs != fg) {
              want = Error::foreign_pointer;  // inside a free extent, not its start
            } else if (st < fs || std::uint64_t(st) + granules(size) > fend) {
              want = Error::out_of_memory;
            }
          }
        }
        const Result<Block> r = heap_->try_allocate_at(start, size, free_extent, owner);
        if (want != Error::none) {
          FUZZ_CHECK(!r.ok());
          FUZZ_CHECK_ERROR(r.error(), want);
          return;
        }
        FUZZ_CHECK(r.ok());
        FUZZ_CHECK(r->ptr == start && r->size == granules(size) * g_);
        take(st, static_cast<std::uint32_t>(granules(size)), owner);
        run.add_live(*r, size, g_, owner);
        return;
      }
      case 2: {  // set_owner on a live extent, or on something else
        Live* l = run.pick_live(in);
        const std::uint64_t owner = in.u8() * 0x10001ull;
        if (l == nullptr) return;
        Block b = l->b;
        const std::uint8_t how = in.u8();
        if (how & 1) b.size += g_;  // not its size
        if (how & 2) b.ptr = static_cast<std::byte*>(b.ptr) + g_ * (1 + how % 3);
        const std::uintptr_t off = addr(b.ptr) - base_;
        const bool live = off < cap() && off % g_ == 0 && live_len_[off / g_] == granules(b.size);
        FUZZ_CHECK_ERROR(heap_->set_owner(b, owner), live ? Error::none : Error::foreign_pointer);
        if (live) {
          owner_[off / g_] = owner;
          for (auto& x : run.live_blocks()) {
            if (x.b.ptr == b.ptr) x.owner = owner;
          }
        }
        return;
      }
      case 3: {  // extent_at anywhere: only a current extent start answers
        const std::uintptr_t p = base_ + in.below(cap() + g_);
        const Result<typename Heap::Extent> x = heap_->extent_at(at(p));
        const std::uintptr_t off = p - base_;
        bool start = false;
        if (off < cap() && off % g_ == 0) {
          const std::uint32_t i = static_cast<std::uint32_t>(off / g_);
          std::uint32_t f = 0, e = 0;
          if (used_[i] == 0) {
            run_at(i, f, e);
            start = f == i;
          } else {
            start = live_len_[i] != 0;
          }
        }
        FUZZ_CHECK(x.ok() == start);
        if (!start) FUZZ_CHECK_ERROR(x.error(), Error::foreign_pointer);
        return;
      }
      default: {  // largest_free_extent: the longest run, or one of its list
        const Result<std::size_t> r = heap_->largest_free_extent();
        FUZZ_CHECK(r.ok());
        const std::uint64_t best = longest_run();
        const std::uint64_t floor = best < 16 ? best : best & ~((std::uint64_t(1) << (log2_floor(best) - 4)) - 1);
        FUZZ_CHECK(*r % g_ == 0 && *r / g_ <= best && *r / g_ >= floor);
        return;
      }
    }
  }

  /// Everything freed: one free extent of the whole range again.
  void check_whole() {
    if (n_ == 0) return;
    const Result<std::size_t> r = heap_->largest_free_extent();
    FUZZ_CHECK(r.ok() && *r == cap());
    const Result<Block> b = heap_->try_allocate(Layout{cap(), 1});
    FUZZ_CHECK(b.ok() && b->ptr == at(base_));
    FUZZ_CHECK_ERROR(heap_->try_deallocate(*b), Error::none);
  }

 private:
  Arena* records_arena_;
  Block region_{};
  Block records_{};
  std::size_t g_ = 0;
  unsigned shift_ = 0;
  std::uint32_t n_ = 0;
  std::uintptr_t base_ = 0;
  std::vector<std::uint8_t> used_;
  std::vector<std::uint32_t> live_len_;
  std::vector<std::uint8_t> started_;  // ever the start of an extent (see expect_free)
  std::vector<std::uint64_t> owner_;
  std::size_t live_ = 0, in_use_ = 0, peak_ = 0;
  std::optional<Heap> heap_;
};

// ---- SourceHeap over StaticRegion -------------------------------------------------------------

/// SourceHeap<StaticRegion<Access, RegionMode>, Mode>: a bump source, modelled
/// exactly (its offset, the rollback of the most recent region). An unchecked heap:
/// it is given back only what it handed out, except while nothing is out (then
/// anything is foreign_pointer). The region is never touched: it stays poisoned.
template <RegionAccess Access, class RegionMode, class Mode>
class RegionFamily {
 public:
  using Heap = SourceHeap<StaticRegion<Access, RegionMode>, Mode>;
  static constexpr bool fills = false;
  static constexpr bool quiet = true;

  const char* name() const {
    if constexpr (Access == RegionAccess::host) {
      return Mode::is_concurrent ? "SourceHeap<StaticRegion<host>, concurrent>"
                                 : "SourceHeap<StaticRegion<host>, single_owner>";
    } else if constexpr (Access == RegionAccess::device) {
      return Mode::is_concurrent ? "SourceHeap<StaticRegion<device>, concurrent>"
                                 : "SourceHeap<StaticRegion<device>, single_owner>";
    } else {
      return Mode::is_concurrent ? "SourceHeap<StaticRegion<host_and_device>, concurrent>"
                                 : "SourceHeap<StaticRegion<host_and_device>, single_owner>";
    }
  }

  void set_up(Input& in, Arena& arena) {
    const std::size_t offset = in.u16() % 4096u;
    const std::size_t bytes = in.u32() % (arena.size() - 4096 + 1);
    region_ = arena.take(offset, bytes, in.u8());
    heap_.emplace(region_);
    FUZZ_CHECK_EQ(heap_->source().capacity(), region_.size);
    poison(region_.ptr, region_.size);
    top_ = 0;
    live_ = bytes_ = peak_ = 0;
  }
  void tear_down() { heap_.reset(); }

  Result<Block> allocate(Layout l, std::uint64_t) { return heap_->try_allocate(l); }
  Error deallocate(Block b, std::uint64_t) { return heap_->try_deallocate(b); }

  AllocExpect expect_allocate(Layout l) const {
    if (!detail::is_pow2(l.align)) return {Error::misaligned};
    if (l.size > region_.size) return {Error::oversized};
    const std::uintptr_t a = addr(region_.ptr) + top_;
    const std::size_t pad = static_cast<std::size_t>((std::uintptr_t(0) - a) & (l.align - 1));
    const std::size_t left = region_.size - top_;
    if (pad > left || l.size > left - pad) return {Error::out_of_memory};
    return {};  // exactly at a + pad, exactly l.size bytes (zero-size included)
  }
  void allocated(Layout l, Block b, std::uint64_t) {
    const std::uintptr_t a = addr(region_.ptr) + top_;
    const std::size_t pad = static_cast<std::size_t>((std::uintptr_t(0) - a) & (l.align - 1));
    FUZZ_CHECK(addr(b.ptr) == a + pad && b.size == l.size);
    top_ += pad + l.size;
    ++live_;
    bytes_ += b.size;
    peak_ = std::max(peak_, bytes_);
  }
  void out_of_memory(Layout) const { fail(__FILE__, __LINE__, "out_of_memory with room left"); }

  FreeExpect expect_free(Block b, const Live* live, std::uint64_t) const {
    if (live != nullptr && b.size == live->b.size) return frees_it;
    if (live_ == 0) return refused(Error::foreign_pointer);  // nothing is out
    return untried;
  }
  void freed(const Live& l) {
    // Only the most recent region comes back (its padding stays used).
    const std::size_t start = static_cast<std::size_t>(addr(l.b.ptr) - addr(region_.ptr));
    if (l.b.size != 0 && start + l.b.size == top_) top_ = start;
    --live_;
    bytes_ -= l.b.size;
  }

  Stats expected_stats() const { return Stats{live_, bytes_, 0, peak_}; }
  bool exact_peak() const { return true; }
  std::size_t max_peak() const { return region_.size; }
  Stats stats() const { return heap_->stats(); }

  bool in_range(Block b) const {
    return addr(b.ptr) >= addr(region_.ptr) && addr(b.ptr) - addr(region_.ptr) + b.size <= region_.size;
  }
  Block managed() const { return region_; }
  Block region() const { return region_; }
  void check_state() const { FUZZ_CHECK_EQ(heap_->source().used(), top_); }
  template <class Runner>
  void extra(Input&, Runner&) {}
  void check_whole() {}

 private:
  Block region_{};
  std::size_t top_ = 0;
  std::size_t live_ = 0, bytes_ = 0, peak_ = 0;
  std::optional<Heap> heap_;
};

// ---- SourceHeap over OsPages ------------------------------------------------------------------

/// SourceHeap<OsPages, Mode>: whole pages from the OS for every block. Unchecked, as
/// above; requests are kept below 1 MiB (and alignments below 1 MiB) so that a run
/// stays cheap, except sizes near SIZE_MAX.
template <class Mode>
class PagesFamily {
 public:
  using Heap = SourceHeap<OsPages, Mode>;
  static constexpr bool fills = true;
  static constexpr bool quiet = false;
  static constexpr std::size_t limit = std::size_t(1) << 20;

  const char* name() const {
    return Mode::is_concurrent ? "SourceHeap<OsPages, concurrent>" : "SourceHeap<OsPages, single_owner>";
  }

  void set_up(Input&, Arena&) {
    heap_.emplace();
    page_ = OsPages::page_size();
    live_ = bytes_ = peak_ = 0;
  }
  void tear_down() { heap_.reset(); }

  Layout fit(Layout l) const {
    if (l.size > limit && l.size < ~std::size_t(0) / 2) l.size = limit;
    if (detail::is_pow2(l.align) && l.align > limit && l.align <= Layout::max_align) l.align = limit;
    return l;
  }
  Result<Block> allocate(Layout l, std::uint64_t) { return heap_->try_allocate(l); }
  Error deallocate(Block b, std::uint64_t) { return heap_->try_deallocate(b); }

  AllocExpect expect_allocate(Layout l) const {
    if (!detail::is_pow2(l.align) || l.align > Layout::max_align) return {Error::misaligned};
    // Near SIZE_MAX: the rounding to pages overflows (oversized), or the mapping
    // (with the slack of a large alignment) does not exist (out_of_memory).
    if (l.size > limit) return {Error::oversized, false, Error::out_of_memory};
    return {};  // whole pages
  }
  void allocated(Layout l, Block b, std::uint64_t) {
    FUZZ_CHECK(l.size <= limit);
    FUZZ_CHECK_EQ(b.size, align_up(l.size == 0 ? 1 : l.size, page_));
    FUZZ_CHECK_EQ(addr(b.ptr) % std::max(l.align, page_), 0);
    ++live_;
    bytes_ += b.size;
    peak_ = std::max(peak_, bytes_);
  }
  void out_of_memory(Layout) const { fail(__FILE__, __LINE__, "no pages for a small request"); }

  FreeExpect expect_free(Block b, const Live* live, std::uint64_t) const {
    if (live != nullptr && b.size == live->b.size) return frees_it;
    if (live_ == 0) return refused(Error::foreign_pointer);
    return untried;
  }
  void freed(const Live& l) {
    --live_;
    bytes_ -= l.b.size;
  }

  Stats expected_stats() const { return Stats{live_, bytes_, 0, peak_}; }
  bool exact_peak() const { return true; }
  std::size_t max_peak() const { return ~std::size_t(0); }
  Stats stats() const { return heap_->stats(); }

  bool in_range(Block) const { return true; }
  Block managed() const { return Block{}; }
  Block region() const { return Block{}; }
  void check_state() const {}
  template <class Runner>
  void extra(Input&, Runner&) {}
  void check_whole() {}

 private:
  std::size_t page_ = 4096;
  std::size_t live_ = 0, bytes_ = 0, peak_ = 0;
  std::optional<Heap> heap_;
};

// ---- The run: one heap, one sequence of operations ---------------------------------------------

template <class Fam>
class Runner {
 public:
  Runner(Fam& fam, Arena& arena) : fam_(fam), arena_(arena) {}

  void run(const std::uint8_t* data, std::size_t size) {
    Input in(data, size);
    g_context = fam_.name();
    g_step = 0;
    fam_.set_up(in, arena_);
    FUZZ_TRACE("== %s: managed %p + %zu\n", fam_.name(), fam_.managed().ptr, fam_.managed().size);
    check_step();
    for (unsigned op = 0; op < max_ops && !in.empty(); ++op) {
      g_step = op + 1;
      const std::uint8_t code = in.u8();
      switch (code % 10) {
        case 0:
        case 1:
        case 2:
        case 3: allocate(in); break;
        case 4:
        case 5: free_live(in); break;
        case 6: free_stale(in); break;
        case 7: free_bad(in); break;
        case 8:
          if (code < 0x80) {
            free_zero(in);
          } else if (code < 0xF0) {
            check_contents(false);
          } else {
            free_all();
          }
          break;
        default: fam_.extra(in, *this); break;
      }
      check_step();
    }
    g_step = max_ops + 1;  // the end: everything goes back
    free_all();
    check_step();
    fam_.check_whole();
    fam_.tear_down();
    FUZZ_CHECK_EQ(g_leaks, 0);
    arena_.release();
  }

  // ---- What the families call back ----

  /// A block the heap handed out: filled with its pattern, then live in the model.
  void add_live(Block b, std::size_t req, std::size_t align, std::uint64_t owner) {
    Live l{b, req, align, next_id_++, owner};
    if (Fam::fills && b.size != 0) {
      unpoison(b.ptr, b.size);
      fill(b.ptr, b.size, l.id);
    }
    live_.push_back(l);
  }
  Live* pick_live(Input& in) {
    const std::size_t k = in.below(live_.size() + 1);
    return k < live_.size() ? &live_[k] : (live_.empty() ? nullptr : &live_.back());
  }
  std::vector<Live>& live_blocks() { return live_; }

 private:
  Layout fit(Layout l) const {
    if constexpr (requires { fam_.fit(l); }) {
      return fam_.fit(l);
    } else {
      return l;
    }
  }

  /// The live block that starts at `p`: the one of that size if several do (a
  /// source heap's zero-size block shares its address with the next block), else
  /// one with bytes.
  const Live* live_at(const void* p, std::size_t size) const {
    const Live* found = nullptr;
    for (const Live& l : live_) {
      if (l.b.ptr != p) continue;
      if (l.b.size == size) return &l;
      if (found == nullptr || found->b.size == 0) found = &l;
    }
    return found;
  }

  void allocate(Input& in) {
    const std::size_t size = in.size();
    const std::size_t align = in.align();
    const std::uint8_t o = in.u8();
    const std::uint64_t owner = o < 40 ? (std::uint64_t(o) + 1) * 0x0123456789ull : 0;
    const Layout l = fit(make_layout(size, align));
    const AllocExpect e = fam_.expect_allocate(l);
    const Result<Block> r = fam_.allocate(l, owner);
    FUZZ_TRACE("[%u] allocate size %zu align %zu owner %llx -> %s %p %zu\n", g_step, l.size, l.align,
               static_cast<unsigned long long>(owner), to_string(r.error()), r.ok() ? r->ptr : nullptr,
               r.ok() ? r->size : 0);
    if (e.error != Error::none) {
      FUZZ_CHECK(!r.ok());
      if (e.or_else == Error::none || r.error() != e.or_else) FUZZ_CHECK_ERROR(r.error(), e.error);
      return;
    }
    if (e.zero) {
      // The dangling zero-size block: not counted, never to be dereferenced.
      FUZZ_CHECK(r.ok() && r->ptr == at(l.align) && r->size == 0);
      return;
    }
    if (!r.ok()) {
      FUZZ_CHECK_ERROR(r.error(), Error::out_of_memory);
      fam_.out_of_memory(l);
      return;
    }
    FUZZ_CHECK(r->size >= l.size);
    FUZZ_CHECK_EQ(addr(r->ptr) % l.align, 0);
    FUZZ_CHECK(r->size == 0 || fam_.in_range(*r));
    fam_.allocated(l, *r, owner);
    add_live(*r, l.size, l.align, owner);
  }

  /// Give `b` back (owner word `owner`) as the model expects `fe`: the live block at
  /// b.ptr goes, or nothing changes.
  void give_back(Block b, std::uint64_t owner, const FreeExpect& fe) {
    give_back(live_at(b.ptr, b.size), b, owner, fe);
  }
  void give_back(const Live* target, Block b, std::uint64_t owner, const FreeExpect& fe) {
    const bool hide = Fam::quiet && Fam::fills && target != nullptr && target->b.size != 0;
    if (fe.frees) {
      FUZZ_CHECK(target != nullptr);
      if (Fam::fills) FUZZ_CHECK(intact(target->b.ptr, target->b.size, target->id, false));
    }
    // A heap that keeps no state in its pages frees (or refuses) without touching them.
    if (hide) poison(target->b.ptr, target->b.size);
    const Error got = fam_.deallocate(b, owner);
    FUZZ_TRACE("[%u] free %p %zu owner %llx -> %s (expected %s%s)\n", g_step, b.ptr, b.size,
               static_cast<unsigned long long>(owner), to_string(got), to_string(fe.error),
               fe.frees ? ", frees" : "");
    FUZZ_CHECK_ERROR(got, fe.error);
    if (!fe.frees) {
      if (hide) unpoison(target->b.ptr, target->b.size);
      return;
    }
    const std::size_t i = static_cast<std::size_t>(target - live_.data());
    const Live l = live_[i];
    fam_.freed(l);
    live_.erase(live_.begin() + static_cast<std::ptrdiff_t>(i));
    if (stale_.size() == 16) stale_.erase(stale_.begin());
    stale_.push_back(l);
  }

  void free_live(Input& in) {
    if (live_.empty()) return;
    const Live* target = &live_[in.below(live_.size())];
    const Live l = *target;
    Block b = l.b;
    if (in.u8() & 1) b.size = l.req;  // the size asked for: the same block
    FreeExpect fe = fam_.expect_free(b, target, l.owner);
    if (!fe.allowed) {
      b = l.b;
      fe = fam_.expect_free(b, target, l.owner);
    }
    FUZZ_CHECK(fe.allowed);
    give_back(target, b, l.owner, fe);
  }

  /// A block freed before, again: a double free, unless its place is live again.
  void free_stale(Input& in) {
    if (stale_.empty()) return;
    const Live s = stale_[in.below(stale_.size())];
    Block b = s.b;
    if (in.u8() & 1) b.size = s.req;
    const Live* now = live_at(b.ptr, b.size);
    if (now != nullptr && now->b.size != 0) return;  // an ordinary free now
    const FreeExpect fe = fam_.expect_free(b, now, s.owner);
    if (!fe.allowed) return;
    FUZZ_CHECK(!fe.frees || (now != nullptr && b.size == 0));
    if (fe.frees) return;  // a zero-size block of a source heap, live again
    give_back(b, s.owner, fe);
  }

  /// Pointers the heap never handed out, or handed out with another size or owner.
  void free_bad(Input& in) {
    const std::uint8_t kind = in.u8();
    const std::size_t d = in.u16();
    const Live* l = live_.empty() ? nullptr : &live_[in.below(live_.size())];
    const Block reg = fam_.region();
    const std::uintptr_t lo = reg.ptr != nullptr ? addr(reg.ptr) : addr(arena_.base());
    const std::uintptr_t hi = reg.ptr != nullptr ? addr(reg.end()) : addr(arena_.base()) + arena_.size();
    Block b{};
    switch (kind % 6) {
      case 0: b = Block{at(lo - 1 - d % 8192), 1 + d % 64}; break;            // below the region
      case 1: b = Block{at(hi + d % 8192), 1 + d % 64}; break;                // above it
      case 2:                                                                // inside a block
        if (l == nullptr || l->b.size < 2) return;
        b = Block{static_cast<std::byte*>(l->b.ptr) + 1 + d % (l->b.size - 1), 1 + d % l->b.size};
        break;
      case 3: {  // a live block with another size
        if (l == nullptr) return;
        static constexpr std::size_t big = ~std::size_t(0);
        const std::size_t sizes[] = {l->b.size * 2 + 1, l->b.size + 1, l->b.size / 2,
                                     big - d, l->b.size + 4096, l->req + 1};
        b = Block{l->b.ptr, sizes[(kind >> 3) % 6]};
        break;
      }
      case 4: b = Block{nullptr, 8 + d % 64}; break;
      default:  // a live block's start, off by a few bytes
        if (l == nullptr) return;
        b = Block{static_cast<std::byte*>(l->b.ptr) + 1 + d % 15, l->b.size};
        break;
    }
    std::uint64_t owner = l != nullptr ? l->owner : 0;
    if (kind & 0x80) owner ^= 0x40;  // someone else's owner word
    const FreeExpect fe = fam_.expect_free(b, live_at(b.ptr, b.size), owner);
    if (!fe.allowed) return;
    give_back(b, owner, fe);  // (a size that is the same block is an ordinary free)
  }

  /// A zero-size block: a no-op for a heap (the dangling block of a zero-size
  /// request, or any pointer at all).
  void free_zero(Input& in) {
    const std::uint8_t how = in.u8();
    const std::size_t a = in.align();
    Block b{at(a), 0};
    if ((how & 3) == 1 && !live_.empty()) b.ptr = live_[how % live_.size()].b.ptr;
    if ((how & 3) == 2) b.ptr = nullptr;
    const FreeExpect fe = fam_.expect_free(b, live_at(b.ptr, b.size), 0);
    if (!fe.allowed) return;
    give_back(b, 0, fe);
  }

  void free_all() {
    while (!live_.empty()) {
      const Live& l = live_.back();
      const FreeExpect fe = fam_.expect_free(l.b, &l, l.owner);
      FUZZ_CHECK(fe.frees);
      give_back(&l, l.b, l.owner, fe);
    }
  }

  void check_contents(bool quick) const {
    if (!Fam::fills) return;
    for (const Live& l : live_) FUZZ_CHECK(intact(l.b.ptr, l.b.size, l.id, quick));
  }

  /// The invariants that hold after every step.
  void check_step() {
    const Stats s = fam_.stats();
    const Stats m = fam_.expected_stats();
    FUZZ_CHECK_EQ(s.live, m.live);
    FUZZ_CHECK_EQ(s.bytes_in_use, m.bytes_in_use);
    FUZZ_CHECK_EQ(s.bytes_free, m.bytes_free);
    if (fam_.exact_peak()) {
      FUZZ_CHECK_EQ(s.peak_bytes, m.peak_bytes);
    } else {
      FUZZ_CHECK(s.peak_bytes >= m.peak_bytes && s.peak_bytes <= fam_.max_peak());
    }
    // Inside the managed range (and so the region), never overlapping.
    order_.clear();
    for (const Live& l : live_) {
      if (l.b.size != 0) order_.push_back(&l);
    }
    std::sort(order_.begin(), order_.end(),
              [](const Live* x, const Live* y) { return addr(x->b.ptr) < addr(y->b.ptr); });
    const Block reg = fam_.region();
    for (std::size_t i = 0; i < order_.size(); ++i) {
      const Block b = order_[i]->b;
      FUZZ_CHECK(fam_.in_range(b));
      if (reg.ptr != nullptr) FUZZ_CHECK(reg.contains(b.ptr, b.size));
      if (i + 1 < order_.size()) FUZZ_CHECK(addr(b.ptr) + b.size <= addr(order_[i + 1]->b.ptr));
    }
    check_contents(true);
    fam_.check_state();
  }

  Fam& fam_;
  Arena& arena_;
  std::vector<Live> live_;
  std::vector<Live> stale_;
  std::vector<const Live*> order_;
  std::uint32_t next_id_ = 1;
};

// ---- Every heap kind ------------------------------------------------------------------------

/// The family that models heap H. Left undefined: a kind added to heaps/heap_kinds.hpp
/// that host code can run, and that has no family here, fails to compile.
template <class H>
struct family_of;
template <class M, bool C, class A>
struct family_of<Slab<M, C, A>> {
  using type = SlabFamily<M, C, false, 64, A>;
};
template <class M, bool C>
struct family_of<SlabCache<Slab<M, C>, 64>> {
  using type = SlabFamily<M, C, true>;
};
template <class M, bool C>
struct family_of<AddrSpace<M, C>> {
  using type = AddrFamily<M, C>;
};
template <class M>
struct family_of<ExtentHeap<M>> {
  using type = ExtentFamily<M, true>;
};
template <RegionAccess A, class RM, class M>
struct family_of<SourceHeap<StaticRegion<A, RM>, M>> {
  using type = RegionFamily<A, RM, M>;
};
template <class M>
struct family_of<SourceHeap<OsPages, M>> {
  using type = PagesFamily<M>;
};

Arena& heap_arena() {
  static Arena a(640 * 1024);
  return a;
}
Arena& records_arena() {
  static Arena a(48 * 1024);
  return a;
}

template <class Fam>
void run_family(const std::uint8_t* data, std::size_t size) {
  if constexpr (std::is_constructible_v<Fam, Arena&>) {
    Fam fam(records_arena());
    Runner<Fam>(fam, heap_arena()).run(data, size);
    records_arena().release();
  } else {
    Fam fam;
    Runner<Fam>(fam, heap_arena()).run(data, size);
  }
}

template <class Entry>
void run_entry(const std::uint8_t* data, std::size_t size) {
  // The GPU runtime kinds (host_registered) need a device: not here.
  if constexpr (Entry::route != HeapRoute::host_registered) {
    run_family<typename family_of<typename Entry::type>::type>(data, size);
  }
}
template <class... Entries>
void run_kinds(detail::type_list<Entries...>, const std::uint8_t* data, std::size_t size) {
  (run_entry<Entries>(data, size), ...);
}

}  // namespace
}  // namespace swim::mem::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace swim::mem;
  using namespace swim::mem::fuzz;
  install_leak_counter();
  // (Qualified: argument-dependent lookup would instantiate every kind, GPU ones too.)
  swim::mem::fuzz::run_kinds(heap_kinds{}, data, size);
  // Beyond the list: records apart from the range, and a cache that spills and
  // refills every few units.
  run_family<ExtentFamily<concurrent, false>>(data, size);
  run_family<ExtentFamily<single_owner, false>>(data, size);
  run_family<SlabFamily<single_owner, true, true, 4>>(data, size);
  run_family<SlabFamily<concurrent, false, true, 4>>(data, size);
  return 0;
}
