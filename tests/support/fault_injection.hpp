// Test support: driving the fault-injection point (config/poison.hpp) of a program
// built with SWIM_MEM_FAULT_INJECTION.
//
// Every heap's and hold's allocation asks detail::fault_point() first, which calls
// the program's `swim_mem_fault_point()`; a true answer makes that allocation
// return Error::out_of_memory, changing nothing. This header gives the answer:
//
//   FaultPlan::count_only()   never fails; counts the points passed
//   FaultPlan::fail_nth(n)    fails the n-th point passed (1-based), only that one
//   FaultPlan::fail_from(n)   fails the n-th point and every one after it
//
// A plan answers only while a FaultScope holds it, and only on the thread that
// holds it (the points of other threads, and of the set-up code outside a scope,
// pass untouched and uncounted), so a test arms exactly the operation it means.
//
// The driver, for one public operation:
//   sweep_faults("name", trial)  runs trial(plan) with count_only(): the operation
//                                passes K points; then trial(fail_nth(n)) for every
//                                n in 1..K. Each trial builds its own state, arms
//                                the plan around the operation only (attempt()),
//                                checks, and destroys everything. Returns K.
//   attempt(plan, op, snapshot)  runs op() armed; a failure must be out_of_memory
//                                (or the operation's documented mapping), must
//                                come from an injected fault, and must leave
//                                snapshot() as it was.
//
// Exactly ONE translation unit of the test program defines the hook, with
// SWIM_MEM_TEST_DEFINE_FAULT_POINT() at namespace scope. Every translation unit of
// the program (the library's sources included) must be built with
// SWIM_MEM_FAULT_INJECTION, since it changes inline functions.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <type_traits>
#include <utility>

#include "support/leak_capture.hpp"
#include "swim/mem/config/poison.hpp"
#include "swim/mem/physical.hpp"

#if !defined(SWIM_MEM_FAULT_INJECTION)
#error "tests/support/fault_injection.hpp: build this program with SWIM_MEM_FAULT_INJECTION"
#endif

namespace swim::mem::testing {

/// Which fault points fail, and how many were passed.
class FaultPlan {
 public:
  static FaultPlan count_only() { return FaultPlan(0, false); }
  static FaultPlan fail_nth(std::uint64_t n) { return FaultPlan(n, false); }
  static FaultPlan fail_from(std::uint64_t n) { return FaultPlan(n, true); }

  /// Points passed while armed (failed ones included).
  std::uint64_t passed() const { return passed_; }
  /// Points that were told to fail.
  std::uint64_t failed() const { return failed_; }
  bool fired() const { return failed_ != 0; }
  /// The point this plan fails first (0: none).
  std::uint64_t target() const { return nth_; }

  /// One point passes: whether it must fail.
  bool hit() {
    ++passed_;
    const bool fail = nth_ != 0 && (sticky_ ? passed_ >= nth_ : passed_ == nth_);
    if (fail) ++failed_;
    return fail;
  }

 private:
  FaultPlan(std::uint64_t nth, bool sticky) : nth_(nth), sticky_(sticky) {}
  std::uint64_t nth_;
  bool sticky_;
  std::uint64_t passed_ = 0;
  std::uint64_t failed_ = 0;
};

/// Arms `plan` on this thread for the scope's lifetime (scopes nest; the previous
/// plan is restored).
class FaultScope {
 public:
  explicit FaultScope(FaultPlan& plan) : previous_(current_) { current_ = &plan; }
  ~FaultScope() { current_ = previous_; }
  FaultScope(const FaultScope&) = delete;
  FaultScope& operator=(const FaultScope&) = delete;

  static FaultPlan* current() { return current_; }

 private:
  static inline thread_local FaultPlan* current_ = nullptr;
  FaultPlan* previous_;
};

/// The hook's answer: the armed plan's, or "pass" when none is armed.
inline bool fault_point_hit() noexcept {
  FaultPlan* p = FaultScope::current();
  return p != nullptr && p->hit();
}

/// The error an operation returned: an Error itself, a Result's, or none for
/// anything else (a void operation).
template <class R>
Error error_of(const R& r) {
  if constexpr (std::is_same_v<R, Error>) {
    return r;
  } else if constexpr (requires {
                         { r.error() } -> std::same_as<Error>;
                       }) {
    return r.error();
  } else {
    return Error::none;
  }
}

/// How attempt() judges an operation.
struct Expect {
  /// The error a failure must be (the operation's documented mapping of
  /// out_of_memory).
  Error error = Error::out_of_memory;
  /// Whether an injected fault may be absorbed (the operation recovered from it
  /// and succeeded: a hold that falls back on cached memory, a front that already
  /// had part of what it wanted). Otherwise a fault inside the operation must make
  /// it fail.
  bool may_absorb = false;
};

/// Run `op()` with `plan` armed. If it fails: the error must be `expect.error`, a
/// fault must have fired during it, and `snapshot()` must read as before. If it
/// succeeds, no fault may have fired during it unless `expect.may_absorb`.
/// Returns what op returned. `snapshot` returns anything comparable and printable
/// by gtest (a std::string is handy).
template <class Op, class Snapshot>
auto attempt(FaultPlan& plan, Op&& op, Snapshot&& snapshot, Expect expect = {}) {
  const auto before = snapshot();
  const std::uint64_t failed_before = plan.failed();
  auto run = [&] {
    FaultScope armed(plan);
    return op();
  };
  auto r = run();
  const bool fired = plan.failed() != failed_before;
  const Error e = error_of(r);
  if (e != Error::none) {
    EXPECT_TRUE(fired) << "failed (" << to_string(e) << ") with no fault injected";
    EXPECT_EQ(e, expect.error) << to_string(e);
    EXPECT_EQ(snapshot(), before) << "a failed operation changed the state";
  } else if (fired && !expect.may_absorb) {
    ADD_FAILURE() << "fault point " << plan.target() << " failed inside the operation, "
                  << "which succeeded all the same";
  }
  return r;
}

/// attempt(), then once more if it failed (the plan does not fire again): the
/// retry must succeed. Returns the successful outcome.
template <class Op, class Snapshot>
auto attempt_and_retry(FaultPlan& plan, Op&& op, Snapshot&& snapshot, Expect expect = {}) {
  auto r = attempt(plan, op, snapshot, expect);
  if (error_of(r) != Error::none) {
    r = attempt(plan, op, snapshot, expect);
    EXPECT_EQ(error_of(r), Error::none) << "the retry after an injected fault failed";
  }
  return r;
}

/// Run `trial(plan)` with count_only() to learn K, the fault points the operation
/// passes, then with fail_nth(n) for every n in 1..K (every trial under a
/// LeakCapture that must stay silent). Stops at the first failing trial. Prints K
/// and returns it.
template <class Trial>
std::uint64_t sweep_faults(const char* name, Trial&& trial) {
  std::uint64_t k = 0;
  {
    LeakCapture leaks;
    FaultPlan counting = FaultPlan::count_only();
    trial(counting);
    k = counting.passed();
    EXPECT_EQ(LeakCapture::reports, 0)
        << name << ": leak report (no fault): " << LeakCapture::last.allocator;
  }
  if (::testing::Test::HasFailure()) return k;
  for (std::uint64_t n = 1; n <= k; ++n) {
    LeakCapture leaks;
    FaultPlan plan = FaultPlan::fail_nth(n);
    {
      SCOPED_TRACE(std::string(name) + ": failing fault point " + std::to_string(n) + " of " +
                   std::to_string(k));
      trial(plan);
      EXPECT_EQ(plan.failed(), 1u) << "the point was not reached: the operation is not "
                                      "deterministic";
      EXPECT_EQ(LeakCapture::reports, 0) << "leak report from " << LeakCapture::last.allocator
                                         << " (live " << LeakCapture::last.stats.live << ")";
    }
    if (::testing::Test::HasFailure()) break;
  }
  std::printf("[  faults  ] %s: K = %llu\n", name, static_cast<unsigned long long>(k));
  return k;
}

/// The same with fail_from(n): every point from the n-th on fails, for n in 1..K
/// (an operation that recovers from one failure must still fail cleanly when the
/// memory stays gone).
template <class Trial>
std::uint64_t sweep_faults_from(const char* name, Trial&& trial) {
  std::uint64_t k = 0;
  {
    LeakCapture leaks;
    FaultPlan counting = FaultPlan::count_only();
    trial(counting);
    k = counting.passed();
    EXPECT_EQ(LeakCapture::reports, 0) << name << ": leak report (no fault)";
  }
  if (::testing::Test::HasFailure()) return k;
  for (std::uint64_t n = 1; n <= k; ++n) {
    LeakCapture leaks;
    FaultPlan plan = FaultPlan::fail_from(n);
    {
      SCOPED_TRACE(std::string(name) + ": failing every fault point from " + std::to_string(n) +
                   " of " + std::to_string(k));
      trial(plan);
      EXPECT_TRUE(plan.fired()) << "the point was not reached";
      EXPECT_EQ(LeakCapture::reports, 0) << "leak report from " << LeakCapture::last.allocator;
    }
    if (::testing::Test::HasFailure()) break;
  }
  std::printf("[  faults  ] %s (from n on): K = %llu\n", name, static_cast<unsigned long long>(k));
  return k;
}

}  // namespace swim::mem::testing

/// Defines the program's fault hook as the armed FaultPlan's answer. Use once, in
/// one translation unit, at namespace scope.
#define SWIM_MEM_TEST_DEFINE_FAULT_POINT()          \
  extern "C" bool swim_mem_fault_point() noexcept { \
    return ::swim::mem::testing::fault_point_hit(); \
  }
