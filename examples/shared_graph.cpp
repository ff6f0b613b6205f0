// shared_graph: shared leases across a scope.
//
// A ring of vertices (Hard next, Soft prev: a cycle through Softs at every vertex)
// is built in a scratch scope, and an observer outside the structure keeps a Soft to
// one vertex. The ring is kept into a long-lived Pool in one transaction: first into
// a Pool too small for it (nothing changes, nothing is left behind), then into the
// home Pool. The scope's memory goes back at once; the observer's Soft follows the
// vertex to its new place. Then copy-on-write and unwrap on a shared buffer.
//
//   static arena -> AddrSpace (pages) -> Pool "home"  (long-lived)
//                 a static Pack "tight" (too small on purpose)
//                                     -> Pool in a Scope (scratch)
#include <cstdint>
#include <cstdio>

#include "swim/mem.hpp"

using namespace swim::mem;

struct Vertex {
  int id = 0;
  Hard<Box<Vertex>> next;  // strong: the ring owns its vertices
  Soft<Box<Vertex>> prev;  // weak: the back edges close cycles without leaking
};

template <>
struct swim::mem::stow_traits<Vertex>
    : stow_members<Vertex, &Vertex::id, &Vertex::next, &Vertex::prev> {};

namespace {

alignas(4096) std::byte g_arena[8 << 20];
alignas(64) std::byte g_tight[16 << 10];
constexpr int kVertices = 1000;

using VertexLease = Hard<Box<Vertex>>;

/// A ring 0 -> 1 -> ... -> n-1, with prev edges back; the caller's Hard is vertex 0
/// and the last vertex's next is left empty (the ring's strong half is a chain; its
/// weak half closes the cycle: 0's prev is the last vertex).
Error build_ring(HoldRef hold, int n, VertexLease& first) {
  VertexLease head;
  for (int i = n - 1; i >= 0; --i) {
    Result<VertexLease> v = VertexLease::try_new(hold, Vertex{i, detail::move(head), {}});
    if (!v) return v.error();
    head = v.take();
    Result<Ref<Box<Vertex>>> r = head.try_ref();
    if (!r) return r.error();
    if ((*r)->next) {  // the vertex after this one points back here
      Result<Mut<Box<Vertex>>> m = (*r)->next.try_mut();
      Result<Soft<Box<Vertex>>> back = head.to_soft();
      if (!m || !back) return Error::contended;
      (*m)->prev = back.take();
    }
  }
  // Close the cycle through a Soft: vertex 0's prev is the last vertex. The walk
  // holds a Hard to the vertex it is at (a pointer into a payload would be valid only
  // while nothing else changes the ring).
  VertexLease last = head.try_clone().take();
  while (true) {
    Result<Ref<Box<Vertex>>> r = last.try_ref();
    if (!r) return r.error();
    if (!(*r)->next) break;
    Result<VertexLease> next = (*r)->next.try_clone();
    if (!next) return next.error();
    r->reset();
    last = next.take();
  }
  Result<Soft<Box<Vertex>>> back = last.to_soft();
  Result<Mut<Box<Vertex>>> m = head.try_mut();
  if (!back || !m) return Error::contended;
  (*m)->prev = back.take();
  m->reset();
  first = detail::move(head);
  return Error::none;
}

/// Walk the ring forward, checking ids and back edges: the number of vertices, or -1.
int check_ring(const VertexLease& first) {
  Result<VertexLease> cur = first.try_clone();
  if (!cur) return -1;
  VertexLease at = cur.take();
  const void* prev = nullptr;
  int n = 0;
  while (at) {
    Result<Ref<Box<Vertex>>> r = at.try_ref();
    if (!r || (*r)->id != n || (n > 0 && (*r)->prev.data() != prev)) return -1;
    prev = at.data();
    ++n;
    VertexLease next;
    if ((*r)->next) {
      Result<VertexLease> c = (*r)->next.try_clone();
      if (!c) return -1;
      next = c.take();
    }
    r->reset();
    at = detail::move(next);
  }
  Result<Ref<Box<Vertex>>> r0 = first.try_ref();
  return r0 && (*r0)->prev.data() == prev ? n : -1;  // the cycle closes
}

/// Break the ring's strong chain vertex by vertex: dropping the first Hard alone
/// would destroy the chain by recursion, one level per vertex. (Stow recurses along
/// the chain too: for very long chains prefer Bufs of Hards to linked lists.)
void drop_ring(VertexLease& first) {
  while (first) {
    VertexLease next;
    {
      Result<Mut<Box<Vertex>>> m = first.mut();  // host: wait for readers
      if (m) next = detail::move((*m)->next);
    }
    first = detail::move(next);
  }
}

int fail(const char* what) {
  std::printf("FAILED: %s\n", what);
  return 1;
}

}  // namespace

int main() {
  AddrSpace<> pages(Block{g_arena, sizeof g_arena});
  Pool<AddrSpace<>> home(pages, 64 * 1024);
  Pack<> tight(Block{g_tight, sizeof g_tight});  // room for a third of the ring
  const HoldRef previous_default = set_default_hold(HoldRef::of(home));
  const std::size_t pages_before = pages.stats().bytes_in_use;

  VertexLease ring;
  Soft<Box<Vertex>> observer;
  {
    Scope<Pool<AddrSpace<>>> scratch(pages, 16 * 1024);
    if (build_ring(current_hold(), kVertices, ring) != Error::none) return fail("build");
    {
      Result<Ref<Box<Vertex>>> r = ring.try_ref();
      if (!r) return fail("borrow");
      Result<Soft<Box<Vertex>>> s = (*r)->next.to_soft();
      if (!s) return fail("soft");
      observer = s.take();  // vertex 1, held outside the ring
    }
    std::printf("built %d vertices in scratch: %zu live, %zu hunks\n", check_ring(ring),
                scratch.hold().stats().live, scratch.hold().hunk_count());

    // Too small: one transaction, so nothing changes and nothing is left behind.
    const Error e = try_stow_all(HoldRef::of(tight), ring);
    std::printf("keep into a too small Pack: %s; ring intact: %s; the Pack holds %zu\n",
                to_string(e), check_ring(ring) == kVertices ? "yes" : "no",
                tight.stats().live);
    if (e != Error::out_of_memory || tight.stats().live != 0) return fail("rollback");

    if (scratch.try_keep(ring) != Error::none) return fail("keep");
    std::printf("kept into home: %zu live in scratch (the observer keeps its stub)\n",
                scratch.hold().stats().live);
    // The observer's Soft still reaches vertex 1, now in home, through the stub it
    // keeps in scratch; it must refresh (or let go) before the scope ends.
    {
      Result<Ref<Box<Vertex>>> r = observer.try_ref();
      if (!r || (*r)->id != 1) return fail("observer");
    }
    if (observer.refresh() != Error::none || observer.hold() != HoldRef::of(home)) {
      return fail("refresh");
    }
    std::printf("scratch live after the observer's refresh: %zu\n", scratch.hold().stats().live);
  }  // the scratch Pool's hunks go back here
  std::printf("scope ended: pages in use %zu KiB (home's hunks only)\n",
              (pages.stats().bytes_in_use - pages_before) / 1024);
  std::printf("home: %zu live, cycle intact: %s, fragmentation %.1f %%\n", home.stats().live,
              check_ring(ring) == kVertices ? "yes" : "no", 100 * pool_fragmentation(home));
  if (check_ring(ring) != kVertices || home.stats().live != kVertices) return fail("home");

  // Copy-on-write: a Mut that no other owner's lease sees.
  Hard<Buf<double>> samples = Hard<Buf<double>>::try_empty(HoldRef::of(home)).take();
  Hard<Buf<double>> other_owner = samples.try_clone().take();
  {
    Result<Mut<Buf<double>>> mine = samples.try_to_unique();
    if (!mine || mine->try_push(1.5) != Error::none) return fail("copy-on-write");
    Result<Ref<Buf<double>>> theirs = other_owner.try_ref();
    if (!theirs) return fail("borrow");
    std::printf("copy-on-write: mine has %zu sample(s), the other owner %zu\n", mine->size(),
                theirs->size());
  }
  // Unwrap: the value of the only owner.
  Result<int> v = Hard<Box<int>>::try_new(HoldRef::of(home), 42).take().try_unwrap();
  std::printf("unwrapped %d\n", v ? *v : -1);

  other_owner.reset();
  samples.reset();
  drop_ring(ring);
  observer.reset();
  std::printf("all dropped: home %zu live\n", home.stats().live);
  set_default_hold(previous_default);  // before home goes
  return home.stats().live == 0 ? 0 : fail("leak");
}
