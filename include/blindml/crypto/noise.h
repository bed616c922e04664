// The noise model of shared/crypto.md. Variances are in units of the torus (q = 2^64 ↦ 1).
// Every formula here is checked against measurement by tests/crypto/noise_test.cc.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>

#include "blindml/crypto/params.h"

namespace blindml::crypto {

// σ² of a fresh encryption with log2 σ (absolute, 2^64 scale).
double variance_from_log2_std(double log2_std);

// Key switching from dimension n_in: n_in·l·(B²+2)/12·σ²_ksk + n_in·(B^(-2l) - q^(-2))/24.
double keyswitch_variance(uint64_t input_dimension, DecompBaseLog base_log, DecompLevelCount levels,
                          double ksk_variance);

// What computing the key switch on the key's top 32 bits adds (see LweKeyswitchKey):
// n_in·l·(B²+2)/12 · 2^-64/12.
double keyswitch_truncation_variance(uint64_t input_dimension, DecompBaseLog base_log, DecompLevelCount levels);

// Modulus switching an n-dimensional ciphertext to Z_2N: (1 + n/2)/(48 N²).
double modulus_switch_variance(LweDimension n, PolynomialSize poly_size);

// PBS output variance (Chillotti-Ligier-Orfila-Tap 2021, binary keys) plus the FFT rounding term.
double pbs_variance(const ParameterSet& params);
// The FFT rounding term alone:
//   C·n·(k+1)·l·N·(B²/12)·(1/3)·2^-106·log2(N)·(1 + kN/2), C fitted by tests/crypto/fft_test.cc.
double pbs_fft_variance(const ParameterSet& params);

// Variance at the modulus-switch output of a PBS whose input has variance input_variance
// (under the big key): input + key switch + modulus switch.
double pbs_input_total_variance(const ParameterSet& params, double input_variance);

// P(|e| > Δ/2) for a centred Gaussian of the given variance: erfc(Δ / (2·√2·σ)),
// with Δ = 2^(63 - bits) / 2^64 the encoding step of a bits-wide message with padding bit.
double error_probability(uint32_t bits, double variance);

// log2 of the per-PBS error probability of a set used at its own precision, with the input
// coming from a PBS output scaled by integer weights of squared 2-norm squared_norm.
double log2_pbs_error_probability(const ParameterSet& params, double squared_norm);

}  // namespace blindml::crypto
