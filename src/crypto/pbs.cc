// External product, blind rotation and programmable bootstrapping (shared/crypto.md, "PBS").
// The hot loop is the CMux of blind_rotate: per accumulator polynomial one fused pass (rotation,
// difference, decomposition, twist: forward_decomposed_cmux) and l digit FFTs, then (k+1)²·l
// spectrum multiply-accumulates against the contiguous Fourier-domain GGSW, (k+1) inverse FFTs.
// Every buffer lives in PbsScratch; nothing is allocated per CMux.
//
// Batched form (programmable_bootstrap_batch): the key is the big stream (64 KiB per CMux step at
// 4 bits, 56 MB per blind rotation, more than the L3), so a worker takes a chunk of up to
// pbs_batch_width ciphertexts and runs their blind rotations key step by key step: GGSW i is
// brought to L2 once and applied to every accumulator of the chunk before GGSW i+1. Per
// accumulator the arithmetic is exactly that of blind_rotate, in the same order, so the results
// are bit for bit those of the serial form.
#include <algorithm>
#include <cstring>
#include <unistd.h>

#include <fstream>
#include <string>

#include "blindml/crypto/algorithms.h"
#include "internal/check.h"
#include "internal/fft.h"

namespace blindml::crypto {

struct PbsScratch::Buffers {
  explicit Buffers(const ParameterSet& p)
      : k(p.glwe_dimension.value), n(p.polynomial_size.value), levels(p.pbs_level_count.value),
        base_log(p.pbs_base_log.value), fft(&internal::NegacyclicFft::get(n)),
        diff((k + 1) * n), digit_spectra((k + 1) * levels * n), out_spectra((k + 1) * n),
        acc(p.glwe_dimension, p.polynomial_size), ks_out(p.lwe_dimension.value + 1), ms(p.lwe_dimension.value + 1) {}
  uint64_t k, n, levels, base_log;
  const internal::NegacyclicFft* fft;
  AlignedU64 diff;  // the initial rotation and external_product_inplace's copy
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
  return 8 * ((k + 1) * n + (k + 1) * l * n + (k + 1) * n + (k + 1) * n + 2 * lwe);
}

namespace {

// out = X^t · in (negacyclic, t in [0, 2N)).
inline void rotate(const uint64_t* __restrict in, uint64_t t, uint64_t n, uint64_t* __restrict out) {
  const bool negate = t >= n;
  if (negate) t -= n;
  for (uint64_t j = 0; j < t; ++j) out[j] = negate ? in[j + n - t] : 0 - in[j + n - t];
  for (uint64_t j = t; j < n; ++j) out[j] = negate ? 0 - in[j - t] : in[j - t];
}

#ifndef BLINDML_PBS_PREFETCH_DISTANCE
#define BLINDML_PBS_PREFETCH_DISTANCE 1
#endif
constexpr uint64_t kSerialPrefetchDistance = BLINDML_PBS_PREFETCH_DISTANCE;

// Software prefetch of [p, p + bytes) to L2, one line per 64 bytes.
inline void prefetch_l2(const char* p, uint64_t bytes) {
  for (uint64_t o = 0; o < bytes; o += 64) __builtin_prefetch(p + o, 0, 2);
}

// acc += ExtProd(GGSW_i, input), input: (k+1)·N words. [pf, pf + pf_bytes) (the next key, or a
// slice of it) is prefetched to L2 in 2(k+1)+1 pieces, one before each forward and inverse
// transform and one before the multiply-accumulate, so that the requests spread over the whole
// product instead of queueing in one burst.
// With t ≠ 0 the product is with X^t·input − input (the CMux difference, formed on the fly).
void external_product_add(const FourierBootstrapKey& bsk, uint64_t i, const uint64_t* input, uint64_t t,
                          uint64_t* acc, PbsScratch::Buffers& b, const char* pf, uint64_t pf_bytes,
                          const double* mac_next) {
  const uint64_t n = b.n, k1 = b.k + 1, levels = b.levels;
  const auto& fft = *b.fft;
  const uint64_t pieces = 2 * k1 + 1;
  const uint64_t piece = (pf_bytes / pieces + 63) / 64 * 64;
  uint64_t issued = 0;
  auto prefetch_piece = [&] {
    if (pf == nullptr || issued >= pf_bytes) return;
    const uint64_t len = std::min(piece, pf_bytes - issued);
    prefetch_l2(pf + issued, len);
    issued += len;
  };
  // Digits of every input polynomial, level by level, to the Fourier domain: row r = c·l + (j-1).
  for (uint64_t c = 0; c < k1; ++c) {
    prefetch_piece();
    fft.forward_decomposed_cmux(input + c * n, t, b.base_log, levels, b.digit_spectra.data() + c * levels * n);
  }
  const double* ggsw = bsk.ggsw(i).data();
  const uint64_t rows = k1 * levels;
  prefetch_piece();
  internal::spectrum_mac_ggsw(b.out_spectra.data(), b.digit_spectra.data(), ggsw, mac_next, rows, k1, n);
  for (uint64_t col = 0; col < k1; ++col) {
    prefetch_piece();
    fft.backward_add_torus(b.out_spectra.data() + col * n, acc + col * n);
  }
}

// acc ← CMux(BSK_i, acc, X^t·acc) = acc + ExtProd(BSK_i, X^t·acc − acc), prefetching
// [pf, pf + pf_bytes) on the way.
inline void cmux_step(const FourierBootstrapKey& bsk, uint64_t i, uint64_t t, uint64_t* a, PbsScratch::Buffers& b,
                      const char* pf, uint64_t pf_bytes, const double* mac_next = nullptr) {
  if (t == 0) {  // X^0·acc − acc = 0: the CMux is the identity
    if (pf != nullptr) prefetch_l2(pf, pf_bytes);
    return;
  }
  // The digits of X^t·acc − acc are all transformed before the first write to acc.
  external_product_add(bsk, i, a, t, a, b, pf, pf_bytes, mac_next);
}

// Cache size in bytes at `level` (2 or 3) of CPU 0: sysfs (what the kernel was told), else
// sysconf, else `fallback`. (sysconf's L3 can be the whole host's: 384 MiB on the CI VM, whose
// sysfs says 32 MiB.)
uint64_t cache_bytes(int level, uint64_t fallback) {
  for (int index = 0; index < 8; ++index) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/";
    std::ifstream lv(dir + "level"), ty(dir + "type"), sz(dir + "size");
    int l = 0;
    std::string type, size;
    if (!(lv >> l) || !(ty >> type) || !(sz >> size)) break;
    if (l != level || type == "Instruction" || size.empty()) continue;
    uint64_t v = 0;
    size_t i = 0;
    while (i < size.size() && size[i] >= '0' && size[i] <= '9' && v < (uint64_t{1} << 40)) v = v * 10 + (size[i++] - '0');
    if (i < size.size() && (size[i] == 'K' || size[i] == 'k')) v <<= 10;
    if (i < size.size() && size[i] == 'M') v <<= 20;
    if (v > 0) return v;
  }
  const long v = sysconf(level == 2 ? _SC_LEVEL2_CACHE_SIZE : _SC_LEVEL3_CACHE_SIZE);
  return v > 0 ? static_cast<uint64_t>(v) : fallback;
}

}  // namespace

void external_product_inplace(const FourierBootstrapKey& bsk, uint64_t ggsw_index, GlweCiphertext& acc,
                              PbsScratch& scratch) {
  auto& b = scratch.buffers();
  BLINDML_CHECK_EQ(acc.polynomial_size().value, b.n);
  std::memcpy(b.diff.data(), acc.data().data(), acc.data().size_bytes());
  std::fill(acc.data().begin(), acc.data().end(), 0);
  external_product_add(bsk, ggsw_index, b.diff.data(), 0, acc.data().data(), b, nullptr, 0, nullptr);
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
  const uint64_t dist = kSerialPrefetchDistance;
  for (uint64_t i = 0; i < lwe_n; ++i) {
    const double* next = dist > 0 && i + dist < lwe_n ? bsk.ggsw(i + dist).data() : nullptr;
    cmux_step(bsk, i, ms[i], a, b, nullptr, 0, next);
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

uint64_t pbs_batch_width(const ParameterSet& p) {
  const uint64_t k1 = p.glwe_dimension.value + 1, n = p.polynomial_size.value, l = p.pbs_level_count.value;
  const uint64_t ggsw = 8 * k1 * k1 * l * n;   // one CMux step's key
  const uint64_t acc = 8 * k1 * n;             // one accumulator
  const uint64_t scratch = pbs_scratch_size(p);
  static const uint64_t l2 = cache_bytes(2, uint64_t{1} << 20);
  static const uint64_t l3 = std::min<uint64_t>(cache_bytes(3, uint64_t{16} << 20), uint64_t{64} << 20);
  // Accumulators that fit next to the step's key and the scratch in three quarters of L2, or next
  // to the step's key in an eighth of L3 (the L3 is shared by the workers and the neighbours; from
  // 5 bits up only the L3 holds a chunk). The larger of the two, within [2, kDefaultMaxPbsBatchWidth]:
  // beyond 16 the key traffic per PBS (1/w of the key) no longer shows (BM_PbsBatch).
  const uint64_t l2_budget = l2 / 4 * 3, l3_budget = l3 / 8;
  const uint64_t in_l2 = l2_budget > ggsw + scratch ? (l2_budget - ggsw - scratch) / acc : 0;
  const uint64_t in_l3 = l3_budget > ggsw ? (l3_budget - ggsw) / acc : 0;
  return std::clamp<uint64_t>(std::max(in_l2, in_l3), 2, kDefaultMaxPbsBatchWidth);
}

namespace {

struct PbsBatchScratch {
  PbsBatchScratch(const ParameterSet& p, uint64_t width)
      : pbs(p), accs(width * (p.glwe_dimension.value + 1) * p.polynomial_size.value),
        ms(width * (p.lwe_dimension.value + 1)) {}
  PbsScratch pbs;
  AlignedU64 accs;  // width accumulators of (k+1)·N words
  AlignedU64 ms;    // width rows of n+1 modulus-switched words
};

// PBS of ciphertexts [first, first + count) in one pass over the bootstrapping key.
void bootstrap_chunk(const EvaluationKeys& keys, const LweCiphertextList& in, std::span<const LookupTable> luts,
                     std::span<const uint32_t> lut_index, uint64_t first, uint64_t count, LweCiphertextList& out,
                     PbsBatchScratch& s) {
  const auto& p = keys.parameters();
  auto& b = s.pbs.buffers();
  const auto& bsk = keys.bootstrap_key();
  const uint64_t n = b.n, k1 = b.k + 1, lwe_n = p.lwe_dimension.value, acc_words = k1 * n;
  const uint64_t two_n = 2 * n;
  // Key switches in one pass over the key-switching key, then modulus switches in place.
  std::span<uint64_t> ks(s.ms.data(), count * (lwe_n + 1));
  keyswitch_many(keys.keyswitch_key(), in, first, count, ks);
  for (uint64_t c = 0; c < count; ++c) {
    const LookupTable& lut = lut_index.empty() ? luts[0] : luts[lut_index[first + c]];
    BLINDML_CHECK_EQ(lut.polynomial_size().value, n);
    std::span<uint64_t> ms(s.ms.data() + c * (lwe_n + 1), lwe_n + 1);
    modulus_switch(ms, p.polynomial_size, ms);
    // acc = X^(-b̃)·(0, …, 0, LUT): the masks stay zero under rotation.
    uint64_t* a = s.accs.data() + c * acc_words;
    std::fill(a, a + (k1 - 1) * n, 0);
    const uint64_t body_shift = (two_n - ms[lwe_n]) % two_n;
    if (body_shift != 0) {
      rotate(lut.polynomial().data(), body_shift, n, a + (k1 - 1) * n);
    } else {
      std::memcpy(a + (k1 - 1) * n, lut.polynomial().data(), n * sizeof(uint64_t));
    }
  }
  // The key pass: GGSW i to every accumulator; while they run, GGSW i+1 is prefetched in
  // `count` slices, one before each accumulator's step, so the prefetches spread over the step.
  const uint64_t ggsw_bytes = bsk.ggsw_size() * sizeof(double);
  const uint64_t slice = (ggsw_bytes / count + 63) / 64 * 64;
  for (uint64_t i = 0; i < lwe_n; ++i) {
    const char* next = i + 1 < lwe_n ? reinterpret_cast<const char*>(bsk.ggsw(i + 1).data()) : nullptr;
    for (uint64_t c = 0; c < count; ++c) {
      const bool pf = next != nullptr && c * slice < ggsw_bytes;
      cmux_step(bsk, i, s.ms[c * (lwe_n + 1) + i], s.accs.data() + c * acc_words, b, pf ? next + c * slice : nullptr,
                pf ? std::min(slice, ggsw_bytes - c * slice) : 0);
    }
  }
  for (uint64_t c = 0; c < count; ++c) {
    const uint64_t* a = s.accs.data() + c * acc_words;
    auto o = out.at(first + c);
    for (uint64_t q = 0; q + 1 < k1; ++q) {
      const uint64_t* poly = a + q * n;
      uint64_t* dst = o.data() + q * n;
      dst[0] = poly[0];
      for (uint64_t j = 1; j < n; ++j) dst[j] = 0 - poly[n - j];
    }
    o[(k1 - 1) * n] = a[(k1 - 1) * n];
  }
}

}  // namespace

void programmable_bootstrap_batch(const EvaluationKeys& keys, const LweCiphertextList& in,
                                  std::span<const LookupTable> luts, std::span<const uint32_t> lut_index,
                                  LweCiphertextList& out, ThreadPool& pool) {
  programmable_bootstrap_batch(keys, in, luts, lut_index, out, pool, PbsBatchOptions{});
}

void programmable_bootstrap_batch(const EvaluationKeys& keys, const LweCiphertextList& in,
                                  std::span<const LookupTable> luts, std::span<const uint32_t> lut_index,
                                  LweCiphertextList& out, ThreadPool& pool, const PbsBatchOptions& options) {
  BLINDML_CHECK_EQ(in.count(), out.count());
  BLINDML_CHECK(!luts.empty(), "no lookup table");
  BLINDML_CHECK(lut_index.empty() || lut_index.size() == in.count(), "one table index per input");
  const auto& p = keys.parameters();
  const uint64_t count = in.count();
  if (count == 0) return;
  const uint64_t width =
      std::clamp<uint64_t>(options.width == 0 ? pbs_batch_width(p) : options.width, 1, kMaxPbsBatchWidth);
  for (uint32_t index : lut_index) BLINDML_CHECK(index < luts.size(), "table index out of range");
  const uint64_t threads = pool.size();
  if (width == 1) {
    std::vector<std::unique_ptr<PbsScratch>> scratch(threads);
    pool.parallel_for(count, [&](size_t i, size_t worker) {
      if (!scratch[worker]) scratch[worker] = std::make_unique<PbsScratch>(p);
      const LookupTable& lut = lut_index.empty() ? luts[0] : luts[lut_index[i]];
      programmable_bootstrap(keys, in.at(i), lut, out.at(i), *scratch[worker]);
    });
    return;
  }
  // Chunks of at most `width`, as many as the pool has threads or a multiple of it, of balanced
  // sizes: every worker streams the key once per chunk, and they finish together.
  uint64_t chunks = (count + width - 1) / width;
  if (chunks < threads) {
    chunks = std::min<uint64_t>(count, threads);
  } else {
    chunks = (chunks + threads - 1) / threads * threads;
  }
  const uint64_t largest = (count + chunks - 1) / chunks;
  std::vector<std::unique_ptr<PbsBatchScratch>> scratch(threads);
  pool.parallel_for(chunks, [&](size_t q, size_t worker) {
    if (!scratch[worker]) scratch[worker] = std::make_unique<PbsBatchScratch>(p, largest);
    const uint64_t begin = q * count / chunks, end = (q + 1) * count / chunks;
    if (end > begin) bootstrap_chunk(keys, in, luts, lut_index, begin, end - begin, out, *scratch[worker]);
  });
}

}  // namespace blindml::crypto
