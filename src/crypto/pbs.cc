// External product, blind rotation and programmable bootstrapping (shared/crypto.md, "PBS").
// The hot loop is the CMux of blind_rotate: one rotation, (k+1)·l digit FFTs, (k+1)²·l spectrum
// multiply-accumulates against the contiguous Fourier-domain GGSW, (k+1) inverse FFTs. Every
// buffer lives in PbsScratch; nothing is allocated per CMux.
#include <algorithm>
#include <cstring>

#include "blindml/crypto/algorithms.h"
#include "internal/check.h"
#include "internal/decomposition.h"
#include "internal/fft.h"

namespace blindml::crypto {

struct PbsScratch::Buffers {
  explicit Buffers(const ParameterSet& p)
      : k(p.glwe_dimension.value), n(p.polynomial_size.value), levels(p.pbs_level_count.value),
        base_log(p.pbs_base_log.value), fft(&internal::NegacyclicFft::get(n)),
        diff((k + 1) * n), decomp_state(n), digits(levels * n), digit_spectra((k + 1) * levels * n), out_spectra((k + 1) * n),
        acc(p.glwe_dimension, p.polynomial_size), ks_out(p.lwe_dimension.value + 1), ms(p.lwe_dimension.value + 1) {}
  uint64_t k, n, levels, base_log;
  const internal::NegacyclicFft* fft;
  AlignedU64 diff;
  AlignedU64 decomp_state;
  std::vector<int64_t, AlignedAllocator<int64_t>> digits;
  AlignedF64 digit_spectra;
  AlignedF64 out_spectra;
  GlweCiphertext acc;
  AlignedU64 ks_out;
  AlignedU64 ms;
};

PbsScratch::PbsScratch(const ParameterSet& params) : buffers_(std::make_unique<Buffers>(params)) {}
PbsScratch::~PbsScratch() = default;

uint64_t pbs_scratch_size(const ParameterSet& p) {
  const uint64_t k = p.glwe_dimension.value, n = p.polynomial_size.value, l = p.pbs_level_count.value;
  const uint64_t lwe = p.lwe_dimension.value + 1;
  return 8 * ((k + 1) * n + n + l * n + (k + 1) * l * n + (k + 1) * n + (k + 1) * n + 2 * lwe);
}

namespace {

// out = X^t · in − in (negacyclic, t in [0, 2N)).
inline void rotate_minus_self(const uint64_t* __restrict in, uint64_t t, uint64_t n, uint64_t* __restrict out) {
  const bool negate = t >= n;
  if (negate) t -= n;
  // X^t·in: coefficient j+t gets in[j] (j < n-t), coefficient j+t-n gets -in[j] (j >= n-t).
  if (!negate) {
    for (uint64_t j = 0; j < t; ++j) out[j] = (0 - in[j + n - t]) - in[j];
    for (uint64_t j = t; j < n; ++j) out[j] = in[j - t] - in[j];
  } else {
    for (uint64_t j = 0; j < t; ++j) out[j] = in[j + n - t] - in[j];
    for (uint64_t j = t; j < n; ++j) out[j] = (0 - in[j - t]) - in[j];
  }
}

// out = X^t · in (negacyclic, t in [0, 2N)).
inline void rotate(const uint64_t* __restrict in, uint64_t t, uint64_t n, uint64_t* __restrict out) {
  const bool negate = t >= n;
  if (negate) t -= n;
  for (uint64_t j = 0; j < t; ++j) out[j] = negate ? in[j + n - t] : 0 - in[j + n - t];
  for (uint64_t j = t; j < n; ++j) out[j] = negate ? 0 - in[j - t] : in[j - t];
}

// acc += ExtProd(GGSW_i, input), input: (k+1)·N words. The multiply-accumulate prefetches the next
// GGSW line by line, so it arrives while this product's FFTs run and is read from cache next time.
void external_product_add(const FourierBootstrapKey& bsk, uint64_t i, const uint64_t* input, uint64_t* acc,
                          PbsScratch::Buffers& b) {
  const uint64_t n = b.n, k1 = b.k + 1, levels = b.levels;
  const auto& fft = *b.fft;
  const double* next = i + 1 < bsk.input_dimension().value ? bsk.ggsw(i + 1).data() : nullptr;
  // Digits of every input polynomial, level by level, to the Fourier domain: row r = c·l + (j-1).
  for (uint64_t c = 0; c < k1; ++c) {
    internal::decompose_polynomial(input + c * n, n, b.base_log, levels, b.digits.data(), b.decomp_state.data());
    for (uint64_t j = 0; j < levels; ++j)
      fft.forward_i64(b.digits.data() + j * n, b.digit_spectra.data() + (c * levels + j) * n);
  }
  const double* ggsw = bsk.ggsw(i).data();
  const uint64_t rows = k1 * levels;
  internal::spectrum_mac_ggsw(b.out_spectra.data(), b.digit_spectra.data(), ggsw, next, rows, k1, n);
  for (uint64_t col = 0; col < k1; ++col) fft.backward_add_torus(b.out_spectra.data() + col * n, acc + col * n);
}

}  // namespace

void external_product_inplace(const FourierBootstrapKey& bsk, uint64_t ggsw_index, GlweCiphertext& acc,
                              PbsScratch& scratch) {
  auto& b = scratch.buffers();
  BLINDML_CHECK_EQ(acc.polynomial_size().value, b.n);
  std::memcpy(b.diff.data(), acc.data().data(), acc.data().size_bytes());
  std::fill(acc.data().begin(), acc.data().end(), 0);
  external_product_add(bsk, ggsw_index, b.diff.data(), acc.data().data(), b);
}

void blind_rotate(const FourierBootstrapKey& bsk, std::span<const uint64_t> ms, GlweCiphertext& acc,
                  PbsScratch& scratch) {
  auto& b = scratch.buffers();
  const uint64_t n = b.n, k1 = b.k + 1;
  const uint64_t lwe_n = bsk.input_dimension().value;
  BLINDML_CHECK_EQ(ms.size(), lwe_n + 1);
  BLINDML_CHECK_EQ(acc.polynomial_size().value, n);
  uint64_t* a = acc.data().data();
  // acc ← X^(-b̃)·acc.
  const uint64_t two_n = 2 * n;
  const uint64_t body_shift = (two_n - ms[lwe_n]) % two_n;
  if (body_shift != 0) {
    for (uint64_t c = 0; c < k1; ++c) rotate(a + c * n, body_shift, n, b.diff.data() + c * n);
    std::memcpy(a, b.diff.data(), k1 * n * sizeof(uint64_t));
  }
  for (uint64_t i = 0; i < lwe_n; ++i) {
    const uint64_t t = ms[i];
    if (t == 0) continue;  // X^0·acc − acc = 0: the CMux is the identity
    for (uint64_t c = 0; c < k1; ++c) rotate_minus_self(a + c * n, t, n, b.diff.data() + c * n);
    external_product_add(bsk, i, b.diff.data(), a, b);
  }
}

void programmable_bootstrap(const EvaluationKeys& keys, std::span<const uint64_t> in, const LookupTable& lut,
                            std::span<uint64_t> out, PbsScratch& scratch) {
  const auto& p = keys.parameters();
  auto& b = scratch.buffers();
  BLINDML_CHECK_EQ(lut.polynomial_size().value, b.n);
  keyswitch(keys.keyswitch_key(), in, b.ks_out);
  modulus_switch(b.ks_out, p.polynomial_size, b.ms);
  GlweCiphertext& acc = b.acc;
  auto data = acc.data();
  std::fill(data.begin(), data.end() - b.n, 0);
  std::memcpy(acc.body().data(), lut.polynomial().data(), b.n * sizeof(uint64_t));
  blind_rotate(keys.bootstrap_key(), b.ms, acc, scratch);
  sample_extract(acc, out);
}

void programmable_bootstrap_batch(const EvaluationKeys& keys, const LweCiphertextList& in,
                                  std::span<const LookupTable> luts, std::span<const uint32_t> lut_index,
                                  LweCiphertextList& out, ThreadPool& pool) {
  BLINDML_CHECK_EQ(in.count(), out.count());
  BLINDML_CHECK(!luts.empty(), "no lookup table");
  BLINDML_CHECK(lut_index.empty() || lut_index.size() == in.count(), "one table index per input");
  std::vector<std::unique_ptr<PbsScratch>> scratch(pool.size());
  pool.parallel_for(in.count(), [&](size_t i, size_t worker) {
    if (!scratch[worker]) scratch[worker] = std::make_unique<PbsScratch>(keys.parameters());
    const LookupTable& lut = lut_index.empty() ? luts[0] : luts[lut_index[i]];
    programmable_bootstrap(keys, in.at(i), lut, out.at(i), *scratch[worker]);
  });
}

}  // namespace blindml::crypto
