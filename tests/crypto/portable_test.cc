// The crypto core built without AVX-512 (tests/crypto/CMakeLists.txt compiles src/crypto again for
// x86-64-v3, i.e. AVX2 + FMA, and for baseline x86-64): the FFTW transform and the portable loops
// instead of SimdFft and the AVX-512 kernels. The same contracts as the native build: exact small
// products, the fused decomposition equal to its definition, PBS correct on every input of the 1-
// and 4-bit sets, and the batched form bit for bit equal to the serial one at several widths.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstdio>

#include "blindml/crypto/algorithms.h"
#include "internal/decomposition.h"
#include "internal/fft.h"
#include "internal/simd_fft.h"
#include "key_cache.h"

using namespace blindml;
using namespace blindml::crypto;
using blindml::crypto::testing::keys_for_bits;

namespace {

TEST(Portable, BuiltWithoutAvx512) {
#if defined(__AVX512F__)
  FAIL() << "this variant was meant to be built without AVX-512";
#endif
  EXPECT_FALSE(internal::SimdFft::available());
#ifdef BLINDML_EXPECT_AVX2
#ifndef __AVX2__
  FAIL() << "the AVX2 variant was built without AVX2";
#endif
#endif
}

TEST(Portable, FftSmallProductsExactAndFusedDecompositionEqualsDefinition) {
  CsprngStream rng(os_seed());
  for (uint64_t n : {512u, 2048u}) {
    const auto& fft = internal::NegacyclicFft::get(n);
    // a (digits in [-2^22, 2^22)) times a binary s, against the schoolbook product mod 2^64.
    std::vector<int64_t> a(n), s(n);
    for (uint64_t i = 0; i < n; ++i) {
      a[i] = static_cast<int64_t>(rng.next_u64() % (uint64_t{1} << 23)) - (int64_t{1} << 22);
      s[i] = static_cast<int64_t>(rng.next_u64() & 1);
    }
    std::vector<uint64_t> want(n, 0);
    for (uint64_t i = 0; i < n; ++i)
      for (uint64_t j = 0; j < n; ++j) {
        const uint64_t p = static_cast<uint64_t>(a[i] * s[j]);
        if (i + j < n) want[i + j] += p; else want[i + j - n] -= p;
      }
    AlignedF64 fa(n), fs(n), prod(n, 0.0);
    fft.forward_i64(a.data(), fa.data());
    fft.forward_i64(s.data(), fs.data());
    internal::spectrum_mul_add(prod.data(), fa.data(), fs.data(), n);
    std::vector<uint64_t> got(n, 0);
    fft.backward_add_torus(prod.data(), got.data());
    EXPECT_EQ(got, want) << "N " << n;

    // forward_decomposed_cmux against rotate (by the definition), decompose, forward_i64.
    AlignedU64 in(n), diff(n), state(n);
    rng.fill_uniform(in);
    for (uint64_t t : {uint64_t{1}, n / 2 + 3, n, 2 * n - 1, 1 + rng.next_u64() % (2 * n - 1)}) {
      for (uint64_t m = 0; m < n; ++m) {
        const uint64_t src = (m + 2 * n - t) % (2 * n);
        diff[m] = (src < n ? in[src] : 0 - in[src - n]) - in[m];
      }
      std::vector<int64_t, AlignedAllocator<int64_t>> digits(2 * n);
      internal::decompose_polynomial(diff.data(), n, 15, 2, digits.data(), state.data());
      AlignedF64 ref(2 * n), fused(2 * n);
      for (uint64_t j = 0; j < 2; ++j) fft.forward_i64(digits.data() + j * n, ref.data() + j * n);
      fft.forward_decomposed_cmux(in.data(), t, 15, 2, fused.data());
      for (uint64_t i = 0; i < 2 * n; ++i)
        ASSERT_EQ(std::bit_cast<uint64_t>(ref[i]), std::bit_cast<uint64_t>(fused[i])) << "N " << n << ", t " << t;
    }
  }
}

TEST(Portable, PbsEveryInputAndBatchesBitForBitEqualToSerial) {
  ThreadPool pool(2);
  for (uint32_t bits : {1u, 4u}) {
    const auto& keys = keys_for_bits(bits);
    const auto& p = keys.params;
    const int64_t values = int64_t{1} << bits;
    CsprngStream rng(os_seed());
    std::vector<int64_t> random(values), messages;
    for (int64_t m = 0; m < values; ++m) random[m] = static_cast<int64_t>(rng.next_u64() % static_cast<uint64_t>(values));
    for (int64_t m = 0; m < values; ++m) messages.push_back(m);
    if (bits == 1) messages.insert(messages.end(), {1, 0, 1});  // a ragged count at width 2
    auto in = expand_seeded_lwe_list(encrypt_seeded(*keys.client, messages, bits));
    std::vector<LookupTable> luts = {make_lookup_table(random, bits, bits, p.polynomial_size)};
    PbsScratch scratch(p);
    LweCiphertextList serial(p.big_lwe_dimension(), messages.size());
    for (size_t i = 0; i < messages.size(); ++i) {
      programmable_bootstrap(*keys.eval, in.at(i), luts[0], serial.at(i), scratch);
      EXPECT_EQ(decrypt(*keys.client, serial.at(i), bits, false), random[messages[i]])
          << bits << "-bit input " << messages[i];
    }
    for (uint64_t width : {uint64_t{0}, uint64_t{1}, uint64_t{2}, uint64_t{3}}) {
      LweCiphertextList batched(p.big_lwe_dimension(), messages.size());
      programmable_bootstrap_batch(*keys.eval, in, luts, {}, batched, pool, PbsBatchOptions{width});
      for (size_t i = 0; i < messages.size(); ++i)
        EXPECT_TRUE(std::equal(serial.at(i).begin(), serial.at(i).end(), batched.at(i).begin()))
            << bits << "-bit, width " << width << ", ciphertext " << i;
    }
  }
}

}  // namespace
