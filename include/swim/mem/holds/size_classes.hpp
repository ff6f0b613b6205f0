// Layer 5 (holds): SizeClasses, a tagged hold for objects of any size: size
// classes over hunks drawn from any heap, and whole heap blocks for large objects.
//
// A request of n bytes (alignment up to 16) takes a unit of the smallest class
// whose stride holds the object and its tag (n + 8 bytes): strides of 16 to 128
// in steps of 16, then four per power of two up to 32 KiB, so a stride exceeds
// n + 8 by at most a quarter past 128 bytes, and by at most 15 bytes below. A
// request aligned to 32 or 64 bytes (a cache line: Kokkos Views, SIMD buffers)
// takes the smallest such class whose stride is a multiple of the alignment: a
// hunk's first object is 64-aligned, so every object of that class is too. Each class allocates from hunks (64 KiB; 256 KiB for
// strides above 8 KiB) drawn from the heap: a hunk header, then units, each a tag
// word and an object. A hunk hands out its units lazily: a bump counter gives the
// next never-used unit, and only a unit that was handed out is ever written
// (resident memory follows what was used, not the hunk size). Freed units go on
// the hunk's own lock-free stack (tagged with a pop counter against ABA).
//
// Each class has a current hunk and a lock-free stack of partial hunks: a hunk is
// pushed there (once: a flag says it is listed) when a unit of it is freed while
// it is not current. An allocation takes from the current hunk; failing that,
// from a partial hunk (which becomes current); failing that, from a new hunk.
//
// Larger requests (objects above 32760 bytes, or alignments above 64) get a heap
// block of their own: [words: block size, object offset][tag][object], tagged
// with the hold itself. Those up to 32 MiB (alignment up to 64) are sized to one
// of 40 bins (four per power of two, so at most a quarter more than asked) and,
// when freed, kept for the next request of their bin (4 per bin, lock-free
// slots) while the kept bytes stay under max(8 MiB, bytes in use / 4)
// (set_large_cache): a program that makes and drops the same large buffers
// (Views, scratch arrays) reuses them instead of asking the heap, and the system,
// each time. A large free that finds the bound exceeded (the bytes in use fell)
// gives kept blocks back until it holds; a heap that runs dry first serves from a kept
// block of a larger bin, then gets every kept block back and is asked again; and
// trim() gives them all back.
//
// Hunks stay hunks until trim() (which needs exclusive use): a thread may still
// be reading the header of a hunk it saw a moment ago, so a hunk that empties is
// kept (and reused by its class) rather than given back while others may look.
// Over a heap that can discard pages (HeapRef::can_discard), an empty hunk past a
// cushion is retired instead: its units' pages go back, its header stays (see
// ClassCore::on_empty and retire). trim() gives every empty hunk back. Every hunk is in the hold's registry (64
// lists by address, threaded through the headers), which a validated free
// (checked builds, HoldRef::try_deallocate) consults before following a tag.
//
// SizeClasses<Heap, concurrent, Checked, relative_address> is the same hold for memory
// that several processes map at different addresses (an MPI shared window:
// mpi/node_size_classes.hpp): every object's tag is relative to the object (two hold
// kinds of their own), every word that names a hunk or a kept large block (current,
// partial stacks, registry, kept slots) holds its distance from the hold plus 2^48,
// the same in every mapping (so the partial stacks' 43 bits and the registry's hash
// hold), the hunks name their hold by a relative pointer, and the heap is kept as a
// distance and a heap kind (HeapRef::at), so that growth through a tag works from
// every process. It never poisons (a checker's poison belongs to one process's
// addresses). Its heap must work from every mapping: a relative Slab, whose units
// are its hunks and its large objects (tests/test_relative_size_classes.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "swim/mem/heaps/concept.hpp"
#include "swim/mem/heaps/heap_ref.hpp"
#include "swim/mem/holds/detail/in_flight.hpp"
#include "swim/mem/holds/detail/zero_count.hpp"
#include "swim/mem/holds/tag.hpp"
#include "swim/mem/physical.hpp"

namespace swim::mem {
namespace detail {

/// The size classes: strides (tag + object) of 16..128 in steps of 16, then four
/// per power of two up to max_stride.
struct SizeClassTable {
  static constexpr unsigned count = 40;
  static constexpr std::size_t max_stride = 32768;
  /// The largest object a class serves (its tag takes 8 bytes of the stride).
  static constexpr std::size_t max_object = max_stride - 8;
  /// Objects are aligned to this in every class.
  static constexpr std::size_t align = 16;
  /// The largest alignment a class serves (of_object_aligned).
  static constexpr std::size_t max_align = 64;

  /// The class of an object of n bytes (1 <= n <= max_object): its stride holds
  /// the object and its tag.
  SWIM_MEM_API static constexpr unsigned of_object(std::size_t n) {
    return of(n + tag_size < 16 ? 16 : n + tag_size);
  }
  /// The class of an object of n bytes (1 <= n <= max_object) aligned to `a` (a
  /// power of two up to max_align): the smallest class that holds it whose stride
  /// is a multiple of `a` (max_stride is, so there is one).
  SWIM_MEM_API static constexpr unsigned of_object_aligned(std::size_t n, std::size_t a) {
    unsigned c = of_object(n);
    while (stride(c) % a != 0) ++c;
    return c;
  }
  /// The class of the smallest stride >= `stride` (16 <= stride <= max_stride).
  SWIM_MEM_API static constexpr unsigned of(std::size_t stride) {
    if (stride <= 128) return static_cast<unsigned>((stride + 15) / 16) - 1;
    const unsigned b = bit_width(static_cast<std::uint64_t>(stride - 1)) - 1;  // 2^b < stride
    const unsigned idx = static_cast<unsigned>((stride - 1 - (std::size_t(1) << b)) >> (b - 2));
    return 8 + (b - 7) * 4 + idx;
  }
  /// The stride of class c.
  SWIM_MEM_API static constexpr std::size_t stride(unsigned c) {
    if (c < 8) return 16 * (std::size_t(c) + 1);
    const unsigned b = 7 + (c - 8) / 4;
    return (std::size_t(1) << b) + ((c - 8) % 4 + 1) * (std::size_t(1) << (b - 2));
  }
  /// Bytes of a hunk of class c (room for at least 7 units).
  SWIM_MEM_API static constexpr std::size_t hunk_bytes(unsigned c) {
    return stride(c) <= 8192 ? std::size_t(64) << 10 : std::size_t(256) << 10;
  }
};

/// Units taken together from one hunk (ClassCore::try_take_run): units first ..
/// first + count - 1, not yet tagged (ClassCore::claim makes each an object).
template <concurrency_mode Mode, class Addr = direct_address>
struct ClassRun {
  ClassHunk<Mode, Addr>* hunk;
  std::uint32_t first;
  std::uint32_t count;
};

/// The header of a hunk of one size class; its units' tags point here (relative to
/// each unit with relative_address: holds/tag.hpp).
template <concurrency_mode Mode, class Addr>
struct alignas(64) ClassHunk {
  static constexpr HoldKind kind = hold_kind_v<ClassHunk>;
  static constexpr bool relative_tags = !std::is_same_v<Addr, direct_address>;
  static constexpr unsigned max_retries = 1u << 16;

  /// free_top's low half: bit 31 is set while a retirement is under way (no unit
  /// may then be taken); bits 0..30 hold the top unit's index + 1 (0: empty).
  static constexpr std::uint64_t retiring = std::uint64_t(1) << 31;
  static constexpr std::uint64_t index_mask = retiring - 1;
  /// flags: on its class's partial stack; counted in its core's cushion of empty
  /// hunks kept committed.
  static constexpr std::uint32_t listed_flag = 1;
  static constexpr std::uint32_t counted_flag = 2;

  typename Addr::template pointer<ClassCore<Mode, Addr>> core;  // its hold
  cell<std::uint64_t, Mode> free_top;        // {pop counter : 32, retiring : 1, index + 1 : 31}
  cell<std::uint32_t, Mode> fresh;           // units ever handed out by the bump
  cell<std::uint32_t, Mode> live;            // units allocated now, or being taken
  cell<std::uint32_t, Mode> flags;           // listed_flag | counted_flag
  std::uint32_t klass;
  std::uint32_t stride;
  std::uint32_t count;                       // units that fit
  cell<std::uint64_t, Mode> next_partial;    // the next hunk of the partial stack (word / 64)
  cell<std::uint64_t, Mode> next_registered; // the next hunk of its registry list (word)
  std::size_t block_size;                    // as the heap returned it

  /// The first object: 64-aligned (the hunk is), its tag just before it, after
  /// the 64-byte header (checked below the class); with a stride that is a
  /// multiple of 32 or 64, every object is aligned as much.
  static constexpr std::size_t first_object = 128;

  /// The tag of a live object of this hunk at `object`, and a freed one's.
  SWIM_MEM_API std::uint64_t tag_at(const void* object) const {
    return tag_for<relative_tags>(this, object, kind);
  }
  SWIM_MEM_API std::uint64_t freed_at(const void* object) const {
    return tag_for<relative_tags>(this, object, HoldKind::freed);
  }
  SWIM_MEM_API std::uint64_t tag_at(std::uintptr_t object) const {
    return tag_at(reinterpret_cast<const void*>(object));
  }
  /// Every object's tag (direct hunks only: a relative tag differs per object).
  SWIM_MEM_API std::uint64_t tag() const
    requires(!relative_tags)
  {
    return make_tag(this, kind);
  }
  /// The hold this hunk belongs to, at this mapping's address.
  SWIM_MEM_API ClassCore<Mode, Addr>* owner() const { return core.get(); }
  SWIM_MEM_API std::uintptr_t object(std::uint32_t i) const {
    return reinterpret_cast<std::uintptr_t>(this) + first_object + std::size_t(i) * stride;
  }

  /// Set up a hunk over `block` for class c, for `owner`; no unit is written.
  SWIM_MEM_API void init(ClassCore<Mode, Addr>* hold, unsigned c, Block block) {
    core.set(hold);
    free_top.raw = 0;
    fresh.raw = 0;
    live.raw = 0;
    flags.raw = 0;
    klass = c;
    stride = static_cast<std::uint32_t>(SizeClassTable::stride(c));
    count = static_cast<std::uint32_t>((block.size - (first_object - tag_size)) / stride);
    next_partial.raw = 0;
    next_registered.raw = 0;
    block_size = block.size;
    // No unit is an object yet: tags and objects poisoned (config/poison.hpp), unless
    // relative: a checker's poison belongs to this process's addresses, and another
    // process (or mapping) may hand the unit out next (so a relative hold never
    // poisons, as the relative Slab).
    if constexpr (!relative_tags) {
      poison(reinterpret_cast<void*>(object(0) - tag_size), std::size_t(count) * stride);
    }
  }

  /// Unit `index` becomes an object: its tag word and object opened, debug-filled.
  SWIM_MEM_API void open_unit(std::uint32_t index) const {
    void* const p = reinterpret_cast<void*>(object(index));
    unpoison_meta(static_cast<std::byte*>(p) - tag_size, tag_size);
    unpoison(p, stride - tag_size);
    fill_fresh(p, stride - tag_size);
  }

  // Taking units. The caller has announced them first (live raised by as many
  // units as it asks for, seq_cst when its core retires hunks): a retirement sets
  // `retiring` and then reads live (both seq_cst), so either it sees the
  // announcement and gives up, or the taker sees the flag here and takes nothing.
  // `seen` is the order of the taker's reads of the flag: seq_cst where the core
  // retires hunks, acquire elsewhere (no flag is ever set there, and a seq_cst
  // load costs a fence on a GPU).

  /// A unit's index, or false: from the free stack, else the bump (lazily).
  SWIM_MEM_API bool take(std::uint32_t& index, order seen) {
    return pop(index, seen) || bump(1, index, seen) != 0;
  }

  /// Up to `want` consecutive never-used units (the bump, one atomic), else one
  /// from the free stack: how many were taken (0: none), the first at `first`.
  SWIM_MEM_API std::uint32_t take_run(std::uint32_t want, std::uint32_t& first, order seen) {
    const std::uint32_t n = bump(want, first, seen);
    if (n != 0) return n;
    return pop(first, seen) ? 1u : 0u;
  }

  /// The top of the free stack, or false (empty, or retiring).
  SWIM_MEM_API bool pop(std::uint32_t& index, order seen) {
    if constexpr (!Mode::is_concurrent) {
      (void)seen;
      const std::uint64_t top = free_top.raw;
      const std::uint32_t t = static_cast<std::uint32_t>(top & index_mask);
      if (t == 0) return false;
      index = t - 1;
      free_top.raw = (top & ~(index_mask | retiring)) | read_link(index);
      return true;
    } else {
      std::uint64_t top = free_top.load(seen);
      for (unsigned attempt = 0; attempt < max_retries; ++attempt) {
        if ((top & retiring) != 0) return false;
        const std::uint32_t t = static_cast<std::uint32_t>(top & index_mask);
        if (t == 0) return false;
        const std::uint64_t want = ((top >> 32) + 1) << 32 | read_link(t - 1);
        // Acquire: see the link and contents published by the release of the push.
        if (free_top.compare_exchange(top, want, order::acquire)) {
          index = t - 1;
          return true;
        }
      }
      return false;
    }
  }

  /// Up to `want` never-used units from the bump: how many (0: none left, or
  /// retiring), the first at `first`.
  SWIM_MEM_API std::uint32_t bump(std::uint32_t want, std::uint32_t& first, order seen) {
    if constexpr (!Mode::is_concurrent) {
      (void)seen;
      const std::uint32_t f = fresh.raw;
      const std::uint32_t n = count - f < want ? count - f : want;
      fresh.raw = f + n;
      first = f;
      return n;
    } else {
      // (pop's load came first for take(); a run checks the flag itself.)
      if ((free_top.load(seen) & retiring) != 0) return 0;
      std::uint32_t f = fresh.load(order::relaxed);
      for (unsigned attempt = 0; attempt < max_retries && f < count; ++attempt) {
        const std::uint32_t n = count - f < want ? count - f : want;
        if (fresh.compare_exchange(f, f + n, order::relaxed)) {
          first = f;
          return n;
        }
      }
      return 0;
    }
  }

  /// Put unit `index` back on the free stack (bounded: false if it stayed contended).
  SWIM_MEM_API bool put(std::uint32_t index) {
    void* unit = reinterpret_cast<void*>(object(index));
    // Poisoned but for the link while still the caller's (once pushed, another
    // thread may take it); the tag word stays readable (it says freed). A failed
    // put opens it again, contents kept.
    if constexpr (!Mode::is_concurrent) fill_freed(unit, stride - tag_size);
    if constexpr (!relative_tags) {
      poison(unit, stride - tag_size);
      unpoison_meta(unit, sizeof(std::uint32_t));
    }
    if constexpr (!Mode::is_concurrent) {
      *static_cast<std::uint32_t*>(unit) = static_cast<std::uint32_t>(free_top.raw & index_mask);
      free_top.raw = (free_top.raw & ~index_mask) | (index + 1u);
      return true;
    } else {
      std::uint64_t top = free_top.load(order::relaxed);
      for (unsigned attempt = 0; attempt < max_retries; ++attempt) {
        // The link is the index part only; the flag (a retirement that will give
        // up, this unit being live) stays in the head.
        atomic_ref<std::uint32_t>(*static_cast<std::uint32_t*>(unit))
            .store(static_cast<std::uint32_t>(top & index_mask), order::relaxed);
        const std::uint64_t want = (top & ~index_mask) | (index + 1u);
        // Release: the link and the caller's last writes happen-before the next pop.
        // (seq_cst: ClassCore::release_in_hunk's listing protocol relies on it.)
        if (free_top.compare_exchange(top, want, order::seq_cst)) return true;
      }
      unpoison(unit, stride - tag_size);
      return false;
    }
  }

  /// The index of the unit whose object is at `p`, or false (not a unit start of
  /// this hunk that was ever handed out).
  SWIM_MEM_API bool index_of(std::uintptr_t p, std::uint32_t& index) const {
    const std::uintptr_t first = object(0);
    if (p < first) return false;
    const std::uintptr_t off = p - first;
    if (off % stride != 0) return false;
    const std::uintptr_t i = off / stride;
    if (i >= fresh.load(order::relaxed)) return false;
    index = static_cast<std::uint32_t>(i);
    return true;
  }

  // The control block contract (holds/hold_kinds.hpp), defined after ClassCore.
  SWIM_MEM_API Error tag_free(Block block);
  SWIM_MEM_API Result<Block> tag_resize(Block block, Layout layout);
  SWIM_MEM_API std::uint64_t tag_owner() const;

  // May read a unit that another thread has just taken and is writing: the value
  // is then stale and the tagged CAS that follows fails, so it is unused.
  // A unit taken meanwhile may be poisoned again by a front: the read is not checked.
  SWIM_MEM_API SWIM_MEM_NO_SANITIZE_THREAD SWIM_MEM_NO_SANITIZE_ADDRESS std::uint32_t read_link(
      std::uint32_t i) const {
    auto* link = reinterpret_cast<std::uint32_t*>(object(i));
    if constexpr (Mode::is_concurrent) {
#if defined(SWIM_MEM_TSAN) || defined(SWIM_MEM_DETAIL_POISON_ASAN)
      return *static_cast<volatile std::uint32_t*>(link);
#else
      return atomic_ref<std::uint32_t>(*link).load(order::relaxed);
#endif
    } else {
      return *link;
    }
  }
};

static_assert(sizeof(ClassHunk<concurrent>) + tag_size <= ClassHunk<concurrent>::first_object);
static_assert(sizeof(ClassHunk<concurrent, relative_address>) + tag_size <=
              ClassHunk<concurrent, relative_address>::first_object);
static_assert(sizeof(ClassHunk<single_owner>) + tag_size <= ClassHunk<single_owner>::first_object);
static_assert(ClassHunk<concurrent>::first_object % SizeClassTable::max_align == 0 &&
              alignof(ClassHunk<concurrent>) >= SizeClassTable::max_align);

/// The part of a SizeClasses hold that does not depend on the heap's type (it
/// grows through a HeapRef), so that frees through a tag and HoldRef work.
template <concurrency_mode Mode, class Addr>
class alignas(64) ClassCore {
 public:
  using Hunk = ClassHunk<Mode, Addr>;
  using Run = ClassRun<Mode, Addr>;
  using Table = SizeClassTable;
  static constexpr HoldKind kind = hold_kind_v<ClassCore>;
  static constexpr bool relative_tags = !std::is_same_v<Addr, direct_address>;
  static_assert(!relative_tags || Mode::is_concurrent,
                "relative SizeClasses are for memory several processes share: concurrent");
  static constexpr unsigned registry_lists = 64;
  /// Words in front of a large object's tag: its heap block's size and offset.
  static constexpr std::size_t large_words = 2;

  /// The tag of a large object at `object` (it names the hold), and a freed one's.
  SWIM_MEM_API std::uint64_t tag_at(const void* object) const {
    return tag_for<relative_tags>(this, object, kind);
  }
  SWIM_MEM_API std::uint64_t freed_at(const void* object) const {
    return tag_for<relative_tags>(this, object, HoldKind::freed);
  }

  /// A large object's capacity: its block past the offset, in whole 8-byte words
  /// (objects are sized in 8-byte granules, as HoldRef::try_reallocate copies them).
  SWIM_MEM_API static std::size_t large_capacity(std::size_t block_size, std::size_t offset) {
    return (block_size - offset) & ~std::size_t(7);
  }

  // The kept large blocks (see the file comment). A kept block's object offset is
  // large_offset whatever its first object's alignment was (up to Table::max_align),
  // so any request of its bin fits it.
  static constexpr unsigned large_bins = 40;
  static constexpr unsigned large_slots = 4;
  static constexpr std::size_t large_offset = 64;
  /// Bin k holds blocks of at least large_bin_size(k) bytes: four sizes per power of
  /// two from 40 KiB (above 32 KiB) to 32 MiB.
  SWIM_MEM_API static constexpr std::size_t large_bin_size(unsigned k) {
    const unsigned b = 15 + k / 4;
    return (std::size_t(1) << b) + (k % 4 + 1) * (std::size_t(1) << (b - 2));
  }
  /// The smallest bin whose size is >= `need` (32 KiB < need <= large_bin_size(39)).
  SWIM_MEM_API static constexpr unsigned large_bin_up(std::size_t need) {
    const unsigned b = bit_width(static_cast<std::uint64_t>(need - 1)) - 1;  // 2^b < need
    return (b - 15) * 4 + static_cast<unsigned>((need - 1 - (std::size_t(1) << b)) >> (b - 2));
  }

  /// A tagged object of layout.size bytes aligned to layout.align. Zero-size
  /// requests (alignment up to 64) share one address past the hold's own tag and
  /// are only counted, as a Pool's.
  SWIM_MEM_API Result<Block> allocate(Layout layout) {
    if (!is_pow2(layout.align)) return Error::misaligned;
    if (layout.align > Layout::max_align) return Error::misaligned;
    if (layout.size == 0 && layout.align <= ZeroTag::max_align) {
      zero_count_.add();
      return Block{zero_.object(), 0};
    }
    if (detail::fault_point()) return Error::out_of_memory;
    const std::size_t n = layout.size == 0 ? 1 : layout.size;
    if (n <= Table::max_object && layout.align <= Table::align) {
      return allocate_in(Table::of_object(n));
    }
    if (n <= Table::max_object && layout.align <= Table::max_align) {
      return allocate_in(Table::of_object_aligned(n, layout.align));
    }
    return allocate_large(n, layout);
  }

  /// Free a class object of hunk `h` (the tag led there: it is trusted, the rest
  /// of the block is checked).
  SWIM_MEM_API Error release_in_hunk(Hunk* h, Block block) {
    std::uint32_t index = 0;
    if (!h->index_of(block.address(), index) || block.size > h->stride - tag_size) {
      return Error::foreign_pointer;
    }
    auto& tag = tag_of<Mode>(block.ptr);
    const std::uint64_t live = h->tag_at(block.ptr), freed = h->freed_at(block.ptr);
    std::uint64_t expected = live;
    if (!tag.compare_exchange(expected, freed, order::acq_rel)) {
      return expected == freed ? Error::double_free : Error::foreign_pointer;
    }
    const Error e = put_back(h, index);
    if (e != Error::none) tag.store(live, order::relaxed);
    return e;
  }

  /// Give unit `index` of hunk `h` back, its tag already freed by the caller
  /// (a front that keeps freed objects, such as try_malloc's thread caches).
  /// Error::contended (bounded) leaves it out.
  SWIM_MEM_API Error put_back(Hunk* h, std::uint32_t index) {
    if (!h->put(index)) return Error::contended;
    // (after the put: a retirement that reads live == 0 sees every unit back)
    const std::uint32_t was = h->live.fetch_sub(1, retires_ ? order::seq_cst : order::relaxed);
    live_.fetch_sub(1, order::relaxed);
    used_.fetch_sub(h->stride - tag_size, order::relaxed);
    // A hunk that is not its class's current one must be findable again. The
    // allocation that replaces a current hunk lists it if it then has free units:
    // seq_cst on both sides (put above / this load, that CAS / its load) so that at
    // least one of the two sees the other and the hunk is not left unlisted.
    if (current_[h->klass].load(order::seq_cst) != word_of(h)) list(h);
    if (was == 1 && retires_) on_empty(h);  // (listed or current first: findable again)
    return Error::none;
  }

  /// Up to `want` (1..64) units of class `klass` taken with one atomic on a hunk
  /// (the bump; one unit from a free stack when no fresh unit is left), the
  /// hold's counters raised for all of them. Each becomes an object by claim().
  /// Errors as allocate(): out_of_memory, contended; invalid_argument for a
  /// class or count out of range.
  SWIM_MEM_API Result<Run> try_take_run(unsigned klass, unsigned want) {
    if (klass >= Table::count || want == 0 || want > 64) return Error::invalid_argument;
    if (fault_point()) return Error::out_of_memory;
    for (unsigned attempt = 0; attempt < Hunk::max_retries; ++attempt) {
      const std::uint64_t seen = current_[klass].load(order::acquire);
      Hunk* h = seen == 0 ? nullptr : hunk_at(seen);
      if (h != nullptr) {
        announce(h, want);
        std::uint32_t first = 0;
        const std::uint32_t n = h->take_run(want, first, seen_order());
        if (n != want) withdraw(h, want - n);
        if (n != 0) {
          live_.fetch_add(n, order::relaxed);
          const std::size_t bytes = std::size_t(n) * (h->stride - tag_size);
          raise_to(peak_, used_.fetch_add(bytes, order::relaxed) + bytes);
          return Run{h, first, n};
        }
      }
      const Error e = advance(klass, seen);
      if (e != Error::none) return e;
    }
    return Error::contended;
  }

  /// Unit i (< run.count) of a run as a live object of the hold: its tag is
  /// written; the block has the unit's whole capacity (stride - 8).
  SWIM_MEM_API static Block claim(const Run& run, unsigned i) {
    const std::uintptr_t p = run.hunk->object(run.first + i);
    run.hunk->open_unit(run.first + i);
    tag_of<Mode>(reinterpret_cast<void*>(p)).store(run.hunk->tag_at(p), order::relaxed);
    return Block{reinterpret_cast<void*>(p), run.hunk->stride - tag_size};
  }

  /// Free a large or zero-size object (its tag names this core).
  SWIM_MEM_API Error release_large(Block block) {
    if (block.ptr == zero_.object()) {
      return block.size == 0 ? zero_count_.remove() : Error::foreign_pointer;
    }
    const auto* words = reinterpret_cast<const std::size_t*>(block.address() - tag_size) - large_words;
    const std::size_t block_size = words[0];
    const std::size_t offset = words[1];
    if (offset < (large_words + 1) * tag_size || offset > block_size ||
        block.size > large_capacity(block_size, offset)) {
      return Error::foreign_pointer;
    }
    auto& tag = tag_of<Mode>(block.ptr);
    const std::uint64_t live = tag_at(block.ptr), freed = freed_at(block.ptr);
    std::uint64_t expected = live;
    if (!tag.compare_exchange(expected, freed, order::acq_rel)) {
      return expected == freed ? Error::double_free : Error::foreign_pointer;
    }
    const Block whole{reinterpret_cast<void*>(block.address() - offset), block_size};
    // Counted out first, so that keep_large's bound sees the bytes in use without it.
    live_.fetch_sub(1, order::relaxed);
    used_.fetch_sub(large_capacity(block_size, offset), order::relaxed);
    if (offset == large_offset) {
      // A kept block's object is free memory (config/poison.hpp): poisoned before it
      // is published in a slot (another thread may take it at once), its size words
      // and tag left readable; opened again if it is not kept.
      if constexpr (!relative_tags) poison(block.ptr, large_capacity(block_size, offset));
      if (keep_large(whole)) return Error::none;  // (tag stays freed)
      unpoison(block.ptr, large_capacity(block_size, offset));
    }
    const Error e = upstream().try_deallocate(whole);
    if (e != Error::none) {
      live_.fetch_add(1, order::relaxed);
      used_.fetch_add(large_capacity(block_size, offset), order::relaxed);
      tag.store(live, order::relaxed);
      return e;
    }
    large_bytes_.fetch_sub(block_size, order::relaxed);
    if (kept_bytes_.load(order::relaxed) > keep_allowance()) (void)release_kept(keep_allowance());
    return Error::none;
  }

  /// Free an object of this hold, validating before following its tag: a class
  /// object's hunk must be in the registry. Only the word in front of block.ptr
  /// (and, for a large object, the two words before it) is read.
  SWIM_MEM_API Error checked_free(Block block) {
    if (block.ptr == nullptr || block.address() % tag_size != 0) return Error::foreign_pointer;
    const std::uint64_t t = peek_tag(block.ptr);  // may be no tag, in poisoned memory
    void* control = control_at<relative_tags>(t, block.ptr);
    if (control == this) {
      if (tag_kind(t) == kind || tag_kind(t) == HoldKind::freed) {
        return tag_kind(t) == HoldKind::freed ? Error::double_free : release_large(block);
      }
      return Error::foreign_pointer;
    }
    Hunk* h = static_cast<Hunk*>(control);
    if ((tag_kind(t) != Hunk::kind && tag_kind(t) != HoldKind::freed) || !registered(h)) {
      return Error::foreign_pointer;
    }
    if (tag_kind(t) == HoldKind::freed) {
      std::uint32_t index = 0;
      return h->index_of(block.address(), index) ? Error::double_free : Error::foreign_pointer;
    }
    return release_in_hunk(h, block);
  }

  // The control block contract (holds/hold_kinds.hpp): the core tags large objects.
  SWIM_MEM_API Error tag_free(Block block) { return release_large(block); }
  SWIM_MEM_API Result<Block> tag_resize(Block block, Layout layout) {
    if (block.ptr == zero_.object()) return Error::unsupported;
    const auto* words = reinterpret_cast<const std::size_t*>(block.address() - tag_size) - large_words;
    if (!is_pow2(layout.align)) return Error::misaligned;
    if (block.address() % layout.align != 0) return Error::unsupported;
    const std::size_t capacity = large_capacity(words[0], words[1]);
    if (block.size > capacity) return Error::foreign_pointer;
    if (layout.size > capacity) return Error::out_of_memory;
    return Block{block.ptr, capacity};  // (the statistics count capacities)
  }
  /// The HoldRef word: {this | kind}, absolute (this mapping's address) also for a
  /// relative hold. For a direct hold it is also its large objects' tag.
  SWIM_MEM_API std::uint64_t tag_owner() const { return make_tag(this, kind); }
  SWIM_MEM_API Result<Block> tag_allocate(Layout layout) { return allocate(layout); }

  /// live: objects; bytes_in_use: their capacity (class objects: stride - 8;
  /// large: the block past the offset); bytes_free: what the hold holds from the
  /// heap beyond that (free units and never-used room of hunks, large blocks'
  /// headers and slack); peak_bytes: the high-water mark of bytes_in_use;
  /// largest_free: the largest object served without the heap: a kept large
  /// block's (the largest request of the highest bin that keeps one, which takes
  /// it), else a unit's of the largest class with one free (in its current hunk,
  /// or a hunk on its partial stack: those were listed with a unit free). Bounded:
  /// the kept slots (160 words) and each class's current and partial heads (40
  /// each, and a current hunk's header), relaxed loads. Exact when quiescent.
  SWIM_MEM_API Stats stats() const {
    Stats s;
    s.live = live_.load(order::relaxed) + static_cast<std::size_t>(zero_count_.count());
    s.bytes_in_use = used_.load(order::relaxed);
    const std::size_t held = hunk_bytes_.load(order::relaxed) + large_bytes_.load(order::relaxed);
    s.bytes_free = held > s.bytes_in_use ? held - s.bytes_in_use : 0;
    s.peak_bytes = peak_.load(order::relaxed);
    s.largest_free = largest_free_object();
    if (s.largest_free > s.bytes_free) s.largest_free = s.bytes_free;
    return s;
  }

  /// The largest object served without the heap (see stats()).
  SWIM_MEM_API std::size_t largest_free_object() const {
    // A kept block of bin k serves exactly the requests of bin k; every bin's
    // largest request is above every class object.
    for (unsigned k = large_bins; k-- > 0;) {
      for (unsigned slot = 0; slot < large_slots; ++slot) {
        if (large_kept_[k * large_slots + slot].load(order::relaxed) != 0) {
          return large_bin_size(k) - large_offset;
        }
      }
    }
    for (unsigned c = Table::count; c-- > 0;) {
      if ((partial_[c].load(order::relaxed) & pointer_mask) != 0) return Table::stride(c) - tag_size;
      const std::uint64_t current = current_[c].load(order::acquire);
      if (current == 0) continue;
      // (a hunk stays a hunk until trim(): its header is readable)
      const Hunk* h = hunk_at(current);
      const std::uint64_t top = h->free_top.load(order::relaxed);
      if ((top & Hunk::retiring) == 0 &&
          ((top & Hunk::index_mask) != 0 || h->fresh.load(order::relaxed) < h->count)) {
        return Table::stride(c) - tag_size;
      }
    }
    return 0;
  }

  /// The occupancy walk (physical/region.hpp; quiescent only). One range per hunk,
  /// in registry order (not by address), each the block its heap gave: the header
  /// and the padding up to the first unit's tag (control), then one region per
  /// unit, its tag word included (live when the tag says so; free when freed, or
  /// never handed out), then the tail too short for a unit (unused). Then one
  /// range per kept large block (free). Live large objects are not listed: the
  /// hold keeps no record of them (their heap's walk shows their blocks). Reads the
  /// hunk headers and the tags of the units ever handed out. O(hunks * units).
  /// Objects cached by a front that marks them freed (try_malloc's thread caches)
  /// read free.
  SWIM_MEM_EXEC_CHECK_DISABLE
  template <class F>
  SWIM_MEM_API void walk(F&& f) const {
    constexpr std::size_t first_unit = Hunk::first_object - tag_size;
    for (unsigned i = 0; i < registry_lists; ++i) {
      for (std::uint64_t at = registry_[i].raw; at != 0;) {
        const Hunk* h = hunk_at(at);
        f(Region{h, 0, first_unit, RegionKind::control});
        const std::uint32_t fresh = h->fresh.raw < h->count ? h->fresh.raw : h->count;
        for (std::uint32_t u = 0; u < h->count; ++u) {
          const std::size_t offset = first_unit + std::size_t(u) * h->stride;
          const bool live =
              u < fresh && tag_of<Mode>(reinterpret_cast<void*>(h->object(u))).load(order::relaxed) ==
                               h->tag_at(h->object(u));
          f(Region{h, offset, h->stride, live ? RegionKind::live : RegionKind::free});
        }
        const std::size_t end = first_unit + std::size_t(h->count) * h->stride;
        if (h->block_size > end) f(Region{h, end, h->block_size - end, RegionKind::unused});
        at = h->next_registered.raw;
      }
    }
    for (unsigned i = 0; i < large_bins * large_slots; ++i) {
      const std::uint64_t kept = large_kept_[i].raw;
      if (kept == 0) continue;
      const std::uintptr_t at = kept_at(kept);
      const std::size_t size = large_words_of(at + large_offset)[0];
      f(Region{reinterpret_cast<const void*>(at), 0, size, RegionKind::free});
    }
  }

  /// Bytes held from the heap: hunks and large blocks.
  SWIM_MEM_API std::size_t reserved_bytes() const {
    return hunk_bytes_.load(order::relaxed) + large_bytes_.load(order::relaxed);
  }
  SWIM_MEM_API std::size_t hunk_count() const { return hunks_.load(order::relaxed); }
  /// The upstream heap as this mapping sees it (growth through a tag goes there).
  SWIM_MEM_API HeapRef upstream() const {
    if constexpr (relative_tags) {
      return HeapRef::at(upstream_at_.get(), upstream_kind_);
    } else {
      return upstream_;
    }
  }

  /// Whether hunks that empty are retired (their pages given back through the
  /// heap's try_discard): the heap can discard (HeapRef::can_discard).
  SWIM_MEM_API bool retires_hunks() const { return retires_; }
  /// Hunks retired so far (their units' pages given back, the hunk kept).
  SWIM_MEM_API std::size_t retired_hunks() const { return retired_.load(order::relaxed); }
  /// The hysteresis of retirement: empty hunks stay committed while their bytes
  /// are at most max(floor_bytes, bytes in use / in_use_divisor) (0: no such
  /// term); 256 KiB and 8 by default. Set it before the hold is shared.
  SWIM_MEM_API void set_cushion(std::size_t floor_bytes, std::size_t in_use_divisor) {
    cushion_floor_ = floor_bytes;
    cushion_divisor_ = in_use_divisor;
  }
  /// The bound on freed large blocks kept for reuse: their bytes stay at most
  /// max(floor_bytes, bytes in use / in_use_divisor) (0: no such term); 8 MiB and
  /// 4 by default; set_large_cache(0, 0) keeps none. Set it before the hold is shared.
  SWIM_MEM_API void set_large_cache(std::size_t floor_bytes, std::size_t in_use_divisor) {
    keep_floor_ = floor_bytes;
    keep_divisor_ = in_use_divisor;
  }
  /// Bytes of freed large blocks kept for reuse (counted in reserved_bytes()).
  SWIM_MEM_API std::size_t kept_large_bytes() const { return kept_bytes_.load(order::relaxed); }
  /// Bytes of empty hunks kept committed as a cushion (see on_empty).
  SWIM_MEM_API std::size_t cushion_bytes() const {
    const auto c = static_cast<std::int64_t>(cushion_.load(order::relaxed));
    return c > 0 ? static_cast<std::size_t>(c) : 0;
  }

  /// Whether `h` is one of this hold's hunks (its registry list is walked; the
  /// header is read only once it is found there).
  SWIM_MEM_API bool registered(const Hunk* h) const {
    const std::uint64_t w = word_of(h);
    std::uint64_t at = registry_[slot(w)].load(order::acquire);
    for (unsigned k = 0; at != 0 && k < (1u << 24); ++k) {
      if (at == w) return true;
      at = hunk_at(at)->next_registered.load(order::acquire);
    }
    return false;
  }

 protected:
  SWIM_MEM_API explicit ClassCore(HeapRef upstream) : retires_(upstream.can_discard()) {
    // A relative hold keeps its heap as a distance and a kind (a HeapRef holds this
    // process's address).
    if constexpr (relative_tags) {
      upstream_at_.set(upstream.address());
      upstream_kind_ = upstream.kind();
    } else {
      upstream_ = upstream;
    }
    zero_.tag = tag_for<relative_tags>(this, zero_.object(), kind);
    retired_.raw = 0;
    cushion_.raw = 0;
    zero_count_.live.raw = 0;
    live_.raw = 0;
    used_.raw = 0;
    peak_.raw = 0;
    hunk_bytes_.raw = 0;
    large_bytes_.raw = 0;
    hunks_.raw = 0;
    for (unsigned c = 0; c < Table::count; ++c) {
      current_[c].raw = 0;
      partial_[c].raw = 0;
      growing_[c].clear();
    }
    for (unsigned i = 0; i < registry_lists; ++i) registry_[i].raw = 0;
    for (unsigned i = 0; i < large_bins * large_slots; ++i) large_kept_[i].raw = 0;
    kept_bytes_.raw = 0;
  }

  /// Give every hunk with nothing live back to the heap (exclusive use only).
  /// Returns the number given back.
  SWIM_MEM_API std::size_t trim_hunks() {
    drop_kept_large();
    std::size_t n = 0;
    cushion_.raw = 0;  // (every empty hunk goes; the others are not counted)
    for (unsigned c = 0; c < Table::count; ++c) {
      current_[c].raw = 0;
      partial_[c].raw = 0;
    }
    for (unsigned i = 0; i < registry_lists; ++i) {
      std::uint64_t at = registry_[i].raw;
      registry_[i].raw = 0;
      while (at != 0) {
        Hunk* h = hunk_at(at);
        at = h->next_registered.raw;
        const std::size_t bytes = h->block_size;  // (read before the hunk goes)
        // Back to the heap as the heap gave it: accessible (config/poison.hpp).
        if (h->live.raw == 0) unpoison_meta(h, bytes);
        if (h->live.raw == 0 && upstream().try_deallocate(Block{h, bytes}) == Error::none) {
          hunk_bytes_.raw -= bytes;
          --hunks_.raw;
          ++n;
          continue;
        }
        // Kept: back in the registry, and on its class's partial stack if it has room.
        h->next_registered.raw = registry_[i].raw;
        registry_[i].raw = word_of(h);
        h->flags.raw = 0;
        if ((h->free_top.raw & Hunk::index_mask) != 0 || h->fresh.raw < h->count) {
          h->flags.raw = Hunk::listed_flag;
          h->next_partial.raw = partial_[h->klass].raw & pointer_mask;
          partial_[h->klass].raw = word_of(h) >> 6;
        }
      }
    }
    return n;
  }

  ZeroTag zero_;  // first: the hold's zero-size objects' tag, zero-size objects just past it
  HeapRef upstream_;  // direct only
  typename Addr::template pointer<void> upstream_at_;  // relative only: the heap
  HeapKind upstream_kind_ = HeapKind::none;           // relative only: its kind

 private:
  // A partial stack's head: a hunk's word / 64 in the low 43 bits (hunks are
  // 64-aligned, words below 2^49) and a push-pop counter above, against ABA.
  static constexpr std::uint64_t pointer_mask = (std::uint64_t(1) << 43) - 1;

  // A hunk (or a kept large block) as the words that name it hold it: its address
  // (direct), or its distance from this hold plus word_bias (relative: positive
  // whichever side of the hold it lies, a multiple of 64 for a hunk, below 2^49 for
  // distances below 2^48, and the same in every mapping). 0 is none in both.
  static constexpr std::uint64_t word_bias = std::uint64_t(1) << 48;
  SWIM_MEM_API std::uint64_t word_of(const void* h) const {
    const auto a = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(h));
    if constexpr (relative_tags) {
      return a - static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(this)) + word_bias;
    } else {
      return a;
    }
  }
  SWIM_MEM_API std::uintptr_t address_of(std::uint64_t word) const {
    if constexpr (relative_tags) {
      return reinterpret_cast<std::uintptr_t>(this) + static_cast<std::uintptr_t>(word - word_bias);
    } else {
      return static_cast<std::uintptr_t>(word);
    }
  }
  SWIM_MEM_API Hunk* hunk_at(std::uint64_t word) const {
    return reinterpret_cast<Hunk*>(address_of(word));
  }
  SWIM_MEM_API std::uintptr_t kept_at(std::uint64_t word) const { return address_of(word); }

  // The registry list of a hunk, by its word (the same in every mapping).
  SWIM_MEM_API static unsigned slot(std::uint64_t word) {
    return static_cast<unsigned>((word >> 16) % registry_lists);
  }

  SWIM_MEM_API Result<Block> allocate_in(unsigned c) {
    for (unsigned attempt = 0; attempt < Hunk::max_retries; ++attempt) {
      const std::uint64_t seen = current_[c].load(order::acquire);
      Hunk* h = seen == 0 ? nullptr : hunk_at(seen);
      if (h != nullptr) {
        announce(h, 1);
        std::uint32_t index = 0;
        if (h->take(index, seen_order())) return hand_out(h, index);
        withdraw(h, 1);
      }
      const Error e = advance(c, seen);
      if (e != Error::none) return e;
    }
    return Error::contended;
  }

  /// The current hunk of class c (`seen`) is full: a partial one, else a new one,
  /// becomes current (unless another thread replaced it first).
  SWIM_MEM_API Error advance(unsigned c, std::uint64_t seen) {
    Hunk* h = seen == 0 ? nullptr : hunk_at(seen);
    // growing_[c] counts the advances of class c from before they look for a hunk
    // (a partial one, or a draw from the heap) until they install or list it, or
    // find none, and tells those that found one: one that finds nothing learns from
    // it whether a hunk with room is on its way (wait_for_room;
    // holds/detail/in_flight.hpp).
    InFlight<Mode> counted(growing_[c]);
    Hunk* next = pop_partial(c);
    if (next == nullptr) {
      const Result<Hunk*> fresh = new_hunk(c, counted);
      if (!fresh) {
        counted.end();  // (before the wait: this thread waits for the others)
        if (fresh.error() != Error::out_of_memory) return fresh.error();
        return wait_for_room(c, seen);
      }
      next = *fresh;
    }
    counted.found();  // (a partial hunk; a new one was found at its draw)
    std::uint64_t expected = seen;
    if (!current_[c].compare_exchange(expected, word_of(next), order::seq_cst)) {
      // Another thread installed one first: keep ours findable, take from theirs.
      list(next);
      return Error::none;  // (counted ends after the listing)
    }
    counted.end();  // after the install
    // The old current hunk may have had units freed while it was current, or been
    // retired (fresh units again) since a taker found it full: list it if it has room.
    if (h != nullptr && ((h->free_top.load(order::seq_cst) & Hunk::index_mask) != 0 ||
                         h->fresh.load(order::relaxed) < h->count)) {
      list(h);
    }
    return Error::none;
  }

  /// No partial hunk, the heap dry and class c's current hunk (`seen`) full: none
  /// (try again) once another thread installs or lists a hunk of c, or
  /// InFlight::give_up's answer (as Pool's wait_for_new_head).
  SWIM_MEM_API Error wait_for_room(unsigned c, std::uint64_t seen) {
    using Seen = typename InFlight<Mode>::Seen;
    for (unsigned t = 0;; ++t) {
      // The counts before current_ and partial_: an advance no longer counted has
      // installed or listed its hunk.
      const Seen doing = InFlight<Mode>::seen(growing_[c]);
      if (current_[c].load(order::seq_cst) != seen ||
          (partial_[c].load(order::acquire) & pointer_mask) != 0) {
        return Error::none;
      }
      if (const Error e = InFlight<Mode>::give_up(doing, t); e != Error::none) return e;
      backoff(t);
    }
  }

  /// Put `h` on its class's partial stack unless it is there already.
  SWIM_MEM_API void list(Hunk* h) {
    if ((h->flags.fetch_or(Hunk::listed_flag, order::acq_rel) & Hunk::listed_flag) == 0) {
      push_partial(h);
    }
  }

  /// Raise h's live count for `n` units about to be taken (see ClassHunk::take).
  /// An empty hunk counted in the cushion leaves it.
  SWIM_MEM_API void announce(Hunk* h, std::uint32_t n) {
    if (!retires_) {
      h->live.fetch_add(n, order::relaxed);
      return;
    }
    if (h->live.fetch_add(n, order::seq_cst) == 0 &&
        (h->flags.fetch_and(~Hunk::counted_flag, order::acq_rel) & Hunk::counted_flag) != 0) {
      cushion_.fetch_sub(h->block_size, order::relaxed);
    }
  }

  /// The order of a taker's reads of a hunk's retiring flag (ClassHunk::take).
  SWIM_MEM_API order seen_order() const { return retires_ ? order::seq_cst : order::acquire; }

  /// Take back an announcement of `n` units that were not taken.
  SWIM_MEM_API void withdraw(Hunk* h, std::uint32_t n) {
    const std::uint32_t was = h->live.fetch_sub(n, retires_ ? order::seq_cst : order::relaxed);
    // A retirement may have given up because of the announcement: look again.
    if (was == n && retires_) on_empty(h);
  }

  // Hunks that empty. A hunk stays a hunk until trim() (another thread may be
  // reading its header), but once nothing in it is live its units' pages can go
  // back to the system: the hunk is retired (retire()). With some hysteresis:
  // its class's current hunk is kept committed, and so are empty hunks up to a
  // cushion of max(floor, bytes in use / divisor) (set_cushion) at the time a
  // hunk empties; past that they are retired. The cushion shrinks as its hunks
  // are reused, and at trim(). Its count is exact up to a race with a hunk's
  // reuse, which leaves that hunk counted until it empties again.
  SWIM_MEM_API void on_empty(Hunk* h) {
    if (current_[h->klass].load(order::relaxed) == word_of(h)) return;
    std::size_t allowance = cushion_divisor_ == 0 ? 0 : used_.load(order::relaxed) / cushion_divisor_;
    if (allowance < cushion_floor_) allowance = cushion_floor_;
    if (cushion_bytes() + h->block_size <= allowance) {
      if ((h->flags.fetch_or(Hunk::counted_flag, order::acq_rel) & Hunk::counted_flag) == 0) {
        cushion_.fetch_add(h->block_size, order::relaxed);
      }
      return;
    }
    retire(h);
  }

  /// Give back the pages of an empty hunk's units, keeping its header (and the
  /// first page); the hunk starts again with no unit used. Gives up if a unit is
  /// live or announced by the time the flag is set.
  SWIM_MEM_API void retire(Hunk* h) {
    std::uint64_t top = h->free_top.load(order::relaxed);
    if constexpr (Mode::is_concurrent) {
      do {
        if ((top & Hunk::retiring) != 0) return;  // another thread is at it
      } while (!h->free_top.compare_exchange(top, top | Hunk::retiring, order::seq_cst));
      if (h->live.load(order::seq_cst) != 0) {
        h->free_top.fetch_and(~Hunk::retiring, order::seq_cst);
        return;
      }
    } else {
      if (h->live.raw != 0) return;
    }
    // No unit is live and none can be taken: the units are this thread's alone.
    if ((h->flags.fetch_and(~Hunk::counted_flag, order::acq_rel) & Hunk::counted_flag) != 0) {
      cushion_.fetch_sub(h->block_size, order::relaxed);
    }
    const std::uintptr_t units = reinterpret_cast<std::uintptr_t>(h) + sizeof(Hunk);
    (void)upstream().try_discard(
        Block{reinterpret_cast<void*>(units), h->block_size - sizeof(Hunk)});
    h->fresh.store(0, order::relaxed);
    // An empty stack, no flag, the counter moved on (a stale pop's CAS fails).
    h->free_top.store(((top >> 32) + 1) << 32, order::release);
    retired_.fetch_add(1, order::relaxed);
  }

  SWIM_MEM_API Result<Block> hand_out(Hunk* h, std::uint32_t index) {
    const std::uintptr_t p = h->object(index);
    h->open_unit(index);
    tag_of<Mode>(reinterpret_cast<void*>(p)).store(h->tag_at(p), order::relaxed);
    live_.fetch_add(1, order::relaxed);
    const std::size_t capacity = h->stride - tag_size;
    raise_to(peak_, used_.fetch_add(capacity, order::relaxed) + capacity);
    return Block{reinterpret_cast<void*>(p), capacity};
  }

  SWIM_MEM_API Result<Hunk*> new_hunk(unsigned c, InFlight<Mode>& counted) {
    const HeapRef heap = upstream();
    Result<Block> b = heap.try_allocate(Layout{Table::hunk_bytes(c), alignof(Hunk)});
    if (!b && b.error() == Error::out_of_memory && release_kept(0)) {
      b = heap.try_allocate(Layout{Table::hunk_bytes(c), alignof(Hunk)});  // (kept blocks went back)
    }
    if (!b) return b.error();
    counted.found();  // at once: a thread that finds the heap dry now waits for this hunk
    if (b->size < Hunk::first_object + Table::stride(c) || b->address() % alignof(Hunk) != 0) {
      (void)heap.try_deallocate(*b);
      return Error::out_of_memory;
    }
    if ((word_of(b->ptr) >> 49) != 0) {  // the partial stacks keep 43 bits of word / 64
      (void)heap.try_deallocate(*b);
      return Error::unsupported;
    }
    Hunk* h = static_cast<Hunk*>(b->ptr);
    h->init(this, c, *b);
    // Registered before any of its objects exists, so a validated free finds it.
    auto& list = registry_[slot(word_of(h))];
    std::uint64_t head = list.load(order::relaxed);
    do {
      h->next_registered.store(head, order::relaxed);
    } while (!list.compare_exchange(head, word_of(h), order::release));
    hunk_bytes_.fetch_add(b->size, order::relaxed);
    hunks_.fetch_add(1, order::relaxed);
    return h;
  }

  SWIM_MEM_API void push_partial(Hunk* h) {
    auto& head = partial_[h->klass];
    std::uint64_t top = head.load(order::relaxed);
    for (;;) {  // lock-free: fails only when another push or pop succeeded
      h->next_partial.store(top & pointer_mask, order::relaxed);
      const std::uint64_t want = ((top >> 43) + 1) << 43 | (word_of(h) >> 6);
      if (head.compare_exchange(top, want, order::release)) return;
    }
  }

  SWIM_MEM_API Hunk* pop_partial(unsigned c) {
    auto& head = partial_[c];
    std::uint64_t top = head.load(order::acquire);
    for (unsigned attempt = 0; attempt < Hunk::max_retries; ++attempt) {
      const std::uint64_t p = top & pointer_mask;
      if (p == 0) return nullptr;
      Hunk* h = hunk_at(p << 6);
      // A hunk stays a hunk until trim(): its header is readable even if another
      // thread popped it meanwhile (then the counter makes the CAS fail).
      const std::uint64_t want = ((top >> 43) + 1) << 43 | h->next_partial.load(order::relaxed);
      if (head.compare_exchange(top, want, order::acquire)) {
        h->flags.fetch_and(~Hunk::listed_flag, order::release);
        return h;
      }
    }
    return nullptr;
  }

  SWIM_MEM_API Result<Block> allocate_large(std::size_t n, Layout layout) {
    if (layout.align <= Table::max_align && n <= large_bin_size(large_bins - 1) - large_offset) {
      const std::size_t need = large_offset + ((n + 7) & ~std::size_t(7));
      const unsigned k = large_bin_up(need);
      if (const std::uint64_t kept = take_kept(k, k)) return place_kept(kept);
      Result<Block> b = upstream().try_allocate(Layout{large_bin_size(k), Table::max_align});
      if (!b && b.error() == Error::out_of_memory) {
        // The heap is dry: a kept block of a larger bin serves (up to the largest),
        // else every kept block goes back and the heap is asked once more.
        if (const std::uint64_t kept = take_kept(k + 1, large_bins - 1)) return place_kept(kept);
        if (release_kept(0)) b = upstream().try_allocate(Layout{large_bin_size(k), Table::max_align});
      }
      if (!b) return b.error();
      large_bytes_.fetch_add(b->size, order::relaxed);
      return place_large(*b, large_offset);
    }
    const std::size_t align = layout.align < Table::align ? Table::align : layout.align;
    const std::size_t front = (large_words + 1) * tag_size;
    const std::size_t offset = (front + align - 1) / align * align;
    if (n > ~std::size_t(0) - offset - 7) return Error::oversized;
    const std::size_t n8 = (n + 7) & ~std::size_t(7);  // whole words (large_capacity)
    Result<Block> b = upstream().try_allocate(Layout{offset + n8, align});
    if (!b && b.error() == Error::out_of_memory && release_kept(0)) {
      b = upstream().try_allocate(Layout{offset + n8, align});  // (kept blocks went back)
    }
    if (!b) return b.error();
    large_bytes_.fetch_add(b->size, order::relaxed);
    return place_large(*b, offset);
  }

  /// A kept block of a bin from `from` to `to` (smallest first), taken out of its
  /// slot; 0 if there is none.
  SWIM_MEM_API std::uint64_t take_kept(unsigned from, unsigned to) {
    for (unsigned k = from; k <= to && k < large_bins; ++k) {
      for (unsigned s = 0; s < large_slots; ++s) {
        auto& slot = large_kept_[k * large_slots + s];
        if (slot.load(order::relaxed) == 0) continue;
        const std::uint64_t kept = slot.exchange(0, order::acquire);
        if (kept == 0) continue;
        kept_bytes_.fetch_sub(large_words_of(kept_at(kept) + large_offset)[0], order::relaxed);
        return kept;
      }
    }
    return 0;
  }

  /// The kept block at `kept` (taken by take_kept) as a large object.
  SWIM_MEM_API Block place_kept(std::uint64_t kept) {
    const std::uintptr_t at = kept_at(kept);
    // The size is read before the block is opened: to memcheck, opened memory is
    // undefined, and so would be a size read from it.
    const std::size_t size = large_words_of(at + large_offset)[0];
    unpoison(reinterpret_cast<void*>(at), size);
    return place_large(Block{reinterpret_cast<void*>(at), size}, large_offset);
  }

  /// Give kept blocks back to the heap, those of the largest bins first, until at
  /// most `keep` bytes stay kept. Any thread, any time: a block is taken out of its
  /// slot (one exchange) before it goes. Returns whether any went.
  SWIM_MEM_API bool release_kept(std::size_t keep) {
    bool any = false;
    for (unsigned i = large_bins * large_slots; i-- > 0;) {
      if (kept_bytes_.load(order::relaxed) <= keep) break;
      auto& slot = large_kept_[i];
      if (slot.load(order::relaxed) == 0) continue;
      const std::uint64_t kept = slot.exchange(0, order::acquire);
      if (kept == 0) continue;
      void* const at = reinterpret_cast<void*>(kept_at(kept));
      const std::size_t size = large_words_of(kept_at(kept) + large_offset)[0];
      kept_bytes_.fetch_sub(size, order::relaxed);
      unpoison_meta(at, size);  // back as the heap gave it
      const HeapRef heap = upstream();
      Error e = heap.try_deallocate(Block{at, size});
      for (unsigned t = 0; e == Error::contended && t < 64; ++t) {
        backoff(t);
        e = heap.try_deallocate(Block{at, size});
      }
      if (e == Error::none) {
        large_bytes_.fetch_sub(size, order::relaxed);
        any = true;
        continue;
      }
      // The heap would not take it now: back into a slot of its bin or a smaller one
      // (it is at least as large as theirs); kept, still counted in large_bytes_.
      for (unsigned j = i + 1; j-- > 0;) {
        std::uint64_t empty = 0;
        if (large_kept_[j].compare_exchange(empty, kept, order::release)) {
          kept_bytes_.fetch_add(size, order::relaxed);
          break;
        }
      }
    }
    return any;
  }

  /// The two words in front of the tag of the large object at `obj`.
  SWIM_MEM_API static std::size_t* large_words_of(std::uintptr_t obj) {
    return reinterpret_cast<std::size_t*>(obj - tag_size) - large_words;
  }

  /// Make heap block `b` (held, and counted in large_bytes_) a large object at `offset`.
  SWIM_MEM_API Block place_large(Block b, std::size_t offset) {
    const std::uintptr_t obj = b.address() + offset;
    std::size_t* words = large_words_of(obj);
    words[0] = b.size;
    words[1] = offset;
    tag_of<Mode>(reinterpret_cast<void*>(obj)).store(tag_at(reinterpret_cast<const void*>(obj)),
                                                     order::relaxed);
    live_.fetch_add(1, order::relaxed);
    const std::size_t capacity = large_capacity(b.size, offset);
    raise_to(peak_, used_.fetch_add(capacity, order::relaxed) + capacity);
    return Block{reinterpret_cast<void*>(obj), capacity};
  }

  /// Keep the freed large block `whole` (object offset large_offset) for its bin if
  /// the bound allows and a slot is free; false: it goes back to the heap.
  SWIM_MEM_API bool keep_large(Block whole) {
    if (whole.size < large_bin_size(0) || whole.size > 2 * large_bin_size(large_bins - 1)) {
      return false;
    }
    const std::size_t allowance = keep_allowance();
    if (kept_bytes_.load(order::relaxed) + whole.size > allowance) {
      // Over the bound (bytes in use have fallen since others were kept): this one
      // goes, and so do kept ones until the bound holds again.
      (void)release_kept(allowance);
      return false;
    }
    // The largest bin the block covers (its size may exceed its bin's: heap rounding).
    unsigned k = whole.size > large_bin_size(large_bins - 1) ? large_bins - 1
                                                             : large_bin_up(whole.size);
    if (large_bin_size(k) > whole.size) --k;
    for (unsigned s = 0; s < large_slots; ++s) {
      std::uint64_t empty = 0;
      auto& slot = large_kept_[k * large_slots + s];
      if (slot.load(order::relaxed) == 0 &&
          slot.compare_exchange(empty, word_of(whole.ptr), order::release)) {
        kept_bytes_.fetch_add(whole.size, order::relaxed);
        return true;
      }
    }
    return false;
  }

  /// The bound on kept bytes now: max(floor, bytes in use / divisor).
  SWIM_MEM_API std::size_t keep_allowance() const {
    const std::size_t share = keep_divisor_ == 0 ? 0 : used_.load(order::relaxed) / keep_divisor_;
    return share < keep_floor_ ? keep_floor_ : share;
  }

  /// Give every kept large block back to the heap (exclusive use only).
  SWIM_MEM_API void drop_kept_large() {
    for (unsigned i = 0; i < large_bins * large_slots; ++i) {
      const std::uint64_t kept = large_kept_[i].raw;
      if (kept == 0) continue;
      void* const at = reinterpret_cast<void*>(kept_at(kept));
      const std::size_t size = large_words_of(kept_at(kept) + large_offset)[0];
      unpoison_meta(at, size);  // back as the heap gave it
      if (upstream().try_deallocate(Block{at, size}) == Error::none) {
        large_kept_[i].raw = 0;
        kept_bytes_.raw -= size;
        large_bytes_.raw -= size;
      }
    }
  }

  ZeroCount<Mode> zero_count_;
  cell<std::uint64_t, Mode> current_[Table::count];
  cell<std::uint64_t, Mode> partial_[Table::count];
  GrowCounts<Mode> growing_[Table::count];  // advances looking or installing (advance)
  cell<std::uint64_t, Mode> registry_[registry_lists];
  cell<std::size_t, Mode> live_;
  cell<std::size_t, Mode> used_;
  cell<std::size_t, Mode> peak_;
  cell<std::size_t, Mode> hunk_bytes_;
  cell<std::size_t, Mode> large_bytes_;
  cell<std::size_t, Mode> hunks_;
  cell<std::size_t, Mode> retired_;
  cell<std::uint64_t, Mode> cushion_;  // bytes; may dip below 0 (as int64) in a race
  std::size_t cushion_floor_ = std::size_t(256) << 10;
  std::size_t cushion_divisor_ = 8;
  cell<std::uint64_t, Mode> large_kept_[large_bins * large_slots];  // block words, 0: empty
  cell<std::size_t, Mode> kept_bytes_;
  std::size_t keep_floor_ = std::size_t(8) << 20;
  std::size_t keep_divisor_ = 4;
  bool retires_;
};

template <concurrency_mode Mode, class Addr>
SWIM_MEM_API inline Error ClassHunk<Mode, Addr>::tag_free(Block block) {
  return owner()->release_in_hunk(this, block);
}
template <concurrency_mode Mode, class Addr>
SWIM_MEM_API inline Result<Block> ClassHunk<Mode, Addr>::tag_resize(Block block, Layout layout) {
  std::uint32_t index = 0;
  if (!index_of(block.address(), index) || block.size > stride - tag_size) {
    return Error::foreign_pointer;
  }
  if (!is_pow2(layout.align)) return Error::misaligned;
  if (block.address() % layout.align != 0) return Error::unsupported;
  if (layout.size > stride - tag_size) return Error::out_of_memory;
  return Block{block.ptr, stride - tag_size};  // the unit is the object's capacity
}
template <concurrency_mode Mode, class Addr>
SWIM_MEM_API inline std::uint64_t ClassHunk<Mode, Addr>::tag_owner() const {
  return owner()->tag_owner();
}

}  // namespace detail

/// A tagged hold for objects of any size (see the file comment), over `Heap`.
///
/// - Thread-safety: concurrent: lock-free allocation and free from any number of
///   host or device threads (frees from any thread); single_owner: one caller at a
///   time. trim() and destruction need exclusive use.
/// - Host/device: every member is valid on both sides where the heap is (growth
///   through a HeapRef, as a Pool's).
/// - Objects: a request of n bytes gets a class unit whose object capacity
///   (Block.size) is at least n: its stride (n + 8 rounded up to its class) is at
///   most a quarter above n + 8 past 128 bytes, at most 15 bytes above it below;
///   16-byte aligned. Above 32760 bytes or 16-byte alignment, a heap block of its
///   own (three words in front of the object). Zero-size objects share one
///   address and are counted. One tag word per class object.
/// - Failure: Error values, nothing changed (out_of_memory when the heap refuses
///   a hunk or a large block; the heap's oversized passes through when a hunk or
///   a large block could never fit in it). Frees are checked in checked builds (Checked) and
///   always through HoldRef::try_deallocate: foreign pointers and double frees are
///   reported. Memory that went back to the heap is no longer the hold's to check:
///   a second free of a large object, or of a class object whose hunk trim() gave
///   back, reads memory the heap may have handed out again (or unmapped), and so
///   does any free of an object left alive when the hold was destroyed.
/// - Heap: one of heaps/heap_kinds.hpp (the hold grows through a HeapRef, so that a
///   tag can make it grow); a static_assert says so.
/// - Memory: a hunk's units are written only once handed out; over a heap that
///   can discard pages, hunks that empty past a cushion give their units' pages
///   back at once (set_cushion, retired_hunks); hunks with nothing live go back to
///   the heap in trim() and at destruction.
template <heap Heap, concurrency_mode Mode = concurrent, bool Checked = (SWIM_MEM_CHECKED != 0),
          class Addr = direct_address>
class SizeClasses : public detail::ClassCore<Mode, Addr> {
  using Core = detail::ClassCore<Mode, Addr>;
  using Hunk = detail::ClassHunk<Mode, Addr>;
  static_assert(heap_kind_v<Heap> != HeapKind::none,
                "SizeClasses grows through a HeapRef: its heap must be in heaps/heap_kinds.hpp");

 public:
  static constexpr bool checked = Checked;

  /// Over `upstream`, which must outlive the hold.
  SWIM_MEM_API explicit SizeClasses(Heap& upstream) : Core(HeapRef::of(upstream)) {}
  SizeClasses(const SizeClasses&) = delete;
  SizeClasses& operator=(const SizeClasses&) = delete;

  /// Gives every hunk back; with live objects it reports a leak and keeps the
  /// hunks that hold them (and large objects stay with the heap).
  SWIM_MEM_API ~SizeClasses() {
    const Stats s = this->stats();
    if (s.live != 0) detail::leaked("SizeClasses", this, s);
    (void)this->trim_hunks();
  }

  /// A tagged object of at least layout.size bytes aligned to layout.align.
  SWIM_MEM_API Result<Block> try_allocate(Layout layout) { return this->allocate(layout); }
  /// malloc's shape: `bytes` aligned to `align` (16 by default).
  SWIM_MEM_API Result<Block> try_allocate(std::size_t bytes, std::size_t align = 16) {
    return this->allocate(Layout{bytes, align});
  }

  /// Free an object of this hold (the block try_allocate returned, or with the
  /// size asked for). Checked: validated first; unchecked: the tag is trusted.
  SWIM_MEM_API Error try_deallocate(Block block) {
    if constexpr (Checked) {
      return this->checked_free(block);
    } else {
      return hold_free_trusted(block);
    }
  }

  /// Resize an object of this hold in place (never moves): within its unit (or
  /// large block), the block returned has the object's whole capacity;
  /// out_of_memory when the unit is too small (a lease then moves the object),
  /// misaligned / unsupported for an alignment that is not a power of two / not
  /// met where the object is. Checked as try_deallocate is.
  SWIM_MEM_API Result<Block> try_resize(Block block, Layout layout) {
    if (!detail::is_pow2(layout.align)) return Error::misaligned;
    if (block.ptr == nullptr || block.address() % detail::tag_size != 0) return Error::foreign_pointer;
    const std::uint64_t t = detail::peek_tag(block.ptr);  // may be no tag, in poisoned memory
    if (detail::tag_kind(t) == HoldKind::freed) return Error::double_free;
    void* const control = detail::control_at<Core::relative_tags>(t, block.ptr);
    if (control == static_cast<Core*>(this) && detail::tag_kind(t) == Core::kind) {
      return this->tag_resize(block, layout);
    }
    auto* h = static_cast<Hunk*>(control);
    if (detail::tag_kind(t) != Hunk::kind) return Error::foreign_pointer;
    if constexpr (Checked) {
      if (!this->registered(h)) return Error::foreign_pointer;
    } else {
      // The tag is trusted, but an object of another hold is refused, as
      // try_deallocate refuses it: its hunk names another hold.
      if (h->owner() != static_cast<Core*>(this)) return Error::foreign_pointer;
    }
    return h->tag_resize(block, layout);
  }

  /// Give every hunk with nothing live back to the heap (exclusive use only).
  SWIM_MEM_API std::size_t trim() { return this->trim_hunks(); }

  SWIM_MEM_API Error init_error() const { return Error::none; }

 private:
  SWIM_MEM_API Error hold_free_trusted(Block block) {
    if (block.ptr == nullptr || block.address() % detail::tag_size != 0) return Error::foreign_pointer;
    const std::uint64_t t = detail::tag_of<Mode>(block.ptr).load(order::relaxed);
    if (detail::tag_kind(t) == HoldKind::freed) return Error::double_free;
    void* const control = detail::control_at<Core::relative_tags>(t, block.ptr);
    if (control == static_cast<Core*>(this)) return this->release_large(block);
    if (detail::tag_kind(t) != Hunk::kind) return Error::foreign_pointer;
    // The tag is trusted (an unchecked free), but an object of another hold is
    // still refused, as a Pool refuses one: its hunk names another core.
    auto* h = static_cast<Hunk*>(control);
    if (h->owner() != static_cast<Core*>(this)) return Error::foreign_pointer;
    return this->release_in_hunk(h, block);
  }
};

}  // namespace swim::mem
