// Global, host-only state: the process-wide SizeClasses hold behind try_malloc /
// try_free, and each thread's cache of freed class objects.
#include "swim/mem/holds/process_hold.hpp"

#include <array>
#include <atomic>
#include <cstdint>

#include "swim/mem/heaps/source_heap.hpp"
#include "swim/mem/sources/os_pages.hpp"

namespace swim::mem {
namespace {

using Pages = SourceHeap<OsPages, concurrent>;
using Hold = SizeClasses<Pages, concurrent, false>;
using Core = detail::ClassCore<concurrent>;
using Table = detail::SizeClassTable;
using Hunk = detail::ClassHunk<concurrent>;

struct Process {
  Pages pages;
  Hold hold{pages};
};

// The process hold's core once it exists (read by try_free's fast path, which
// only needs to tell the hold's hunks from others': an object of the hold can
// exist only after this was set).
std::atomic<const Core*> g_core{nullptr};

// Built at first use and never destroyed: threads may still free (and exit,
// flushing their caches) after static destructors ran.
Process& process() {
  static Process* p = [] {
    auto* made = new Process;
    g_core.store(&made->hold, std::memory_order_release);
    return made;
  }();
  return *p;
}

// Requests up to this size find their class in a table (one load).
constexpr std::size_t small_limit = 1024;

// The class of n bytes (1 <= n <= small_limit), by n's 8-byte granule: all sizes
// of a granule share a class because strides are multiples of 16 (see
// SizeClassTable), so n + 8 rounds up to the same stride.
// (Table::of_object is not constexpr: the smallest class that holds n + 8.)
constexpr unsigned class_holding(std::size_t n) {
  unsigned c = 0;
  while (Table::stride(c) < n + detail::tag_size) ++c;
  return c;
}
constexpr std::array<std::uint8_t, small_limit / 8 + 1> small_class = [] {
  std::array<std::uint8_t, small_limit / 8 + 1> t{};
  for (std::size_t g = 1; g <= small_limit / 8; ++g) t[g] = static_cast<std::uint8_t>(class_holding(g * 8));
  t[0] = t[1];
  return t;
}();
static_assert([] {
  for (std::size_t n = 1; n <= small_limit; ++n) {
    if (small_class[(n + 7) / 8] != class_holding(n)) return false;
  }
  return true;
}());

constexpr std::array<std::uint32_t, Table::count> capacity_of = [] {
  std::array<std::uint32_t, Table::count> t{};
  for (unsigned c = 0; c < Table::count; ++c) t[c] = static_cast<std::uint32_t>(Table::stride(c) - detail::tag_size);
  return t;
}();

// A class object's tag goes between live (hunk | hunk kind) and freed (hunk |
// freed) by this XOR.
constexpr std::uint64_t flip = static_cast<std::uint64_t>(Hunk::kind) ^ static_cast<std::uint64_t>(HoldKind::freed);

/// Batches of freed class objects passed between threads' caches: a thread whose
/// cache of a class is full hands 16 objects over with one CAS, and a thread whose
/// cache is empty takes 16 with one, so objects freed by one thread and used by
/// another (producer and consumer) seldom touch the hunks. A batch is a node of a
/// static array (pointers to the objects); nodes are linked by index in lock-free
/// stacks (a pop counter against ABA), so that a stale read of a link reads
/// another node, never freed memory. At most max_batches per class wait here;
/// past that a full cache gives its objects back to their hunks. Invariant: every
/// object of a waiting batch is as a cached one (tag freed, counted live).
class Transfer {
 public:
  static constexpr unsigned batch = 16;
  static constexpr unsigned max_batches = 64;

  /// Take the `batch` objects of `out` over; false (nothing taken) when the
  /// class has max_batches waiting or no node is free.
  bool put(unsigned c, void* const* objects) {
    if (waiting_[c].fetch_add(1, std::memory_order_relaxed) >= max_batches) {
      waiting_[c].fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    std::uint32_t n = pop(free_);
    if (n == 0) {
      n = bump_.fetch_add(1, std::memory_order_relaxed) + 1;
      if (n > node_count) {
        waiting_[c].fetch_sub(1, std::memory_order_relaxed);
        return false;
      }
    }
    for (unsigned i = 0; i < batch; ++i) nodes_[n - 1].objects[i] = objects[i];
    push(full_[c], n);
    return true;
  }

  /// With nothing waiting and no thread putting or taking (exclusive use): every
  /// node unused again, and their pages given back (they read as zero, the state
  /// they started in).
  void reset() {
    free_.store(0, std::memory_order_relaxed);
    bump_.store(0, std::memory_order_relaxed);
    (void)OsPages{}.discard(Block{nodes_, sizeof nodes_});
  }

  /// Batches of class c waiting (a moment ahead of the stack while one is put).
  std::size_t waiting(unsigned c) const { return waiting_[c].load(std::memory_order_relaxed); }

  /// A batch of class c into `out` (batch objects); false if none waits.
  bool take(unsigned c, void** out) {
    const std::uint32_t n = pop(full_[c]);
    if (n == 0) return false;
    waiting_[c].fetch_sub(1, std::memory_order_relaxed);
    for (unsigned i = 0; i < batch; ++i) out[i] = nodes_[n - 1].objects[i];
    push(free_, n);
    return true;
  }

 private:
  static constexpr std::uint32_t node_count = Table::count * max_batches;
  struct Node {
    void* objects[batch] = {};
    std::atomic<std::uint32_t> next{0};  // index + 1 of the next node of its stack
  };
  using Stack = std::atomic<std::uint64_t>;  // {pop counter : 32, index + 1 : 32}

  void push(Stack& s, std::uint32_t n) {
    std::uint64_t top = s.load(std::memory_order_relaxed);
    do {
      nodes_[n - 1].next.store(static_cast<std::uint32_t>(top), std::memory_order_relaxed);
      // Release: the node's objects (written above) go with it.
    } while (!s.compare_exchange_weak(top, (top & ~std::uint64_t(0xFFFFFFFFu)) | n,
                                      std::memory_order_release, std::memory_order_relaxed));
  }
  std::uint32_t pop(Stack& s) {
    std::uint64_t top = s.load(std::memory_order_acquire);
    for (;;) {  // lock-free: fails only when another push or pop succeeded
      const auto n = static_cast<std::uint32_t>(top);
      if (n == 0) return 0;
      const std::uint64_t want = ((top >> 32) + 1) << 32 | nodes_[n - 1].next.load(std::memory_order_relaxed);
      if (s.compare_exchange_weak(top, want, std::memory_order_acquire, std::memory_order_acquire)) return n;
    }
  }

  Node nodes_[node_count];  // (zero until used: untouched pages cost nothing)
  Stack free_{0};
  std::atomic<std::uint32_t> bump_{0};  // nodes ever used
  Stack full_[Table::count] = {};
  std::atomic<std::uint32_t> waiting_[Table::count] = {};
};

constinit Transfer g_transfer;

/// A thread's freed class objects, per class, as lists linked through the
/// objects' first words. Invariant: every cached object is a class object of the
/// process hold whose tag says freed (so a second try_free of it is seen as a
/// double free), and it counts as live in the hold. Plain data, zero at thread
/// start, so that reaching it costs no guard; the flush at thread exit is
/// CacheOwner's, armed by the thread's first slow path: until then (and after
/// the flush) every class has no room, so the fast free declines.
struct ThreadCache {
  static constexpr unsigned capacity = 32;
  static constexpr unsigned refill = 8;
  void* head[Table::count];
  std::uint16_t room[Table::count];  // capacity - cached objects (0 before arm())
  bool armed;    // a CacheOwner will flush this cache at thread exit
  bool exiting;  // flushed at thread exit: frees go straight to the hold

  void arm();
  // A cached object is free memory: debug-filled and poisoned but for its link
  // (config/poison.hpp); take() opens it again for the caller.
  // (An object handed over by another thread's cache comes poisoned already.)
  void push(unsigned c, void* p) {
    detail::unpoison(p, capacity_of[c]);
    detail::fill_freed(p, capacity_of[c]);
    detail::poison(p, capacity_of[c]);
    detail::unpoison_meta(p, sizeof(void*));
    *static_cast<void**>(p) = head[c];
    head[c] = p;
    --room[c];
  }
  void* pop(unsigned c) {
    void* p = head[c];
    head[c] = *static_cast<void**>(p);
    ++room[c];
    return p;
  }
  /// pop() for the caller of try_malloc: the object opened and debug-filled.
  static void* opened(unsigned c, void* p) {
    detail::unpoison(p, capacity_of[c]);
    detail::fill_fresh(p, capacity_of[c]);
    return p;
  }

  /// Return up to `n` of the most recently cached objects of class c: whole
  /// batches to the transfer stacks while they take them, the rest to the hunks.
  void give_back(unsigned c, unsigned n) {
    while (n >= Transfer::batch && armed && !exiting && capacity - room[c] >= Transfer::batch) {
      void* objects[Transfer::batch];
      void* keep = head[c];
      std::uint16_t keep_room = room[c];
      for (auto& o : objects) o = pop(c);
      if (!g_transfer.put(c, objects)) {
        head[c] = keep;  // (the list is unchanged: popping only moved the head)
        room[c] = keep_room;
        break;
      }
      n -= Transfer::batch;
    }
    for (unsigned i = 0; i < n && head[c] != nullptr; ++i) release(pop(c));
  }
  void flush() {
    for (unsigned c = 0; c < Table::count; ++c) give_back(c, capacity);
  }
  /// A cached object back to its hunk, its tag staying freed throughout (so a
  /// racing free of it still reads freed); retried while contended.
  static void release(void* p) {
    const std::uint64_t t = detail::tag_of<concurrent>(p).load(order::relaxed);
    Hunk* h = static_cast<Hunk*>(detail::tag_control(t));
    std::uint32_t index = 0;
    if (!h->index_of(reinterpret_cast<std::uintptr_t>(p), index)) return;  // (cannot happen)
    while (h->owner()->put_back(h, index) == Error::contended) {
    }
  }
};

constinit thread_local ThreadCache t_cache{};

/// Flushes the thread's cache at thread exit. Touched only on the slow path
/// (its first use registers the destructor), so that the fast paths reach
/// t_cache without a guard.
struct CacheOwner {
  ~CacheOwner() {
    t_cache.flush();
    t_cache.exiting = true;
    for (auto& r : t_cache.room) r = 0;
  }
};
thread_local CacheOwner t_owner;

void ThreadCache::arm() {
  (void)&t_owner;  // its first use registers its destructor
  armed = true;
  for (auto& r : room) r = capacity;
}

/// Fill the cache of class c with up to `refill` units: runs of fresh units (one
/// atomic each), or single units from the hunks' free stacks once every unit was
/// used. An error only if none was found (the cache unchanged).
[[gnu::noinline]] Error refill(ThreadCache& k, unsigned c) noexcept {
  if (!k.armed) k.arm();
  void* objects[Transfer::batch];
  if (g_transfer.take(c, objects)) {  // another thread's freed objects
    for (void* o : objects) k.push(c, o);
    return Error::none;
  }
  unsigned got = 0;
  while (got < ThreadCache::refill) {
    const Result<detail::ClassRun<concurrent>> run = process().hold.try_take_run(c, ThreadCache::refill - got);
    if (!run) {
      if (got != 0) break;
      return run.error();
    }
    for (unsigned i = run->count; i-- > 0;) {
      const Block b = Core::claim(*run, i);
      detail::tag_of<concurrent>(b.ptr).store(detail::freed_tag(run->hunk), order::relaxed);
      k.push(c, b.ptr);
    }
    got += run->count;
  }
  return Error::none;
}

// A failure as process_malloc returns it: {nullptr, the error}.
constexpr Block failed(Error e) { return Block{nullptr, static_cast<std::size_t>(e)}; }

[[gnu::noinline]] Block allocate_slow(std::size_t bytes, std::size_t align) noexcept {
  if (!detail::is_pow2(align)) return failed(Error::misaligned);
  const std::size_t n = bytes == 0 ? 1 : bytes;
  if (n > Table::max_object || align > Table::max_align) {
    const Result<Block> r = process().hold.try_allocate(Layout{n, align});
    return r ? *r : failed(r.error());
  }
  // (32- and 64-aligned requests: a class whose every object is, cached as any other)
  const unsigned c = align <= Table::align ? Table::of_object(n) : Table::of_object_aligned(n, align);
  ThreadCache& k = t_cache;
  if (k.exiting) {  // (a thread_local destructor after the flush: no cache any more)
    const Result<Block> r = process().hold.try_allocate(Layout{capacity_of[c], align});
    return r ? *r : failed(r.error());
  }
  if (k.head[c] == nullptr) {
    const Error e = refill(k, c);
    if (e != Error::none) return failed(e);
  }
  void* p = k.pop(c);
  auto& tag = detail::tag_of<concurrent>(p);
  tag.store(tag.load(order::relaxed) ^ flip, order::relaxed);
  return Block{ThreadCache::opened(c, p), capacity_of[c]};
}

[[gnu::noinline]] Error free_slow(void* p) noexcept {
  if (p == nullptr) return Error::none;
  if (reinterpret_cast<std::uintptr_t>(p) % detail::tag_size != 0) return Error::foreign_pointer;
  const std::uint64_t t = detail::tag_of<concurrent>(p).load(order::relaxed);
  const Core* core = g_core.load(std::memory_order_acquire);
  if (detail::tag_kind(t) == HoldKind::freed) {
    // Ours (a class object, whose control block is a hunk of the hold, or a large
    // one, tagged with the hold) or another hold's freed object.
    // (The registry, not the control block, says whether it is a hunk of ours: a
    // freed tag's control is not followed unless it is.)
    const void* control = detail::tag_control(t);
    if (core != nullptr &&
        (control == core || core->registered(static_cast<const Hunk*>(control)))) {
      return Error::double_free;
    }
    return Error::foreign_pointer;
  }
  if (detail::tag_kind(t) == Hunk::kind) {
    Hunk* h = static_cast<Hunk*>(detail::tag_control(t));
    if (h->owner() != core) return Error::foreign_pointer;
    ThreadCache& k = t_cache;
    if (k.exiting) return h->owner()->release_in_hunk(h, Block{p, 0});
    const unsigned c = h->klass;
    if (!k.armed) {
      k.arm();
    } else {
      k.give_back(c, ThreadCache::capacity / 2);  // (full: the fast path declined)
    }
    std::uint64_t expected = t;  // (one CAS: a racing second free sees it freed)
    if (!detail::tag_of<concurrent>(p).compare_exchange(expected, t ^ flip, order::relaxed)) {
      return Error::double_free;
    }
    k.push(c, p);
    return Error::none;
  }
  // A large object of the process hold (tagged with the hold itself); anything
  // else is not try_malloc's: its own hold needs its block (hold_deallocate).
  if (core != nullptr && detail::tag_control(t) == static_cast<const void*>(core)) {
    return hold_deallocate(Block{p, 0});
  }
  return Error::foreign_pointer;
}

}  // namespace

namespace detail {

// The fast paths: a small request of a class whose cache has an object, and a
// free of a class object of the process hold into a cache with room. No shared
// state is written: the hold counts cached objects as live. (A Block comes back
// in registers, and each slow path is a tail call.)
Block process_malloc(std::size_t bytes, std::size_t align) noexcept {
  if (SWIM_MEM_LIKELY(bytes - 1 < small_limit && align - 1 < Table::align && (align & (align - 1)) == 0)) {
    const unsigned c = small_class[(bytes + 7) >> 3];
    ThreadCache& k = t_cache;
    void* p = k.head[c];
    if (SWIM_MEM_LIKELY(p != nullptr)) {
      k.head[c] = *static_cast<void**>(p);
      ++k.room[c];
      auto& tag = tag_of<concurrent>(p);
      tag.store(tag.load(order::relaxed) ^ flip, order::relaxed);
      return Block{ThreadCache::opened(c, p), capacity_of[c]};
    }
  }
  return allocate_slow(bytes, align);
}

Error process_free(void* p) noexcept {
  if (SWIM_MEM_LIKELY(p != nullptr && reinterpret_cast<std::uintptr_t>(p) % tag_size == 0)) {
    auto& tag = tag_of<concurrent>(p);
    const std::uint64_t t = tag.load(order::relaxed);
    if (SWIM_MEM_LIKELY(tag_kind(t) == Hunk::kind)) {
      const Hunk* h = static_cast<const Hunk*>(tag_control(t));
      ThreadCache& k = t_cache;
      const unsigned c = h->klass;
      if (SWIM_MEM_LIKELY(h->owner() == g_core.load(std::memory_order_relaxed) && k.room[c] != 0)) {
#if SWIM_MEM_CHECKED
        // Checked builds: two threads freeing one object at once must not both
        // cache it (their lists would share its link): one CAS decides.
        std::uint64_t expected = t;
        if (!tag.compare_exchange(expected, t ^ flip, order::relaxed)) return free_slow(p);
#else
        tag.store(t ^ flip, order::relaxed);  // unchecked: a racing double free is UB, as free()'s
#endif
        k.push(c, p);
        return Error::none;
      }
    }
  }
  return free_slow(p);
}

Error process_free_checked(void* p) noexcept {
  if (p == nullptr) return Error::none;
  if (reinterpret_cast<std::uintptr_t>(p) % tag_size != 0) return Error::foreign_pointer;
  const Core* core = g_core.load(std::memory_order_acquire);
  if (core == nullptr) return Error::foreign_pointer;
  const std::uint64_t t = peek_tag(p);
  const void* control = tag_control(t);
  if (control == static_cast<const void*>(core)) return free_slow(p);  // large, or zero-size
  if (tag_kind(t) != Hunk::kind && tag_kind(t) != HoldKind::freed) return Error::foreign_pointer;
  const Hunk* h = static_cast<const Hunk*>(control);
  std::uint32_t index = 0;
  if (!core->registered(h) || !h->index_of(reinterpret_cast<std::uintptr_t>(p), index)) {
    return Error::foreign_pointer;
  }
  return process_free(p);
}

}  // namespace detail

HoldRef process_hold() noexcept { return HoldRef::of(process().hold); }

Stats process_hold_stats() noexcept {
  // The hold counts the objects waiting in the transfer stacks as live; to its
  // users they are free.
  Stats s = process().hold.stats();
  for (unsigned c = 0; c < Table::count; ++c) {
    const std::size_t n = g_transfer.waiting(c) * Transfer::batch;
    const std::size_t bytes = n * capacity_of[c];
    s.live -= n < s.live ? n : s.live;
    s.bytes_in_use -= bytes < s.bytes_in_use ? bytes : s.bytes_in_use;
    s.bytes_free += bytes;
    // A waiting batch serves the next try_malloc of its class whose cache is empty.
    if (n != 0 && capacity_of[c] > s.largest_free) s.largest_free = capacity_of[c];
  }
  if (s.largest_free > s.bytes_free) s.largest_free = s.bytes_free;
  return s;
}

void walk_process_hold(void (*visit)(const Region&, void*), void* context) noexcept {
  process().hold.walk([&](const Region& r) { visit(r, context); });
}

void flush_thread_cache() noexcept { t_cache.flush(); }

std::size_t trim_process_hold() noexcept {
  // (exclusive use: no cache takes or gives batches meanwhile)
  for (unsigned c = 0; c < Table::count; ++c) {
    void* objects[Transfer::batch];
    while (g_transfer.take(c, objects)) {
      for (void* o : objects) ThreadCache::release(o);
    }
  }
  g_transfer.reset();
  return process().hold.trim();
}

}  // namespace swim::mem
