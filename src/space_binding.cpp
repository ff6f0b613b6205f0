// Global, host-only state: the process-wide SpaceBindings that spaces made without
// one draw from (integrations/space_binding.hpp): the process hold's, and one slot
// per GPU runtime filled by the header that defines the device space. Each is
// created on first use and never destroyed, so that an allocation freed during static destruction (a
// framework's View in a global, say) still finds it.
#include <mutex>

#include "swim/mem/holds/process_hold.hpp"
#include "swim/mem/integrations/space_binding.hpp"

namespace swim::mem {
namespace {

detail::SpaceControl* make_default_control() {
  auto* c = new detail::SpaceControl;
  c->immortal = true;
  c->name = "swim-mem process hold";
  c->do_allocate = [](void*, Layout l) { return try_malloc(l.size, l.align); };
  c->do_deallocate = [](void*, Block b) { return try_free_checked(b.ptr); };
  return c;
}

}  // namespace

// This thread's DefaultBindingScope, if any (the scope holds a reference to it).
static thread_local detail::SpaceControl* t_default = nullptr;

SpaceRef default_space_binding() noexcept {
  if (t_default != nullptr) return SpaceRef(t_default);
  static detail::SpaceControl* const control = make_default_control();
  return SpaceRef(control);
}

namespace detail {
SpaceControl* exchange_thread_default(SpaceControl* control) noexcept {
  SpaceControl* previous = t_default;
  t_default = control;
  return previous;
}
}  // namespace detail

SpaceRef default_space_binding(DefaultSpace slot, detail::SpaceControl* (*make)()) {
  static std::mutex lock;
  static detail::SpaceControl* slots[2] = {};
  const auto i = static_cast<unsigned>(slot);
  const std::lock_guard<std::mutex> hold(lock);
  if (slots[i] == nullptr) {
    slots[i] = make();
    slots[i]->immortal = true;  // (whatever `make` said: the slot keeps it)
  }
  return SpaceRef(slots[i]);
}

}  // namespace swim::mem
