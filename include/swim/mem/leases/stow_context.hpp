// Layer 6 (leases): StowContext, the state of one stow transaction.
#pragma once

#include "swim/mem/holds.hpp"
#include "swim/mem/leases/arc_stow_log.hpp"

namespace swim::mem {

/// The state of one stow transaction: the target hold and the log of the shared
/// arcs relocated so far (detail::ArcStowLog). Made by try_stow / try_stow_all /
/// try_compact (or by a caller driving stow_traits directly, who must then call
/// commit() after success or rollback() after failure). Lives on the stowing
/// thread's stack; not shared.
class StowContext {
 public:
  SWIM_MEM_API explicit StowContext(HoldRef target, const void* salt = nullptr)
      : target_(target), arcs_(salt) {}
  StowContext(const StowContext&) = delete;
  StowContext& operator=(const StowContext&) = delete;

  /// Where the stowed copies go.
  SWIM_MEM_API HoldRef target() const { return target_; }

  /// Publish every logged relocation (after the whole stow succeeded).
  SWIM_MEM_API void commit() { arcs_.commit(); }
  /// Undo every logged relocation (after the stow failed and every dst it made was
  /// unstowed).
  SWIM_MEM_API void rollback() { arcs_.rollback(); }

  /// The shared relocations of this transaction (for leases/arc_core.hpp).
  SWIM_MEM_API detail::ArcStowLog& arc_log() { return arcs_; }

 private:
  HoldRef target_;
  detail::ArcStowLog arcs_;
};

}  // namespace swim::mem
