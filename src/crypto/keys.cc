#include "blindml/crypto/keys.h"

#include <cmath>
#include <cstring>

#include "blindml/crypto/algorithms.h"
#include "internal/check.h"
#include "internal/fft.h"

namespace blindml::crypto {

LweSecretKey::LweSecretKey(LweDimension n, SecretU64 bits) : bits_(std::move(bits)) {
  BLINDML_CHECK_EQ(bits_.size(), n.value);
}

LweSecretKey LweSecretKey::generate(LweDimension n, CsprngStream& rng) {
  SecretU64 bits(n.value);
  rng.fill_binary(bits);
  return LweSecretKey(n, std::move(bits));
}

GlweSecretKey::GlweSecretKey(GlweDimension k, PolynomialSize n, SecretU64 coefficients)
    : k_(k), n_(n), coefficients_(std::move(coefficients)) {
  BLINDML_CHECK_EQ(coefficients_.size(), k.value * n.value);
}

GlweSecretKey GlweSecretKey::generate(GlweDimension k, PolynomialSize n, CsprngStream& rng) {
  SecretU64 c(k.value * n.value);
  rng.fill_binary(c);
  return GlweSecretKey(k, n, std::move(c));
}

Result<ClientKey> ClientKey::generate(const ParameterSet& params) {
  BLINDML_RETURN_IF_ERROR(check_security(params));
  CsprngStream rng(os_seed());
  auto lwe = LweSecretKey::generate(params.lwe_dimension, rng);
  auto glwe = GlweSecretKey::generate(params.glwe_dimension, params.polynomial_size, rng);
  return ClientKey(params, std::move(lwe), std::move(glwe));
}

namespace {

// A stream positioned at word w of seed's keystream.
std::unique_ptr<CsprngStream> stream_at_word(const Seed& seed, uint64_t word) {
  auto s = std::make_unique<CsprngStream>(seed, word / 2);
  if (word % 2) s->next_u64();
  return s;
}

// The nearest multiple of 2^32, as its top 32 bits.
inline uint32_t round_to_top32(uint64_t x) { return static_cast<uint32_t>((x + (uint64_t{1} << 31)) >> 32); }

void run(ThreadPool* pool, size_t count, const std::function<void(size_t, size_t)>& fn) {
  if (pool != nullptr) {
    pool->parallel_for(count, fn);
  } else {
    for (size_t i = 0; i < count; ++i) fn(i, 0);
  }
}

}  // namespace

SeededEvaluationKeys generate_seeded_evaluation_keys(const ClientKey& key, ThreadPool* pool) {
  const ParameterSet& p = key.parameters();
  const uint64_t n = p.lwe_dimension.value, k = p.glwe_dimension.value, N = p.polynomial_size.value;
  const uint64_t l = p.pbs_level_count.value, beta = p.pbs_base_log.value;
  const uint64_t rows = (k + 1) * l;

  // Bootstrapping key: GGSW_S(s_i). Row (c, j) is a GLWE whose mask comes from the seed's stream and
  // whose message is s_i·2^(64-βj) on the body for c = k, and -s_i·2^(64-βj)·S_c for c < k (so the
  // regenerated mask already carries the gadget term of component c: see shared/crypto.md).
  const Seed bsk_seed = os_seed();
  std::vector<uint64_t> bsk_bodies(n * rows * N);
  run(pool, n, [&](size_t i, size_t) {
    auto mask_rng = stream_at_word(bsk_seed, i * rows * k * N);
    CsprngStream noise_rng(os_seed());
    GlweCiphertext row(p.glwe_dimension, p.polynomial_size);
    std::vector<uint64_t> msg(N);
    const uint64_t s = key.lwe_key().bits()[i];
    for (uint64_t c = 0; c <= k; ++c) {
      for (uint64_t j = 1; j <= l; ++j) {
        const uint64_t g = uint64_t{1} << (64 - beta * j);
        if (c == k) {
          std::fill(msg.begin(), msg.end(), 0);
          msg[0] = s * g;
        } else {
          auto sc = key.glwe_key().polynomial(c);
          for (uint64_t t = 0; t < N; ++t) msg[t] = 0 - s * sc[t] * g;
        }
        encrypt_glwe(key.glwe_key(), msg, std::exp2(p.glwe_noise_log2_std), *mask_rng, noise_rng, row);
        auto body = row.body();
        std::memcpy(bsk_bodies.data() + (i * rows + c * l + (j - 1)) * N, body.data(), N * sizeof(uint64_t));
      }
    }
    secure_wipe(msg.data(), msg.size() * sizeof(uint64_t));
  });

  // Key-switching key: for each big-key coefficient S_t and level j, LWE_s(S_t·2^(64-β_ks·j)).
  const uint64_t big_n = k * N, ks_l = p.ks_level_count.value, ks_beta = p.ks_base_log.value;
  const Seed ksk_seed = os_seed();
  std::vector<uint64_t> ksk_bodies(big_n * ks_l);
  const uint64_t chunk = 256;
  run(pool, (big_n + chunk - 1) / chunk, [&](size_t c, size_t) {
    const uint64_t begin = c * chunk, end = std::min(big_n, begin + chunk);
    auto mask_rng = stream_at_word(ksk_seed, begin * ks_l * n);
    CsprngStream noise_rng(os_seed());
    std::vector<uint64_t> ct(n + 1);
    for (uint64_t t = begin; t < end; ++t) {
      for (uint64_t j = 1; j <= ks_l; ++j) {
        const uint64_t mu = key.big_lwe_key()[t] << (64 - ks_beta * j);
        encrypt_lwe(key.lwe_key().bits(), mu, std::exp2(p.lwe_noise_log2_std), *mask_rng, noise_rng, ct);
        ksk_bodies[t * ks_l + (j - 1)] = ct[n];
      }
    }
  });

  return SeededEvaluationKeys{
      p,
      SeededBootstrapKey(p.lwe_dimension, p.glwe_dimension, p.polynomial_size, p.pbs_base_log, p.pbs_level_count,
                         bsk_seed, std::move(bsk_bodies)),
      SeededLweKeyswitchKey(p.big_lwe_dimension(), p.lwe_dimension, p.ks_base_log, p.ks_level_count, ksk_seed,
                            std::move(ksk_bodies)),
  };
}

EvaluationKeys expand_evaluation_keys(const SeededEvaluationKeys& seeded, ThreadPool* pool) {
  const ParameterSet& p = seeded.params;
  const uint64_t n = p.lwe_dimension.value, k = p.glwe_dimension.value, N = p.polynomial_size.value;
  const uint64_t l = p.pbs_level_count.value;
  const uint64_t rows = (k + 1) * l;
  const auto& sb = seeded.bootstrap_key;
  BLINDML_CHECK_EQ(sb.bodies().size(), n * rows * N);

  FourierBootstrapKey bsk(p.lwe_dimension, p.glwe_dimension, p.polynomial_size, p.pbs_base_log, p.pbs_level_count);
  const auto& fft = internal::NegacyclicFft::get(N);
  run(pool, n, [&](size_t i, size_t) {
    auto mask_rng = stream_at_word(sb.seed(), i * rows * k * N);
    std::vector<uint64_t> poly(N);
    auto ggsw = bsk.ggsw(i);
    for (uint64_t r = 0; r < rows; ++r) {
      for (uint64_t c = 0; c <= k; ++c) {
        if (c < k) {
          mask_rng->fill_uniform(poly);
        } else {
          std::memcpy(poly.data(), sb.bodies().data() + (i * rows + r) * N, N * sizeof(uint64_t));
        }
        fft.forward_i64(reinterpret_cast<const int64_t*>(poly.data()), ggsw.data() + (r * (k + 1) + c) * N);
      }
    }
  });

  const auto& sk = seeded.keyswitch_key;
  const uint64_t big_n = k * N, ks_l = p.ks_level_count.value;
  BLINDML_CHECK_EQ(sk.bodies().size(), big_n * ks_l);
  LweKeyswitchKey ksk(p.big_lwe_dimension(), p.lwe_dimension, p.ks_base_log, p.ks_level_count);
  const uint64_t chunk = 256;
  run(pool, (big_n + chunk - 1) / chunk, [&](size_t c, size_t) {
    const uint64_t begin = c * chunk, end = std::min(big_n, begin + chunk);
    auto mask_rng = stream_at_word(sk.seed(), begin * ks_l * n);
    std::vector<uint64_t> mask(n);
    for (uint64_t t = begin; t < end; ++t) {
      for (uint64_t j = 0; j < ks_l; ++j) {
        uint32_t* ct = ksk.data().data() + (t * ks_l + j) * (n + 1);
        mask_rng->fill_uniform(mask);
        for (uint64_t w = 0; w < n; ++w) ct[w] = round_to_top32(mask[w]);
        ct[n] = round_to_top32(sk.bodies()[t * ks_l + j]);
      }
    }
  });
  return EvaluationKeys(p, std::move(bsk), std::move(ksk));
}

uint64_t seeded_evaluation_keys_bytes(const ParameterSet& p) {
  const uint64_t n = p.lwe_dimension.value, k = p.glwe_dimension.value, N = p.polynomial_size.value;
  return 8 * (n * (k + 1) * p.pbs_level_count.value * N + k * N * p.ks_level_count.value) + 2 * sizeof(Seed);
}

uint64_t expanded_evaluation_keys_bytes(const ParameterSet& p) {
  const uint64_t n = p.lwe_dimension.value, k = p.glwe_dimension.value, N = p.polynomial_size.value;
  return 8 * n * (k + 1) * p.pbs_level_count.value * (k + 1) * N + 4 * k * N * p.ks_level_count.value * (n + 1);
}

}  // namespace blindml::crypto
