// The negacyclic FFT against exact integer products, and its rounding error against the model
// that noise.cc uses (pbs_fft_variance).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdio>

#include "blindml/crypto/csprng.h"
#include "blindml/crypto/noise.h"
#include "internal/decomposition.h"
#include "internal/fft.h"

using namespace blindml::crypto;

namespace {

// Exact negacyclic product mod 2^64 (schoolbook, wrapping arithmetic).
std::vector<uint64_t> exact_product(const std::vector<int64_t>& a, const std::vector<uint64_t>& b) {
  const size_t n = a.size();
  std::vector<uint64_t> out(n, 0);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t ai = static_cast<uint64_t>(a[i]);
    if (ai == 0) continue;
    for (size_t j = 0; j < n; ++j) {
      const size_t k = i + j;
      if (k < n) out[k] += ai * b[j];
      else out[k - n] -= ai * b[j];
    }
  }
  return out;
}

class FftSizes : public ::testing::TestWithParam<uint64_t> {};

TEST_P(FftSizes, SmallIntegerProductsAreExact) {
  const uint64_t n = GetParam();
  const auto& fft = internal::NegacyclicFft::get(n);
  CsprngStream rng(os_seed());
  std::vector<int64_t> a(n);
  std::vector<uint64_t> b(n);
  std::vector<int64_t> b_signed(n);
  for (uint64_t i = 0; i < n; ++i) {
    a[i] = static_cast<int64_t>(rng.next_u64() % 2001) - 1000;
    b_signed[i] = static_cast<int64_t>(rng.next_u64() % 2001) - 1000;
    b[i] = static_cast<uint64_t>(b_signed[i]);
  }
  AlignedF64 fa(n), fb(n), prod(n);
  fft.forward_i64(a.data(), fa.data());
  fft.forward_i64(b_signed.data(), fb.data());
  std::fill(prod.begin(), prod.end(), 0.0);
  internal::spectrum_mul_add(prod.data(), fa.data(), fb.data(), n);
  std::vector<uint64_t> got(n, 0);
  fft.backward_add_torus(prod.data(), got.data());
  EXPECT_EQ(got, exact_product(a, b));
}

TEST_P(FftSizes, ExactProductWithBinaryPolynomialOfFullWords) {
  const uint64_t n = GetParam();
  const auto& fft = internal::NegacyclicFft::get(n);
  CsprngStream rng(os_seed());
  std::vector<uint64_t> a(n);
  rng.fill_uniform(a);
  std::vector<int64_t> s(n);
  for (auto& v : s) v = static_cast<int64_t>(rng.next_u64() & 1);
  AlignedF64 spec(n), scratch(2 * n);
  fft.forward_i64(s.data(), spec.data());
  std::vector<uint64_t> got(n, 0);
  fft.mul_add_exact_small(a.data(), spec.data(), got.data(), scratch.data());
  // exact_product(s, a) = s·a = a·s.
  EXPECT_EQ(got, exact_product(s, a));
}

INSTANTIATE_TEST_SUITE_P(Sizes, FftSizes, ::testing::Values(512, 1024, 2048, 4096));

// Digits of 2^β (balanced) times uniform torus words: the FFT's rounding error per product,
// measured against exact arithmetic, must agree with the model in noise.cc within a factor of 2.
struct ErrorCase {
  uint64_t n;
  uint64_t base_log;
};
class FftError : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(FftError, FftErrorMatchesModel) {
  const auto [n, base_log] = GetParam();
  const auto& fft = internal::NegacyclicFft::get(n);
  CsprngStream rng(os_seed());
  double sum_sq = 0;
  uint64_t count = 0;
  for (int trial = 0; trial < 4; ++trial) {
    std::vector<int64_t> digits(n);
    std::vector<uint64_t> key(n);
    rng.fill_uniform(key);
    for (auto& d : digits)
      d = static_cast<int64_t>(rng.next_u64() & ((uint64_t{1} << base_log) - 1)) - (int64_t{1} << (base_log - 1));
    AlignedF64 fd(n), fk(n), prod(n, 0.0);
    fft.forward_i64(digits.data(), fd.data());
    fft.forward_i64(reinterpret_cast<const int64_t*>(key.data()), fk.data());
    internal::spectrum_mul_add(prod.data(), fd.data(), fk.data(), n);
    std::vector<uint64_t> got(n, 0);
    fft.backward_add_torus(prod.data(), got.data());
    auto want = exact_product(digits, key);
    for (uint64_t i = 0; i < n; ++i) {
      double e = static_cast<double>(static_cast<int64_t>(got[i] - want[i])) * 0x1.0p-64;
      sum_sq += e * e;
      ++count;
    }
  }
  const double measured = sum_sq / static_cast<double>(count);
  // One product in the model: the PBS term divided by its n·(k+1)·l multiplicity and by the
  // (1 + kN/2) that decryption applies to the mask polynomials (k = 1 here).
  ParameterSet p{.name = "fft_probe", .message_bits = 1, .lwe_dimension = LweDimension(1),
                 .glwe_dimension = GlweDimension(1), .polynomial_size = PolynomialSize(n),
                 .lwe_noise_log2_std = 1, .glwe_noise_log2_std = 1, .pbs_base_log = DecompBaseLog(base_log),
                 .pbs_level_count = DecompLevelCount(1), .ks_base_log = DecompBaseLog(1),
                 .ks_level_count = DecompLevelCount(1)};
  const double model = pbs_fft_variance(p) / 2.0 / (1.0 + n / 2.0);
  std::printf("FFT error N=%llu beta=%llu: measured var 2^%.2f, model 2^%.2f, ratio %.3f\n",
              static_cast<unsigned long long>(n), static_cast<unsigned long long>(base_log), std::log2(measured),
              std::log2(model), measured / model);
  EXPECT_GT(measured, 0.0);
  EXPECT_LT(measured, 2.0 * model);
  EXPECT_GT(measured, 0.5 * model);
}

INSTANTIATE_TEST_SUITE_P(Sets, FftError,
                         ::testing::Values(ErrorCase{1024, 19}, ErrorCase{2048, 19}, ErrorCase{4096, 22}, ErrorCase{4096, 26}, ErrorCase{2048, 24},
                                           ErrorCase{8192, 24}));

}  // namespace

namespace {

// The fused decomposition + twist + transform against its three-pass definition, bit for bit, on
// random torus words (and the edge words 0, 2^63, 2^64−1), for every parameter set's (N, β, l) and
// a two-level base of 2^15 (the 8-bit set's).
TEST(FftDecomposed, EqualsDecomposeThenForwardBitForBit) {
  struct Case {
    uint64_t n, base_log, levels;
  };
  for (Case cs : {Case{512, 17, 1}, Case{1024, 23, 1}, Case{2048, 23, 1}, Case{4096, 22, 1}, Case{2048, 15, 2},
                  Case{256, 4, 3}}) {
    const auto& fft = internal::NegacyclicFft::get(cs.n);
    CsprngStream rng(os_seed());
    AlignedU64 in(cs.n), state(cs.n);
    rng.fill_uniform(in);
    in[0] = 0;
    in[1] = uint64_t{1} << 63;
    in[cs.n - 1] = ~uint64_t{0};
    std::vector<int64_t, AlignedAllocator<int64_t>> digits(cs.levels * cs.n);
    internal::decompose_polynomial(in.data(), cs.n, cs.base_log, cs.levels, digits.data(), state.data());
    AlignedF64 want(cs.levels * cs.n), got(cs.levels * cs.n);
    for (uint64_t j = 0; j < cs.levels; ++j) fft.forward_i64(digits.data() + j * cs.n, want.data() + j * cs.n);
    fft.forward_decomposed(in.data(), cs.base_log, cs.levels, got.data());
    for (uint64_t i = 0; i < want.size(); ++i)
      ASSERT_EQ(std::bit_cast<uint64_t>(want[i]), std::bit_cast<uint64_t>(got[i]))
          << "N " << cs.n << ", 2^" << cs.base_log << " x " << cs.levels << ", index " << i;
  }
}

// The CMux form: the decomposition of X^t·a − a, with X^t·a computed here by its definition
// (X^N = −1), for rotations on both sides of N/2 and N, at the edges and at random, on sizes whose
// half is and is not a multiple of the vector width's split points.
TEST(FftDecomposed, CmuxDifferenceEqualsRotateThenDecompose) {
  CsprngStream rng(os_seed());
  for (uint64_t n : {256u, 512u, 2048u}) {
    const auto& fft = internal::NegacyclicFft::get(n);
    AlignedU64 in(n), diff(n);
    rng.fill_uniform(in);
    std::vector<uint64_t> ts = {1, 3, 7, 8, 9, n / 2 - 1, n / 2, n / 2 + 5, n - 1, n, n + 1, n + n / 2 + 3, 2 * n - 1};
    for (int r = 0; r < 8; ++r) ts.push_back(1 + rng.next_u64() % (2 * n - 1));
    for (uint64_t t : ts) {
      for (uint64_t m = 0; m < n; ++m) {
        // (X^t·a)[m] = Σ over j with j + t ≡ m (mod 2N) of ±a[j].
        const uint64_t src = (m + 2 * n - t) % (2 * n);  // j + t = m mod 2N, j in [0, 2N)
        const uint64_t rotated = src < n ? in[src] : 0 - in[src - n];
        diff[m] = rotated - in[m];
      }
      AlignedF64 want(n), got(n);
      fft.forward_decomposed(diff.data(), 23, 1, want.data());
      fft.forward_decomposed_cmux(in.data(), t, 23, 1, got.data());
      for (uint64_t i = 0; i < n; ++i)
        ASSERT_EQ(std::bit_cast<uint64_t>(want[i]), std::bit_cast<uint64_t>(got[i]))
            << "N " << n << ", t " << t << ", index " << i;
    }
  }
}

}  // namespace
