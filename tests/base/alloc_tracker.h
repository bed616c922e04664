// Measures the largest single heap allocation made while a scope is active, so that a test can
// assert that a loader refused an inflated count *before* allocating for it (not merely that it
// failed afterwards). Link alloc_tracker.cc into the test binary: it replaces the global
// operator new (every other allocation path of the C++ library goes through it).
//
// Thread safety: the counters are atomics; a scope measures allocations of every thread.
#pragma once

#include <cstddef>

namespace blindml::testing {

class LargestAllocation {
 public:
  LargestAllocation();   // starts measuring (nested scopes are not supported)
  ~LargestAllocation();  // stops
  size_t bytes() const;  // the largest single allocation since construction
  size_t total() const;  // all bytes allocated since construction (freed or not)
};

}  // namespace blindml::testing
