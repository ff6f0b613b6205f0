// Layer 6 (leases): the shared (arc) status word, and the part of an arc header
// that the stow transaction log (leases/arc_stow_log.hpp) threads its entries
// through. The protocol itself is in leases/arc_core.hpp.
#pragma once

#include <cstdint>

#include "swim/mem/config.hpp"

namespace swim::mem {

// ---- The status word ----------------------------------------------------------------

/// The status-word layout (64-bit), masks and initial values.
struct ArcStatus {
  static constexpr std::uint64_t hard_one = 1;
  static constexpr unsigned soft_shift = 24;
  static constexpr unsigned ref_shift = 48;
  static constexpr std::uint64_t soft_one = std::uint64_t(1) << soft_shift;
  static constexpr std::uint64_t ref_one = std::uint64_t(1) << ref_shift;

  static constexpr std::uint64_t hard_count_max = 0xFFFFFF;
  static constexpr std::uint64_t soft_count_max = 0xFFFFFF;
  static constexpr std::uint64_t ref_count_max = 0x3FFF;

  static constexpr std::uint64_t hard_mask = hard_count_max;                  // 0x0000_0000_00FF_FFFF
  static constexpr std::uint64_t soft_mask = soft_count_max << soft_shift;    // 0x0000_FFFF_FF00_0000
  static constexpr std::uint64_t ref_mask = ref_count_max << ref_shift;       // 0x3FFF_0000_0000_0000
  static constexpr std::uint64_t mut_flag = std::uint64_t(1) << 62;           // 0x4000_0000_0000_0000
  static constexpr std::uint64_t relocated_flag = std::uint64_t(1) << 63;     // 0x8000_0000_0000_0000

  static constexpr std::uint64_t aliased_mask = ref_mask | mut_flag;
  static constexpr std::uint64_t referenced_mask = ~relocated_flag;
  static constexpr std::uint64_t read_locked_mask = ref_mask | mut_flag | relocated_flag;
  static constexpr std::uint64_t write_locked_mask = mut_flag | relocated_flag;

  static constexpr std::uint64_t unique_status = hard_one;
  static constexpr std::uint64_t hard_status_init = hard_one;
  static constexpr std::uint64_t ref_status_init = hard_one | ref_one;
  static constexpr std::uint64_t mut_status_init = hard_one | mut_flag;

  SWIM_MEM_API static constexpr std::uint64_t hard(std::uint64_t s) { return s & hard_mask; }
  SWIM_MEM_API static constexpr std::uint64_t soft(std::uint64_t s) {
    return (s & soft_mask) >> soft_shift;
  }
  SWIM_MEM_API static constexpr std::uint64_t ref(std::uint64_t s) {
    return (s & ref_mask) >> ref_shift;
  }
};

static_assert((ArcStatus::hard_mask | ArcStatus::soft_mask | ArcStatus::ref_mask |
               ArcStatus::mut_flag | ArcStatus::relocated_flag) == ~std::uint64_t(0));
static_assert(ArcStatus::referenced_mask == 0x7FFF'FFFF'FFFF'FFFFull);
static_assert(ArcStatus::write_locked_mask == 0xC000'0000'0000'0000ull);

namespace detail {

/// The first two words of every arc header (ArcHeader<M> derives from it).
struct ArcLinks {
  cell<std::uint64_t, concurrent> relocation;  ///< the forward once relocated (ArcCore::forward_word)
  cell<std::uint64_t, concurrent> status;      ///< see ArcStatus
};

}  // namespace detail
}  // namespace swim::mem
