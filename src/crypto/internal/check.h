// Always-on invariant checks for our own code (style.md, errors rule 1): a failed check is a bug
// in blindml, never a consequence of external input, and aborts with both values named.
#pragma once

#include <cstdio>
#include <cstdlib>

#define BLINDML_CHECK(cond, msg)                                                              \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      std::fprintf(stderr, "blindml: internal check failed at %s:%d: %s (%s)\n", __FILE__,    \
                   __LINE__, #cond, msg);                                                     \
      std::abort();                                                                           \
    }                                                                                         \
  } while (0)

#define BLINDML_CHECK_EQ(a, b)                                                                \
  do {                                                                                        \
    auto blindml_a_ = (a);                                                                    \
    auto blindml_b_ = (b);                                                                    \
    if (!(blindml_a_ == blindml_b_)) {                                                        \
      std::fprintf(stderr, "blindml: internal check failed at %s:%d: %s == %s (%llu vs %llu)\n", \
                   __FILE__, __LINE__, #a, #b, static_cast<unsigned long long>(blindml_a_),  \
                   static_cast<unsigned long long>(blindml_b_));                              \
      std::abort();                                                                           \
    }                                                                                         \
  } while (0)
