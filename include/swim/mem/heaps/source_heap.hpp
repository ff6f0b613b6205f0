// Layer 4 (heaps): SourceHeap, any memory source seen as a heap.
//
// A Pool draws its hunks from a heap; wrapping a source lets it draw them
// straight from OS pages, a static region or cudaMalloc, with no heap between.
#pragma once

#include <cstddef>

#include "swim/mem/config.hpp"
#include "swim/mem/heaps/concept.hpp"
#include "swim/mem/physical.hpp"
#include "swim/mem/sources/concept.hpp"

namespace swim::mem {

/// A heap whose every block is one region of `Source`.
///
/// An unchecked heap (heaps/concept.hpp): it hands a block given back to its
/// source as it is, so a block it did not hand out, or one given back twice, is
/// the source's business (OsPages would unmap whatever pages it is given). It is
/// meant as the upstream of a Pool, which gives back exactly the blocks it got;
/// only a free while nothing is out is refused (foreign_pointer).
///
/// - try_allocate(layout) is source.try_acquire(layout.size, layout.align); the
///   block is whatever the source returns (OsPages rounds up to whole pages).
/// - try_deallocate(block) is source.release(block). Hand back the block as
///   try_allocate returned it: the statistics subtract the size given, and most
///   sources need the exact region.
/// - stats(): live blocks and bytes handed out, counted here (bytes_free and
///   largest_free are 0: nothing is cached, every request goes to the source).
/// - walk(f): the source's walk where it has one (StaticRegion), else nothing:
///   the heap keeps no record of its blocks.
///
/// The heap owns its source, constructed in place from the constructor's
/// arguments (sources such as StaticRegion are not copyable). Errors and
/// failure atomicity are the source's; the counters change only on success.
/// Thread-safety: the source's, and the counters' Mode. Valid on host and device
/// exactly where the source's functions are (OsPages and the GPU runtime sources
/// are host only).
///
/// Source is checked in the body rather than constrained, so that the heap list
/// (heaps/heap_kinds.hpp) can name a SourceHeap over a source whose definition
/// this translation unit does not see (the GPU runtime sources).
template <class Source, concurrency_mode Mode = concurrent>
class SourceHeap {
  static_assert(memory_source<Source>, "SourceHeap needs a memory_source");

 public:
  using source_type = Source;
  static constexpr bool host_accessible = Source::host_accessible;
  static constexpr bool device_accessible = Source::device_accessible;
  /// A block given back is reusable in any order unless the source says not
  /// (`reuses_released = false`, as StaticRegion does).
  static constexpr bool reuses_freed_blocks = [] {
    if constexpr (requires { Source::reuses_released; }) {
      return static_cast<bool>(Source::reuses_released);
    } else {
      return true;
    }
  }();

  SWIM_MEM_EXEC_CHECK_DISABLE
  template <class... Args>
  SWIM_MEM_API explicit SourceHeap(Args&&... args) : source_(static_cast<Args&&>(args)...) {}

  SourceHeap(const SourceHeap&) = delete;
  SourceHeap& operator=(const SourceHeap&) = delete;

  SWIM_MEM_EXEC_CHECK_DISABLE
  SWIM_MEM_API Result<Block> try_allocate(Layout layout) {
    if (layout.size != 0 && detail::fault_point()) return Error::out_of_memory;
    Result<Block> r = source_.try_acquire(layout.size, layout.align);
    if (!r) return r;
    live_.fetch_add(1, order::relaxed);
    const std::size_t in_use = bytes_.fetch_add(r->size, order::relaxed) + r->size;
    raise_to(peak_, in_use);
    return r;
  }

  SWIM_MEM_EXEC_CHECK_DISABLE
  SWIM_MEM_API Error try_deallocate(Block block) {
    if (live_.load(order::relaxed) == 0) return Error::foreign_pointer;  // nothing is out
    const Error e = source_.release(block);
    if (e != Error::none) return e;
    // A hold above may have left parts of the block poisoned (config/poison.hpp);
    // the source may hand these addresses out again (an unmapped page mapped anew),
    // so they go back accessible (after the release: a refused block may be bogus).
    if constexpr (host_accessible) detail::unpoison_meta(block.ptr, block.size);
    live_.fetch_sub(1, order::relaxed);
    bytes_.fetch_sub(block.size, order::relaxed);
    return Error::none;
  }

  /// Whether try_discard can give pages back (the source has `discard`).
  static constexpr bool can_discard = requires(Source& s, Block b) { s.discard(b); };

  /// Give the memory of a part of a block that is out back to the source while
  /// the block stays out (its bytes read as zero afterwards); unsupported when
  /// the source cannot (can_discard).
  SWIM_MEM_EXEC_CHECK_DISABLE
  SWIM_MEM_API Error try_discard(Block part) {
    if constexpr (can_discard) {
      return source_.discard(part);
    } else {
      (void)part;
      return Error::unsupported;
    }
  }

  SWIM_MEM_API Stats stats() const {
    Stats s;
    s.live = live_.load(order::relaxed);
    s.bytes_in_use = bytes_.load(order::relaxed);
    s.bytes_free = 0;
    s.peak_bytes = peak_.load(order::relaxed);
    s.largest_free = 0;
    return s;
  }

  /// The occupancy walk (physical/region.hpp; quiescent only): the source's own
  /// walk when it has one (StaticRegion: what it handed out, and the rest); nothing
  /// otherwise (OS pages, GPU runtimes: each block is the source's business).
  SWIM_MEM_EXEC_CHECK_DISABLE
  template <class F>
  SWIM_MEM_API void walk(F&& f) const {
    if constexpr (requires { source_.walk(f); }) source_.walk(f);
  }

  SWIM_MEM_API Source& source() { return source_; }
  SWIM_MEM_API const Source& source() const { return source_; }

 private:
  Source source_;
  cell<std::size_t, Mode> live_{0};
  cell<std::size_t, Mode> bytes_{0};
  cell<std::size_t, Mode> peak_{0};
};

}  // namespace swim::mem
