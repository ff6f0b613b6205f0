// Global, host-only state: the process-wide SpaceBinding that spaces made without
// one draw from (integrations/space_binding.hpp). It is created on first use and
// never destroyed, so that an allocation freed during static destruction (a
// framework's View in a global, say) still finds it.
#include "swim/mem/holds/process_hold.hpp"
#include "swim/mem/integrations/space_binding.hpp"

namespace swim::mem {
namespace {

detail::SpaceControl* make_default_control() {
  auto* c = new detail::SpaceControl;
  c->immortal = true;
  c->name = "swim-mem process hold";
  c->do_allocate = [](void*, Layout l) { return try_malloc(l.size, l.align); };
  c->do_deallocate = [](void*, Block b) { return try_free(b.ptr); };
  return c;
}

}  // namespace

SpaceRef default_space_binding() noexcept {
  static detail::SpaceControl* const control = make_default_control();
  return SpaceRef(control);
}

}  // namespace swim::mem
