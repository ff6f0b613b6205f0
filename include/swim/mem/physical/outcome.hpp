// Layer 2 (physical): the names of the old error model, kept for one release.
//
// Result<T> (physical/result.hpp) replaced Outcome<T> and ArcOutcome<T>, and
// Error (physical/error.hpp) took in every ArcError code. The aliases below let
// code written against 0.1 compile, with a deprecation warning.
#pragma once

#include "swim/mem/physical/error.hpp"
#include "swim/mem/physical/result.hpp"

namespace swim::mem {

template <class T>
using Outcome [[deprecated("use swim::mem::Result<T>")]] = Result<T>;

template <class T>
using ArcOutcome [[deprecated("use swim::mem::Result<T>")]] = Result<T>;

using ArcError [[deprecated("use swim::mem::Error")]] = Error;

}  // namespace swim::mem
