#include "blindml/crypto/algorithms.h"

#include <cmath>
#include <bit>
#include <cstring>

#include "blindml/crypto/noise.h"
#include "internal/check.h"
#include "internal/decomposition.h"
#include "internal/fft.h"

namespace blindml::crypto {

int64_t decode_message(uint64_t phase, uint32_t bits, bool is_signed) {
  // Round to the nearest multiple of Δ = 2^(63-bits), keep bits+1 bits (message and padding).
  const uint32_t shift = 63 - bits;
  uint64_t rounded = (phase >> shift) + ((phase >> (shift - 1)) & 1);
  const uint64_t width = bits + 1;
  uint64_t v = rounded & ((uint64_t{1} << width) - 1);
  if (is_signed && (v >> bits) & 1) return static_cast<int64_t>(v) - (int64_t{1} << width);
  return static_cast<int64_t>(v);
}

void encrypt_lwe(std::span<const uint64_t> key, uint64_t mu, double std_dev, CsprngStream& mask_rng,
                 CsprngStream& noise_rng, std::span<uint64_t> out) {
  BLINDML_CHECK_EQ(out.size(), key.size() + 1);
  auto mask = out.first(key.size());
  mask_rng.fill_uniform(mask);
  uint64_t b = mu + noise_rng.gaussian(std_dev);
  for (size_t i = 0; i < key.size(); ++i) b += mask[i] * key[i];
  out[key.size()] = b;
}

uint64_t decrypt_lwe_phase(std::span<const uint64_t> key, std::span<const uint64_t> ct) {
  BLINDML_CHECK_EQ(ct.size(), key.size() + 1);
  uint64_t dot = 0;
  for (size_t i = 0; i < key.size(); ++i) dot += ct[i] * key[i];
  return ct[key.size()] - dot;
}

SeededLweCiphertextList encrypt_lwe_seeded(std::span<const uint64_t> key, std::span<const uint64_t> mus,
                                           double std_dev, const Seed& mask_seed, CsprngStream& noise_rng) {
  CsprngStream mask_rng(mask_seed);
  std::vector<uint64_t> mask(key.size());
  std::vector<uint64_t> bodies(mus.size());
  for (size_t c = 0; c < mus.size(); ++c) {
    mask_rng.fill_uniform(mask);
    uint64_t b = mus[c] + noise_rng.gaussian(std_dev);
    for (size_t i = 0; i < key.size(); ++i) b += mask[i] * key[i];
    bodies[c] = b;
  }
  return SeededLweCiphertextList(LweDimension(key.size()), mask_seed, std::move(bodies));
}

LweCiphertextList expand_seeded_lwe_list(const SeededLweCiphertextList& seeded) {
  const uint64_t n = seeded.dimension().value;
  LweCiphertextList out(seeded.dimension(), seeded.count());
  CsprngStream mask_rng(seeded.seed());
  for (uint64_t c = 0; c < seeded.count(); ++c) {
    auto ct = out.at(c);
    mask_rng.fill_uniform(ct.first(n));
    ct[n] = seeded.bodies()[c];
  }
  return out;
}

LweCiphertext encrypt(const ClientKey& key, int64_t message, uint32_t bits) {
  const auto& p = key.parameters();
  LweCiphertext ct(p.big_lwe_dimension());
  CsprngStream mask_rng(os_seed());
  CsprngStream noise_rng(os_seed());
  encrypt_lwe(key.big_lwe_key(), encode_message(message, bits), std::exp2(p.glwe_noise_log2_std), mask_rng,
              noise_rng, ct.data());
  return ct;
}

SeededLweCiphertextList encrypt_seeded(const ClientKey& key, std::span<const int64_t> messages, uint32_t bits) {
  std::vector<uint64_t> mus(messages.size());
  for (size_t i = 0; i < messages.size(); ++i) mus[i] = encode_message(messages[i], bits);
  CsprngStream noise_rng(os_seed());
  return encrypt_lwe_seeded(key.big_lwe_key(), mus, std::exp2(key.parameters().glwe_noise_log2_std), os_seed(),
                            noise_rng);
}

int64_t decrypt(const ClientKey& key, std::span<const uint64_t> ct, uint32_t bits, bool is_signed) {
  return decode_message(decrypt_lwe_phase(key.big_lwe_key(), ct), bits, is_signed);
}

namespace {
// Spectra of the binary key polynomials, for exact products.
std::vector<AlignedF64> key_spectra(const GlweSecretKey& key) {
  const uint64_t n = key.polynomial_size().value;
  const auto& fft = internal::NegacyclicFft::get(n);
  std::vector<AlignedF64> out;
  std::vector<int64_t> tmp(n);
  for (uint64_t i = 0; i < key.glwe_dimension().value; ++i) {
    auto poly = key.polynomial(i);
    for (uint64_t j = 0; j < n; ++j) tmp[j] = static_cast<int64_t>(poly[j]);
    AlignedF64 spec(n);
    fft.forward_i64(tmp.data(), spec.data());
    out.push_back(std::move(spec));
  }
  secure_wipe(tmp.data(), tmp.size() * sizeof(int64_t));
  return out;
}
}  // namespace

void encrypt_glwe(const GlweSecretKey& key, std::span<const uint64_t> message, double std_dev,
                  CsprngStream& mask_rng, CsprngStream& noise_rng, GlweCiphertext& out) {
  const uint64_t n = key.polynomial_size().value;
  const uint64_t k = key.glwe_dimension().value;
  BLINDML_CHECK_EQ(message.size(), n);
  BLINDML_CHECK_EQ(out.polynomial_size().value, n);
  const auto& fft = internal::NegacyclicFft::get(n);
  auto spectra = key_spectra(key);
  AlignedF64 scratch(2 * n);
  auto body = out.body();
  std::memcpy(body.data(), message.data(), n * sizeof(uint64_t));
  noise_rng.add_gaussian(body, std_dev);
  for (uint64_t i = 0; i < k; ++i) {
    auto a = out.polynomial(i);
    mask_rng.fill_uniform(a);
    fft.mul_add_exact_small(a.data(), spectra[i].data(), body.data(), scratch.data());
  }
  for (auto& s : spectra) secure_wipe(s.data(), s.size() * sizeof(double));
}

void decrypt_glwe_phase(const GlweSecretKey& key, const GlweCiphertext& ct, std::span<uint64_t> out) {
  const uint64_t n = key.polynomial_size().value;
  const uint64_t k = key.glwe_dimension().value;
  BLINDML_CHECK_EQ(out.size(), n);
  const auto& fft = internal::NegacyclicFft::get(n);
  auto spectra = key_spectra(key);
  AlignedF64 scratch(2 * n);
  std::vector<uint64_t> dot(n, 0);
  for (uint64_t i = 0; i < k; ++i)
    fft.mul_add_exact_small(ct.polynomial(i).data(), spectra[i].data(), dot.data(), scratch.data());
  auto b = ct.polynomial(k);
  for (uint64_t j = 0; j < n; ++j) out[j] = b[j] - dot[j];
  for (auto& s : spectra) secure_wipe(s.data(), s.size() * sizeof(double));
}

void add_inplace(std::span<uint64_t> acc, std::span<const uint64_t> other) {
  BLINDML_CHECK_EQ(acc.size(), other.size());
  for (size_t i = 0; i < acc.size(); ++i) acc[i] += other[i];
}

void sub_inplace(std::span<uint64_t> acc, std::span<const uint64_t> other) {
  BLINDML_CHECK_EQ(acc.size(), other.size());
  for (size_t i = 0; i < acc.size(); ++i) acc[i] -= other[i];
}

void negate_inplace(std::span<uint64_t> ct) {
  for (auto& v : ct) v = 0 - v;
}

void add_plain_inplace(std::span<uint64_t> ct, uint64_t mu) { ct.back() += mu; }

void mul_scalar_inplace(std::span<uint64_t> ct, int64_t w) {
  const uint64_t uw = static_cast<uint64_t>(w);
  for (auto& v : ct) v *= uw;
}

void dot_product(const LweCiphertextList& in, std::span<const int64_t> weights, std::span<uint64_t> out) {
  BLINDML_CHECK_EQ(weights.size(), in.count());
  BLINDML_CHECK_EQ(out.size(), in.dimension().value + 1);
  std::fill(out.begin(), out.end(), 0);
  const uint64_t size = out.size();
  uint64_t* __restrict o = out.data();
  for (uint64_t c = 0; c < in.count(); ++c) {
    const uint64_t w = static_cast<uint64_t>(weights[c]);
    if (w == 0) continue;
    const uint64_t* __restrict x = in.at(c).data();
    for (uint64_t i = 0; i < size; ++i) o[i] += w * x[i];
  }
}

void keyswitch(const LweKeyswitchKey& ksk, std::span<const uint64_t> in, std::span<uint64_t> out) {
  const uint64_t n_in = ksk.input_dimension().value;
  const uint64_t n_out = ksk.output_dimension().value;
  const uint64_t levels = ksk.level_count().value;
  const uint64_t base_log = ksk.base_log().value;
  BLINDML_CHECK_EQ(in.size(), n_in + 1);
  BLINDML_CHECK_EQ(out.size(), n_out + 1);
  // Modulo 2^32 on the key's top 32 bits (see LweKeyswitchKey); the accumulator (one per thread,
  // allocated once) stays in L1.
  thread_local std::vector<uint32_t, AlignedAllocator<uint32_t>> acc;
  if (acc.size() < n_out + 1) acc.resize(n_out + 1);
  uint32_t* __restrict o = acc.data();
  std::fill(o, o + n_out + 1, 0u);
  o[n_out] = static_cast<uint32_t>((in[n_in] + (uint64_t{1} << 31)) >> 32);
  int64_t digits[64];
  for (uint64_t i = 0; i < n_in; ++i) {
    internal::decompose_word(in[i], base_log, levels, digits);
    auto block = ksk.block(i);
    for (uint64_t j = 0; j < levels; ++j) {
      const uint32_t d = static_cast<uint32_t>(digits[j]);
      if (d == 0) continue;
      const uint32_t* __restrict row = block.data() + j * (n_out + 1);
      for (uint64_t t = 0; t <= n_out; ++t) o[t] -= d * row[t];
    }
  }
  for (uint64_t t = 0; t <= n_out; ++t) out[t] = static_cast<uint64_t>(o[t]) << 32;
}

void keyswitch_many(const LweKeyswitchKey& ksk, const LweCiphertextList& in, uint64_t first, uint64_t count,
                    std::span<uint64_t> out) {
  const uint64_t n_in = ksk.input_dimension().value;
  const uint64_t n_out = ksk.output_dimension().value;
  const uint64_t levels = ksk.level_count().value;
  const uint64_t base_log = ksk.base_log().value;
  const uint64_t w = n_out + 1;
  BLINDML_CHECK_EQ(in.dimension().value, n_in);
  BLINDML_CHECK(first <= in.count() && count <= in.count() - first, "key switch range outside the list");
  BLINDML_CHECK_EQ(out.size(), count * w);
  // The same sums modulo 2^32 as keyswitch (so the same words), key block by key block: block i
  // (l rows, ~10 KB at 4 bits) is read once for all `count` ciphertexts while it sits in L1.
  thread_local std::vector<uint32_t, AlignedAllocator<uint32_t>> acc;
  if (acc.size() < count * w) acc.resize(count * w);
  for (uint64_t c = 0; c < count; ++c) {
    uint32_t* o = acc.data() + c * w;
    std::fill(o, o + w, 0u);
    o[n_out] = static_cast<uint32_t>((in.at(first + c)[n_in] + (uint64_t{1} << 31)) >> 32);
  }
  int64_t digits[64];
  for (uint64_t i = 0; i < n_in; ++i) {
    auto block = ksk.block(i);
    for (uint64_t c = 0; c < count; ++c) {
      internal::decompose_word(in.at(first + c)[i], base_log, levels, digits);
      uint32_t* __restrict o = acc.data() + c * w;
      for (uint64_t j = 0; j < levels; ++j) {
        const uint32_t d = static_cast<uint32_t>(digits[j]);
        if (d == 0) continue;
        const uint32_t* __restrict row = block.data() + j * w;
        for (uint64_t t = 0; t < w; ++t) o[t] -= d * row[t];
      }
    }
  }
  for (uint64_t q = 0; q < count * w; ++q) out[q] = static_cast<uint64_t>(acc[q]) << 32;
}

void modulus_switch(std::span<const uint64_t> in, PolynomialSize poly_size, std::span<uint64_t> out) {
  BLINDML_CHECK_EQ(in.size(), out.size());
  const uint64_t log2n = static_cast<uint64_t>(std::countr_zero(poly_size.value)) + 1;  // log2(2N)
  const uint64_t shift = 64 - log2n;
  const uint64_t mask = (uint64_t{1} << log2n) - 1;
  for (size_t i = 0; i < in.size(); ++i) out[i] = ((in[i] >> shift) + ((in[i] >> (shift - 1)) & 1)) & mask;
}

LookupTable make_lookup_table_encoded(std::span<const uint64_t> entries, uint32_t input_bits, PolynomialSize poly_size) {
  const uint64_t n = poly_size.value;
  BLINDML_CHECK_EQ(entries.size(), uint64_t{1} << input_bits);
  BLINDML_CHECK(n >= (uint64_t{2} << input_bits), "polynomial size too small for the table's precision");
  const uint64_t box = n >> input_bits;
  const uint64_t half = box / 2;
  std::vector<uint64_t> poly(n);
  // Coefficient j answers phases j (and -(j) reflected by negacyclicity); the box of entry m is
  // centred on m·box, so j belongs to m = floor((j + box/2) / box); the last half box belongs to
  // entry 0 seen through X^N = -1, hence negated.
  for (uint64_t j = 0; j < n; ++j) {
    uint64_t m = (j + half) / box;
    poly[j] = m < entries.size() ? entries[m] : 0 - entries[0];
  }
  return LookupTable(poly_size, input_bits, std::move(poly));
}

LookupTable make_lookup_table(std::span<const int64_t> entries, uint32_t input_bits, uint32_t output_bits,
                              PolynomialSize poly_size) {
  std::vector<uint64_t> enc(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) enc[i] = encode_message(entries[i], output_bits);
  return make_lookup_table_encoded(enc, input_bits, poly_size);
}

void sample_extract(const GlweCiphertext& glwe, std::span<uint64_t> out) {
  const uint64_t n = glwe.polynomial_size().value;
  const uint64_t k = glwe.glwe_dimension().value;
  BLINDML_CHECK_EQ(out.size(), k * n + 1);
  for (uint64_t i = 0; i < k; ++i) {
    auto a = glwe.polynomial(i);
    uint64_t* o = out.data() + i * n;
    o[0] = a[0];
    for (uint64_t j = 1; j < n; ++j) o[j] = 0 - a[n - j];
  }
  out[k * n] = glwe.polynomial(k)[0];
}

}  // namespace blindml::crypto
