// OsPages: anonymous private mappings (POSIX). Host only.
#include "swim/mem/sources/os_pages.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

namespace swim::mem {
namespace {

// A page-multiple size for `bytes`; false when rounding overflows.
bool page_round(std::size_t bytes, std::size_t page, std::size_t& out) {
  return detail::align_up(bytes == 0 ? 1 : bytes, page, out);
}

void* map(std::size_t size) noexcept {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

}  // namespace

std::size_t OsPages::page_size() noexcept {
  // sysconf cannot fail for _SC_PAGESIZE on POSIX; 4096 is the fallback anyway.
  static const std::size_t page = [] {
    const long v = ::sysconf(_SC_PAGESIZE);
    return v > 0 ? static_cast<std::size_t>(v) : std::size_t(4096);
  }();
  return page;
}

Result<Block> OsPages::try_acquire(std::size_t bytes, std::size_t align) noexcept {
  if (!detail::is_pow2(align) || align > Layout::max_align) return Error::misaligned;
  const std::size_t page = page_size();
  std::size_t size = 0;
  if (!page_round(bytes, page, size)) return Error::oversized;

  if (align <= page) {  // mmap returns page-aligned memory
    void* p = map(size);
    if (p == nullptr) return Error::out_of_memory;
    return Block{p, size};
  }

  // Over-reserve so that an aligned run of `size` bytes fits, then unmap the slack.
  const std::size_t slack = align - page;
  if (size > ~std::size_t(0) - slack) return Error::oversized;
  void* raw = map(size + slack);
  if (raw == nullptr) return Error::out_of_memory;
  const auto start = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t aligned = detail::align_addr(start, align);
  const std::size_t head = static_cast<std::size_t>(aligned - start);
  const std::size_t tail = slack - head;
  // Trimming page-aligned sub-ranges of our own mapping cannot fail short of a
  // kernel bug; if it did, the slack would merely stay mapped.
  if (head != 0) (void)::munmap(raw, head);
  if (tail != 0) (void)::munmap(reinterpret_cast<void*>(aligned + size), tail);
  return Block{reinterpret_cast<void*>(aligned), size};
}

Error OsPages::release(Block region) noexcept {
  if (region.ptr == nullptr) return region.size == 0 ? Error::none : Error::foreign_pointer;
  const std::size_t page = page_size();
  if (region.address() % page != 0) return Error::foreign_pointer;
  std::size_t size = 0;
  if (!page_round(region.size, page, size)) return Error::invalid_argument;
  if (::munmap(region.ptr, size) != 0) return Error::invalid_argument;
  return Error::none;
}

Error OsPages::discard(Block region) noexcept {
  const std::size_t page = page_size();
  // Only the pages wholly inside the block: its neighbours' bytes stay.
  const std::uintptr_t first = detail::align_addr(region.address(), page);
  const std::uintptr_t end = (region.address() + region.size) & ~(std::uintptr_t(page) - 1);
  if (region.ptr == nullptr || end <= first) return Error::none;
  if (::madvise(reinterpret_cast<void*>(first), end - first, MADV_DONTNEED) != 0) {
    return Error::invalid_argument;
  }
  return Error::none;
}

}  // namespace swim::mem
