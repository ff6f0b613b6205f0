// Global, host-only state: the process-wide SizeClasses hold behind try_malloc /
// try_free, and each thread's cache of freed class objects.
#include "swim/mem/holds/process_hold.hpp"

#include <cstdint>

#include "swim/mem/heaps/source_heap.hpp"
#include "swim/mem/sources/os_pages.hpp"

namespace swim::mem {
namespace {

using Pages = SourceHeap<OsPages, concurrent>;
using Hold = SizeClasses<Pages, concurrent, false>;
using Table = detail::SizeClassTable;
using Hunk = detail::ClassHunk<concurrent>;

struct Process {
  Pages pages;
  Hold hold{pages};
};

// Built at first use and never destroyed: threads may still free (and exit,
// flushing their caches) after static destructors ran.
Process& process() {
  static Process* p = new Process;
  return *p;
}

const detail::ClassCore<concurrent>* core() { return &process().hold; }

/// A thread's freed class objects, per class. Invariant: every cached object is
/// a class object of the process hold whose tag says freed (so a second try_free
/// of it is seen as a double free), and it counts as live in the hold.
struct ThreadCache {
  static constexpr unsigned capacity = 32;
  static constexpr unsigned refill = 8;
  void* slot[Table::count][capacity];
  unsigned count[Table::count] = {};

  ~ThreadCache() { flush(); }

  void flush() {
    for (unsigned c = 0; c < Table::count; ++c) give_back(c, count[c]);
  }

  /// Return the `n` most recently cached objects of class c to the hold.
  void give_back(unsigned c, unsigned n) {
    for (unsigned i = 0; i < n; ++i) {
      void* p = slot[c][--count[c]];
      auto& tag = detail::tag_of<concurrent>(p);
      Hunk* h = static_cast<Hunk*>(detail::tag_control(tag.load(order::relaxed)));
      tag.store(h->tag(), order::relaxed);  // live again, for the hold's own free
      Error e = h->core->release_in_hunk(h, Block{p, 0});
      while (e == Error::contended) e = h->core->release_in_hunk(h, Block{p, 0});
    }
  }
};

thread_local ThreadCache t_cache;

}  // namespace

Result<Block> try_malloc(std::size_t bytes, std::size_t align) noexcept {
  if (!detail::is_pow2(align)) return Error::misaligned;
  const std::size_t n = bytes == 0 ? 1 : bytes;
  if (n > Table::max_object || align > Table::align) {
    return process().hold.try_allocate(Layout{n, align});
  }
  const unsigned c = Table::of_object(n);
  const std::size_t capacity = Table::stride(c) - detail::tag_size;
  ThreadCache& k = t_cache;
  if (k.count[c] == 0) {
    // Fill a few at once: one is handed out, the rest wait in the cache (freed).
    for (unsigned i = 0; i < ThreadCache::refill; ++i) {
      const Result<Block> r = process().hold.try_allocate(Layout{capacity, 16});
      if (!r) {
        if (i == 0 && k.count[c] == 0) return r.error();
        break;
      }
      auto& tag = detail::tag_of<concurrent>(r->ptr);
      tag.store(detail::freed_tag(detail::tag_control(tag.load(order::relaxed))), order::relaxed);
      k.slot[c][k.count[c]++] = r->ptr;
    }
  }
  void* p = k.slot[c][--k.count[c]];
  auto& tag = detail::tag_of<concurrent>(p);
  tag.store(static_cast<Hunk*>(detail::tag_control(tag.load(order::relaxed)))->tag(), order::relaxed);
  return Block{p, capacity};
}

Error try_free(void* p) noexcept {
  if (p == nullptr) return Error::none;
  if (reinterpret_cast<std::uintptr_t>(p) % detail::tag_size != 0) return Error::foreign_pointer;
  auto& tag = detail::tag_of<concurrent>(p);
  const std::uint64_t t = tag.load(order::relaxed);
  if (detail::tag_kind(t) == HoldKind::freed) return Error::double_free;
  if (detail::tag_kind(t) == Hunk::kind) {
    Hunk* h = static_cast<Hunk*>(detail::tag_control(t));
    if (h->core == core()) {
      ThreadCache& k = t_cache;
      const unsigned c = h->klass;
      if (k.count[c] == ThreadCache::capacity) k.give_back(c, ThreadCache::capacity / 2);
      tag.store(detail::freed_tag(h), order::relaxed);
      k.slot[c][k.count[c]++] = p;
      return Error::none;
    }
  }
  // A large object of the process hold (tagged with the hold itself); anything
  // else is not try_malloc's: its own hold needs its block (hold_deallocate).
  if (detail::tag_control(t) == static_cast<const void*>(core())) return hold_deallocate(Block{p, 0});
  return Error::foreign_pointer;
}

HoldRef process_hold() noexcept { return HoldRef::of(process().hold); }

Stats process_hold_stats() noexcept { return process().hold.stats(); }

void flush_thread_cache() noexcept { t_cache.flush(); }

std::size_t trim_process_hold() noexcept { return process().hold.trim(); }

}  // namespace swim::mem
