// Misuse that must not compile (tests/compile_fail/CMakeLists.txt): each
// SWIM_MEM_MISUSE value is one mistake, and its test passes only if the compiler
// prints the library's own message for it. Value 0 is the same code used rightly,
// which must compile: it shows that a failing case fails for its mistake alone.
#include <cstddef>

#include "swim/mem.hpp"
#if SWIM_MEM_MISUSE_MPI
#include "swim/mem/integrations/mpi.hpp"
#endif

namespace swim::mem {

// A heap that satisfies the heap concept but is none of heaps/heap_kinds.hpp.
struct OutsideHeap {
  SourceHeap<StaticRegion<>> inner;
  Result<Block> try_allocate(Layout l) { return inner.try_allocate(l); }
  Error try_deallocate(Block b) { return inner.try_deallocate(b); }
  Stats stats() const { return inner.stats(); }
};

using RelativeSlab = Slab<concurrent, true, relative_address>;

// Instantiating a class template's definition: its static_asserts run.
template <class T>
constexpr std::size_t complete = sizeof(T);

#if SWIM_MEM_MISUSE == 0
constexpr std::size_t all = complete<Pack<concurrent, relative_address>> +
                            complete<Pool<RelativeSlab, concurrent, true, relative_address>> +
                            complete<SizeClasses<RelativeSlab, concurrent, true, relative_address>> +
                            complete<SizeClasses<ExtentHeap<>>>;
#if SWIM_MEM_MISUSE_MPI
constexpr std::size_t node = complete<mpi::NodePool<Hard<Buf<int>, relative_address>>> +
                             complete<mpi::NodePack<const Raw<Buf<int>, relative_address>>>;
#endif
#elif SWIM_MEM_MISUSE == 1  // a relative Pack that only one thread may use
constexpr std::size_t n = complete<Pack<single_owner, relative_address>>;
#elif SWIM_MEM_MISUSE == 2  // a relative Pool that only one thread may use
constexpr std::size_t n = complete<Pool<RelativeSlab, single_owner, true, relative_address>>;
#elif SWIM_MEM_MISUSE == 3  // a relative SizeClasses that only one thread may use
constexpr std::size_t n =
    complete<SizeClasses<RelativeSlab, single_owner, true, relative_address>>;
#elif SWIM_MEM_MISUSE == 4  // a SizeClasses over a heap a HeapRef cannot name
constexpr std::size_t n = complete<SizeClasses<OutsideHeap>>;
#elif SWIM_MEM_MISUSE == 5  // a node's Root that stores this rank's addresses
constexpr std::size_t n = complete<mpi::NodePool<Hard<Buf<int>>>>;
#elif SWIM_MEM_MISUSE == 6  // the same, const
constexpr std::size_t n = complete<mpi::NodePack<const Raw<Buf<int>>>>;
#endif

}  // namespace swim::mem

int main() { return 0; }
