// Layer 4 (heaps): AddrSpace, a lock-free page-extent heap over one address range.
//
// A bitmap buddy allocator. The managed pages are split into blocks of 2^k pages
// (order k); for every order there is a bitmap with one bit per block index, and a
// set bit means "this block is free, as a whole, at this order". Each bitmap has a
// small hierarchy of summaries above it (one bit per non-empty word of the level
// below, up to a single word), and one word `avail_` holds one bit per non-empty
// order. Finding a free block is therefore a handful of loads and countr_zero
// calls, whatever the number of live allocations:
//   avail_ -> lowest usable order j -> top summary word -> ... -> leaf word -> bit.
//
// Allocate(order k): claim a set bit at the smallest order j >= k with fetch_and
// (the caller owns the block iff the bit was set), then split: publish the upper
// halves at orders j-1 .. k. Free(order k): coalesce upwards. Buddies always share
// one 64-bit word (they differ in bit 0 of the index), so "take my buddy" and
// "take both halves" are single atomic operations; that is what resolves the
// race of two buddies freed at once (whoever publishes second sees the other).
//
// Summaries are hints, exact at quiescence: after a word goes non-empty its
// summary bit is set; after a word goes empty its summary bit is cleared and the
// word re-checked with an RMW (re-setting the bit if it filled meanwhile). With
// acq_rel on every bitmap RMW this is the store-buffering pattern made safe: of
// "the clearer's re-check" and "the filler's summary set", one always sees the
// other. A search that meets a stale hint repairs it the same way.
//
// All metadata (order table, bitmaps, per-page tags when Checked) lives in-band at
// the end of the region (so the pages keep the region's alignment), so an AddrSpace works over device memory or a bare-metal
// array with no system allocator. Every loop is bounded.
//
// Cost: allocate is O(levels) loads + 1 claiming RMW + at most (orders) publishing
// RMWs for a split; free is at most 3 RMWs per order merged. levels = ceil(log64
// of the number of blocks), i.e. <= 4 for up to 2^24 pages. Statistics add three
// relaxed RMWs on shared counters.
#pragma once

#include <cstddef>
#include <cstdint>

#include "swim/mem/heaps/concept.hpp"
#include "swim/mem/physical.hpp"

namespace swim::mem {

namespace detail {

/// Bitmap levels an order can need: 64^10 = 2^60 bits covers any 64-bit range of
/// pages of at least 64 bytes.
inline constexpr unsigned addr_space_max_levels = 10;

/// In-band descriptor of one order's bitmap hierarchy (written once, read-only
/// afterwards).
struct AddrSpaceOrder {
  std::uint64_t blocks;  ///< blocks of this order that fit in the managed range
  std::uint32_t levels;  ///< bitmap levels, leaf first; the last level is one word
  std::uint32_t reserved;
  std::uint64_t offset[addr_space_max_levels];  ///< word offset of each level
};

}  // namespace detail

/// A lock-free (Mode = concurrent) or single-owner buddy heap of page blocks.
///
/// - Thread-safety: concurrent mode: try_allocate, try_deallocate and stats may be
///   called from any number of host or device threads at once (construction and
///   destruction may not race with anything); single_owner: one caller at a time.
/// - Host/device: every member is valid on both. The region (which holds the
///   metadata) must be accessible where the AddrSpace is constructed and used.
/// - Blocks: a request is rounded up to page_size() * 2^k bytes and the whole block
///   is returned. A block of order k is aligned to min(page_size() * 2^k,
///   max_align()); larger alignments are refused with Error::misaligned.
/// - Failure: try_ forms return Error values and leave the heap unchanged
///   (statistics and contents; only summary hints may be refreshed). Under
///   concurrency, out_of_memory may be reported while other threads are in the
///   middle of splitting or merging the blocks that would have served the request.
///   A search that loses too many races gives Error::contended; the caller may retry.
/// - Checked (default: SWIM_MEM_CHECKED): one 32-bit tag per page in-band detects
///   double frees and pointers that are not block starts of that size. Pointers
///   outside the managed range, not page-aligned, or not aligned to their block
///   size are rejected in both builds; an unchecked double free is undefined.
template <concurrency_mode Mode = concurrent, bool Checked = (SWIM_MEM_CHECKED != 0)>
class AddrSpace {
  using Word = cell<std::uint64_t, Mode>;
  using Tag = cell<std::uint32_t, Mode>;
  using Counter = cell<std::size_t, Mode>;
  using Order = detail::AddrSpaceOrder;
  static_assert(sizeof(Word) == sizeof(std::uint64_t) && sizeof(Tag) == sizeof(std::uint32_t),
                "in-band metadata is laid out as plain words");

 public:
  /// Bound on the steps of one search (loads of bitmap words, lost claims, hint
  /// repairs) before try_allocate gives up with Error::contended.
  static constexpr unsigned search_budget = 1024;
  /// Bound on the merge retries at one order of a free; each retry means another
  /// thread claimed one of the two buddies in between.
  static constexpr unsigned merge_retries = 64;

  /// Manage `region` in pages of `page_size` bytes (a power of two, >= 64). The
  /// metadata is carved from the end of the region, the rest is trimmed to whole
  /// pages. Never fails loudly: an unusable region or page size gives an AddrSpace
  /// of zero capacity whose allocations (zero-size ones included) fail with
  /// Error::out_of_memory, and init_error() says Error::invalid_argument.
  /// Not thread-safe.
  SWIM_MEM_API explicit AddrSpace(Block region, std::size_t page_size = 4096)
      : region_(region), page_size_(page_size) {
    avail_.raw = 0;
    live_.raw = 0;
    in_use_.raw = 0;
    peak_.raw = 0;
    if (!detail::is_pow2(page_size) || page_size < 64 || region.ptr == nullptr) return;
    const std::uintptr_t start = region.address();
    if (region.size > ~std::uintptr_t(0) - start) return;
    const std::uintptr_t region_end = start + region.size;
    const std::uintptr_t end = region_end & ~static_cast<std::uintptr_t>(page_size - 1);
    const unsigned shift = detail::countr_zero(page_size);
    // The metadata goes at the *end* of the region, so the pages start at the
    // region's own (usually generous) alignment. Size it for every page the region
    // could hold; the real page count is then no larger, so the layout still fits.
    const std::uintptr_t base = detail::align_addr(start, page_size);
    if (base >= end) return;
    const std::size_t bound = (end - base) >> shift;
    const std::size_t meta_bytes = lay_out(bound, 0);
    if (meta_bytes > region_end - base) return;
    const std::uintptr_t meta = (region_end - meta_bytes) & ~static_cast<std::uintptr_t>(63);
    const std::uintptr_t pages_end = meta & ~static_cast<std::uintptr_t>(page_size - 1);
    if (meta < base || pages_end <= base) return;
    const std::size_t pages = (pages_end - base) >> shift;

    // The region is this heap's now, whatever a previous user left poisoned in it.
    detail::unpoison_meta(region.ptr, region.size);
    lay_out(pages, meta);
    base_ = reinterpret_cast<std::byte*>(base);
    pages_ = pages;
    page_shift_ = shift;
    top_order_ = detail::bit_width(pages) - 1;
    // Order-k blocks sit at base + i * 2^k pages: aligned to the block size as far
    // as the base itself is aligned.
    const std::size_t base_align = static_cast<std::size_t>(base & (~base + 1));
    max_align_ = detail::min_of(base_align, page_size << top_order_);

    // Seed the range as maximal aligned power-of-two blocks, largest first: the
    // offset is then a sum of larger powers, so each block is aligned to its size,
    // and no two seeds are buddies (the buddy of each would run past the end).
    std::size_t at = 0;
    for (unsigned i = 0; i < 64 && at < pages; ++i) {
      const unsigned k = detail::bit_width(pages - at) - 1;
      publish(k, at >> k);
      at += std::size_t(1) << k;
    }
    // Free blocks hold no links (the bitmaps do): every page is poisoned until it
    // is handed out (config/poison.hpp).
    detail::poison(base_, capacity());
    init_error_ = Error::none;
  }

  AddrSpace(const AddrSpace&) = delete;
  AddrSpace& operator=(const AddrSpace&) = delete;

  /// Reports a leak (host: the installed leak handler) if blocks are still live.
  SWIM_MEM_API ~AddrSpace() {
    if (live_.load(order::relaxed) != 0) detail::leaked("AddrSpace", this, stats());
    // The region goes back to its owner as the owner gave it: accessible.
    detail::unpoison_meta(base_, capacity());
  }

  /// Error::none, or Error::invalid_argument when the constructor could not use
  /// the region (the heap is then empty).
  SWIM_MEM_API Error init_error() const { return init_error_; }
  SWIM_MEM_API std::size_t page_size() const { return page_size_; }
  /// Bytes allocatable when nothing is live (the managed pages).
  SWIM_MEM_API std::size_t capacity() const { return pages_ << page_shift_; }
  /// The region as given to the constructor.
  SWIM_MEM_API Block region() const { return region_; }
  /// The largest block this heap can ever hand out (0 if unusable).
  SWIM_MEM_API std::size_t max_block() const {
    return pages_ == 0 ? 0 : page_size_ << top_order_;
  }
  /// The largest alignment a request may ask for (0 if unusable).
  SWIM_MEM_API std::size_t max_align() const { return max_align_; }

  /// A block of page_size() * 2^k bytes (the smallest such size >= layout.size whose
  /// blocks can honour layout.align), or out_of_memory / oversized / misaligned /
  /// contended. A zero-size request gives Block{(void*)layout.align, 0}, a non-null
  /// pointer never to be dereferenced; it consumes and counts nothing.
  SWIM_MEM_API Result<Block> try_allocate(Layout layout) {
    if (pages_ == 0) return Error::out_of_memory;
    if (!detail::is_pow2(layout.align)) return Error::misaligned;
    if (layout.size == 0) return Block{reinterpret_cast<void*>(layout.align), 0};
    unsigned k = 0;
    if (!order_of(layout.size, k)) return Error::oversized;
    if (layout.align > max_align_) return Error::misaligned;
    if (layout.align > page_size_) {
      k = detail::max_of(k, detail::countr_zero(layout.align) - page_shift_);
    }
    if (detail::fault_point()) return Error::out_of_memory;

    unsigned budget = search_budget;
    // Each round either claims a block, or finds one order empty (and clears its
    // hint bit), or spends budget; orders <= 64, so 2 * 64 rounds suffice at rest.
    for (unsigned round = 0; round < 128; ++round) {
      // Relaxed: avail_ is only a hint; the claim below is what synchronizes.
      const std::uint64_t usable = avail_.load(order::relaxed) & (~std::uint64_t(0) << k);
      if (usable == 0) return Error::out_of_memory;
      const unsigned j = detail::countr_zero(usable);
      std::uint64_t idx = 0;
      const Take t = take(j, idx, budget);
      if (t == Take::contended) return Error::contended;
      if (t == Take::empty) continue;
      // Split down to order k, keeping the lower half each time.
      for (unsigned o = j; o > k; --o) {
        idx <<= 1;
        publish(o - 1, idx + 1);
      }
      const std::size_t page = static_cast<std::size_t>(idx) << k;
      if constexpr (Checked) {
        // Relaxed: the tag is read only by a free of this block, which the user
        // orders after this return by whatever handed the block over.
        tags_[page].store(tag_of(k), order::relaxed);
      }
      const std::size_t bytes = page_size_ << k;
      live_.fetch_add(1, order::relaxed);
      const std::size_t before = in_use_.fetch_add(bytes, order::relaxed);
      raise_to(peak_, before + bytes);
      // (No debug fill: blocks may be large, and committed only as they are used.)
      detail::unpoison(base_ + (page << page_shift_), bytes);
      return Block{base_ + (page << page_shift_), bytes};
    }
    return Error::contended;
  }

  /// Give back a block as try_allocate returned it (a smaller size that rounds up
  /// to the same block size is accepted). A zero-size block is a no-op. Returns
  /// Error::foreign_pointer (not a block of that size from this heap) or
  /// Error::double_free (Checked only), leaving the heap unchanged.
  SWIM_MEM_API Error try_deallocate(Block block) {
    if (block.size == 0) return Error::none;
    if (pages_ == 0) return Error::foreign_pointer;
    const std::uintptr_t base = reinterpret_cast<std::uintptr_t>(base_);
    const std::uintptr_t addr = block.address();
    if (addr < base) return Error::foreign_pointer;
    const std::uintptr_t offset = addr - base;
    if (offset >= capacity() || (offset & (page_size_ - 1)) != 0) return Error::foreign_pointer;
    unsigned k = 0;
    if (!order_of(block.size, k)) return Error::foreign_pointer;
    const std::size_t page = offset >> page_shift_;
    if ((page & ((std::size_t(1) << k) - 1)) != 0) return Error::foreign_pointer;
    const std::uint64_t idx = page >> k;
    if (idx >= orders_[k].blocks) return Error::foreign_pointer;
    if constexpr (Checked) {
      // The exchange of the start page's tag is the double-free detector: of two
      // frees of one block, only one finds the "allocated, order k" tag.
      std::uint32_t expected = tag_of(k);
      if (!tags_[page].compare_exchange(expected, tag_freed, order::relaxed)) {
        return expected == tag_freed ? Error::double_free : Error::foreign_pointer;
      }
    }
    // Counters first: once the block is published another thread may count it
    // again, and bytes_in_use must never exceed the capacity.
    const std::size_t bytes = page_size_ << k;
    // The free can no longer fail: poisoned before another thread may claim it.
    detail::poison(block.ptr, bytes);
    live_.fetch_sub(1, order::relaxed);
    in_use_.fetch_sub(bytes, order::relaxed);
    release(k, idx);
    return Error::none;
  }

  /// Relaxed snapshot of the counters; bytes_free = capacity - bytes_in_use.
  /// largest_free is the largest free block: page_size() << k for the highest order
  /// k that has one. It is found from the hints a search uses (the order bits, then
  /// one descent of the order's summaries to a leaf word), so it is exact when
  /// quiescent (the hints are then exact) and under concurrency may be an order off
  /// while blocks are being split or merged. Bounded: at most orders * levels
  /// relaxed loads, no RMW.
  SWIM_MEM_API Stats stats() const {
    Stats s;
    s.live = live_.load(order::relaxed);
    s.bytes_in_use = in_use_.load(order::relaxed);
    s.bytes_free = capacity() - s.bytes_in_use;
    s.peak_bytes = peak_.load(order::relaxed);
    s.largest_free = largest_free_block();
    if (s.largest_free > s.bytes_free) s.largest_free = s.bytes_free;
    return s;
  }

  /// The occupancy walk (physical/region.hpp; quiescent only). One range, the
  /// region as given: the padding up to the first page (unused), then the pages in
  /// blocks: each free block as the bitmaps hold it (a buddy pair not merged yet
  /// reads as two), each allocated block as one region when Checked (its start
  /// page's tag gives its order), else each run of allocated pages as one region;
  /// then the pages' trimmed end (unused) and the metadata at the end of the
  /// region (control). O(pages * orders) loads.
  SWIM_MEM_EXEC_CHECK_DISABLE
  template <class F>
  SWIM_MEM_API void walk(F&& f) const {
    if (region_.ptr == nullptr || region_.size == 0) return;
    const std::uintptr_t start = region_.address();
    detail::RangeTiler<F> tiles(region_.ptr, f);
    if (pages_ != 0) {
      const auto base = reinterpret_cast<std::uintptr_t>(base_);
      tiles.emit(base, RegionKind::unused);
      std::size_t page = 0;
      while (page < pages_) {
        unsigned k = 0;
        if (free_block_at(page, k)) {
          page += std::size_t(1) << k;
          tiles.emit(base + (page << page_shift_), RegionKind::free);
          continue;
        }
        std::size_t next = page + 1;
        if constexpr (Checked) {
          const std::uint32_t t = tags_[page].raw;
          if (t != 0 && t != tag_freed) next = page + (std::size_t(1) << (t - 1));
        } else {
          while (next < pages_ && !free_block_at(next, k)) ++next;
        }
        page = next < pages_ ? next : pages_;
        tiles.emit(base + (page << page_shift_), RegionKind::live);
      }
      tiles.emit(reinterpret_cast<std::uintptr_t>(orders_), RegionKind::unused);
      tiles.emit(start + region_.size, RegionKind::control);
    }
    tiles.emit(start + region_.size, RegionKind::unused);
  }

 private:
  enum class Take { taken, empty, contended };

  // Page tags (Checked): 0 = never the start of an allocated block, k + 1 = the
  // start of an allocated block of order k, tag_freed = a block start since freed.
  static constexpr std::uint32_t tag_freed = 0xFFFFFFFFu;
  SWIM_MEM_API static constexpr std::uint32_t tag_of(unsigned k) { return k + 1; }

  SWIM_MEM_API static constexpr std::uint64_t bit(std::uint64_t i) {
    return std::uint64_t(1) << (i & 63);
  }

  /// The size of the largest free block, from the hints (see stats()): for each
  /// order from the top down whose avail_ bit is set, descend its summaries by their
  /// lowest set bits to a leaf word; the first non-empty leaf found decides.
  SWIM_MEM_API std::size_t largest_free_block() const {
    if (pages_ == 0) return 0;
    const std::uint64_t avail = avail_.load(order::relaxed);
    for (unsigned k = top_order_ + 1; k-- > 0;) {
      if ((avail & bit(k)) == 0) continue;
      std::uint64_t w = 0;
      std::uint64_t v = 0;
      for (unsigned level = orders_[k].levels; level-- > 0;) {
        v = word(k, level, w).load(order::relaxed);
        if (v == 0) break;
        if (level > 0) w = (w << 6) | detail::countr_zero(v);
      }
      if (v != 0) return page_size_ << k;
    }
    return 0;
  }

  /// Whether a free block starts at `page` (quiescent: the walk), and its order:
  /// the highest order whose bitmap has it (a block is free at one order only).
  SWIM_MEM_API bool free_block_at(std::size_t page, unsigned& k) const {
    for (unsigned o = top_order_ + 1; o-- > 0;) {
      if ((page & ((std::size_t(1) << o) - 1)) != 0) continue;
      const std::uint64_t idx = page >> o;
      if (idx >= orders_[o].blocks) continue;
      if ((word(o, 0, idx >> 6).raw & bit(idx)) != 0) {
        k = o;
        return true;
      }
    }
    return false;
  }

  /// Order of the smallest block holding `size` bytes; false if larger than any.
  SWIM_MEM_API bool order_of(std::size_t size, unsigned& k) const {
    const std::size_t pages =
        (size >> page_shift_) + ((size & (page_size_ - 1)) != 0 ? 1 : 0);
    if (pages > (std::size_t(1) << top_order_)) return false;
    k = detail::ceil_log2(pages);
    return true;
  }

  SWIM_MEM_API Word& word(unsigned k, unsigned level, std::uint64_t w) const {
    return words_[orders_[k].offset[level] + w];
  }

  /// Write the order table and zeroed bitmaps and tags for `pages` pages at `at`
  /// (or, with at == 0, only size them). Returns the metadata size in bytes.
  SWIM_MEM_API std::size_t lay_out(std::size_t pages, std::uintptr_t at) {
    const unsigned orders = detail::bit_width(pages);
    auto* table = reinterpret_cast<Order*>(at);
    std::uint64_t words = 0;
    for (unsigned k = 0; k < orders; ++k) {
      std::uint64_t bits = static_cast<std::uint64_t>(pages) >> k;
      unsigned levels = 0;
      for (unsigned l = 0; l < detail::addr_space_max_levels; ++l) {
        const std::uint64_t n = (bits + 63) >> 6;
        if (at != 0) table[k].offset[l] = words;
        words += n;
        ++levels;
        if (n == 1) break;
        bits = n;
      }
      if (at != 0) {
        table[k].blocks = static_cast<std::uint64_t>(pages) >> k;
        table[k].levels = levels;
        table[k].reserved = 0;
      }
    }
    const std::size_t table_bytes = detail::round64(orders * sizeof(Order));
    const std::size_t word_bytes = detail::round64(static_cast<std::size_t>(words) * sizeof(Word));
    if (at != 0) {
      orders_ = table;
      words_ = reinterpret_cast<Word*>(at + table_bytes);
      for (std::uint64_t i = 0; i < words; ++i) words_[i].raw = 0;
      if constexpr (Checked) {
        tags_ = reinterpret_cast<Tag*>(at + table_bytes + word_bytes);
        for (std::size_t i = 0; i < pages; ++i) tags_[i].raw = 0;
      }
    }
    return table_bytes + word_bytes + (Checked ? pages * sizeof(Tag) : 0);
  }

  /// Word `w` of level `level` of order k went from empty to non-empty: set the
  /// summary bits above it, as far up as a level goes from empty to non-empty.
  SWIM_MEM_API void mark(unsigned k, unsigned level, std::uint64_t w) {
    const Order& o = orders_[k];
    for (; level + 1 < o.levels; ++level, w >>= 6) {
      // acq_rel: pairs with the clear-then-recheck of unmark (see the file comment).
      if (word(k, level + 1, w >> 6).fetch_or(bit(w), order::acq_rel) != 0) return;
    }
    avail_.fetch_or(bit(k), order::acq_rel);
  }

  /// Word `w` of level `level` of order k was seen empty: clear its summary bit,
  /// re-check the word, and re-set the bit if it filled meanwhile. If the clear
  /// emptied the summary word, go on one level up.
  SWIM_MEM_API void unmark(unsigned k, unsigned level, std::uint64_t w) {
    const Order& o = orders_[k];
    for (; level < o.levels; ++level, w >>= 6) {
      const bool top = level + 1 == o.levels;
      Word& parent = top ? avail_ : word(k, level + 1, w >> 6);
      const std::uint64_t pbit = top ? bit(k) : bit(w);
      // acq_rel on the clear and on the re-check (an RMW, so it reads the latest
      // value): a filler that set the word after our re-check also set the summary
      // bit after our clear, and one that set it before is seen by the re-check.
      const std::uint64_t old = parent.fetch_and(~pbit, order::acq_rel);
      if (word(k, level, w).fetch_or(0, order::acq_rel) != 0) {
        if (parent.fetch_or(pbit, order::acq_rel) == 0 && !top) mark(k, level + 1, w >> 6);
        return;
      }
      // Only the thread whose clear emptied the summary word carries on upwards.
      if ((old & pbit) == 0 || (old & ~pbit) != 0 || top) return;
    }
  }

  /// Make block `idx` of order k free with no attempt to merge (its buddy is known
  /// not to be free, or it has none).
  SWIM_MEM_API void publish(unsigned k, std::uint64_t idx) {
    // acq_rel: release hands the block (and its previous owner's writes) to the
    // next claimer; acquire is for the summary protocol.
    if (word(k, 0, idx >> 6).fetch_or(bit(idx), order::acq_rel) == 0) mark(k, 0, idx >> 6);
  }

  /// Claim some free block of order k. Descends the summaries from the top word,
  /// repairing stale hints it meets.
  SWIM_MEM_API Take take(unsigned k, std::uint64_t& idx, unsigned& budget) {
    const unsigned top = orders_[k].levels - 1;
    unsigned level = top;
    std::uint64_t w = 0;
    while (budget > 0) {
      --budget;
      Word& cur = word(k, level, w);
      // Relaxed: a hint; only the claiming fetch_and below must synchronize.
      const std::uint64_t v = cur.load(order::relaxed);
      if (v == 0) {
        // The summary bit that led here was stale (or the word was just emptied):
        // refresh it, then start again from the top.
        unmark(k, level, w);
        if (level == top) return Take::empty;
        level = top;
        w = 0;
        continue;
      }
      const unsigned b = detail::countr_zero(v);
      if (level > 0) {
        w = (w << 6) | b;
        --level;
        continue;
      }
      // acquire: winning the bit makes the block ours, after the release that
      // published it (the previous owner's writes to it happen before ours).
      const std::uint64_t old = cur.fetch_and(~bit(b), order::acquire);
      if ((old & bit(b)) != 0) {
        if ((old & ~bit(b)) == 0) unmark(k, 0, w);
        idx = (w << 6) | b;
        return Take::taken;
      }
      // Lost the race for this bit: look at the same leaf word again.
    }
    return Take::contended;
  }

  /// Free block `idx` of order k, merging with free buddies as far as possible.
  SWIM_MEM_API void release(unsigned k, std::uint64_t idx) {
    for (; k <= top_order_; ++k, idx >>= 1) {
      if ((idx ^ 1) >= orders_[k].blocks) {
        publish(k, idx);  // no buddy at this order: nothing to merge with
        return;
      }
      // Buddies differ only in bit 0, so both live in this one word.
      Word& cur = word(k, 0, idx >> 6);
      const std::uint64_t wi = idx >> 6;
      bool merged = false;
      bool holding = true;  // we own one of the two halves, `idx`
      for (unsigned attempt = 0; attempt < merge_retries && holding && !merged; ++attempt) {
        const std::uint64_t mine = bit(idx);
        const std::uint64_t buddy = bit(idx ^ 1);
        // 1. Take the buddy if it is free (acq_rel: acquire makes its memory ours,
        //    release/acquire serve the summary protocol). The relaxed peek only
        //    saves an RMW: a buddy freed after it is caught by step 2.
        std::uint64_t old = 0;
        if ((cur.load(order::relaxed) & buddy) != 0) {
          old = cur.fetch_and(~buddy, order::acq_rel);
          if ((old & buddy) != 0) {
            if ((old & ~buddy) == 0) unmark(k, 0, wi);
            merged = true;
            break;
          }
        }
        // 2. Publish ours (release: hands our writes to the next claimer).
        old = cur.fetch_or(mine, order::acq_rel);
        if (old == 0) mark(k, 0, wi);
        if ((old & buddy) == 0) return;  // the buddy's free, if any, will see ours
        // 3. The buddy was freed in between: take both halves in one operation, so
        //    that of two racing freers exactly one gets the pair.
        old = cur.fetch_and(~(mine | buddy), order::acq_rel);
        if ((old & (mine | buddy)) != 0 && (old & ~(mine | buddy)) == 0) unmark(k, 0, wi);
        if ((old & mine) != 0 && (old & buddy) != 0) {
          merged = true;
        } else if ((old & mine) != 0) {
          // The buddy was allocated again: we hold ours once more; retry.
        } else if ((old & buddy) != 0) {
          idx ^= 1;  // ours was allocated, but we now hold the free buddy; retry
        } else {
          holding = false;  // both were claimed by others; we hold nothing
        }
      }
      if (!holding) return;
      if (!merged) {
        // Out of retries (every one meant another thread claimed one of the two
        // buddies): publish what we hold and leave this pair unmerged.
        publish(k, idx);
        return;
      }
    }
  }

  Block region_;
  std::size_t page_size_;
  std::byte* base_ = nullptr;
  std::size_t pages_ = 0;
  unsigned page_shift_ = 0;
  unsigned top_order_ = 0;
  std::size_t max_align_ = 0;
  Order* orders_ = nullptr;
  Word* words_ = nullptr;
  Tag* tags_ = nullptr;
  Word avail_;  ///< bit k set: order k (probably) has a free block
  Counter live_;
  Counter in_use_;
  Counter peak_;
  Error init_error_ = Error::invalid_argument;
};

static_assert(heap<AddrSpace<concurrent>>);
static_assert(heap<AddrSpace<single_owner>>);

}  // namespace swim::mem
