// How every ciphertext of a circuit encodes its integer, and how each bootstrap reads one: the
// one place with the encoding formulas. The analysis derives the noise constraints from them
// (what each read amplifies), the lowering (runtime::Program) builds its PBS inputs and tables
// from them, so the two cannot disagree.
//
// Per-value carriers. A value v is encoded as v·Δ_P, Δ_P = 2^(63 - P), two's complement, where P
// is the carrier of v's *partition*: values joined by leveled ops (add, sub, neg, add_const,
// mul_const, matmul, sum, reshape, transpose, slice, gather, concat, output, and a rounding that
// is not materialized) share one encoding, because torus additions only add integers of one
// scale. A table lookup's output (and a materialized rounding's identity lookup) starts a new
// encoding: its table entries may be written at any Δ, so it takes its consumers' P. An input
// is encrypted by the client at its partition's P; an output is decrypted at its own. Each
// partition's P is the widest value or read in it: with one global P (the widest value of the
// whole circuit), a 5-bit comparison feeding a 15-bit sum of trees was read with its noise
// amplified 2^10 times.
//
// A lookup of w bits on x in carrier P reads y = (x - input_min)·2^(P - w): its noise is amplified
// by 2^(P - w) before the key switch. Reading through a rounding that drops s bits, the value is
// (x + 2^(s-1) - input_min·2^s)·2^(P - w - s). Bit extraction j of an exact rounding reads bit j
// of the working value at the torus' sign: multiplied by 2^(P - j), plus a quarter turn; the
// constant table -2^(62 - P + j) returns ∓2^(j-1)·Δ_P by the sign, and adding 2^(62 - P + j)
// gives bit·2^j·Δ_P. Several bits at once: "Exact rounding in chunks" below.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>

namespace blindml::circuit::encoding {

// v·2^(63 - P) on the 64-bit torus (two's complement for negative v).
constexpr uint64_t encode(int64_t v, uint32_t carrier) {
  return static_cast<uint64_t>(v) << (63 - carrier);
}

// Bits of the table that indexes [0, span] (at least 1): a materialized rounding's identity
// lookup reads its result t - t_min on this many bits.
constexpr uint32_t index_bits(int64_t span) {
  uint32_t b = 1;
  while (b < 63 && (span >> b) != 0) ++b;
  return b;
}

// The plaintext added before a lookup of a value read through a rounding of s bits (s = 0: a
// plain value): -input_min at the value's scale 2^s·Δ_P, plus half a step when the rounding is
// approximate (the PBS reads the top bits; half a step makes its floor the rounding's half-up).
constexpr uint64_t lookup_offset(int64_t input_min, uint32_t carrier, uint32_t drop_bits, bool approximate_round) {
  uint64_t off = encode(-input_min, carrier) << drop_bits;
  if (drop_bits > 0 && approximate_round) off += uint64_t{1} << (62 - carrier);
  return off;
}

// log2 of the clear factor that brings a lookup's w read bits under the padding bit (also the
// log2 of its noise amplification): P - w - s.
constexpr uint32_t lookup_shift(uint32_t carrier, uint32_t read_bits, uint32_t drop_bits) {
  return carrier - read_bits - drop_bits;
}

// Exact rounding: the half step added to x before its low bits are cleared (2^(s-1) at Δ_P).
constexpr uint64_t rounding_half(uint32_t carrier, uint32_t drop_bits) {
  return encode(int64_t{1} << (drop_bits - 1), carrier);
}

// Exact rounding in chunks (analysis.h, rounding_chunks): the chunk of c bits from bit j0 of the
// working value z (the bits below j0 already cleared) is read after a clear multiplication by
// 2^(P - j0 - (c - 1)), which puts its top bit b at the torus' top bit (bit 63) and the c - 1
// bits m below it just under it (bits above the chunk wrap away):
//   top bit:  plus half of the chunk's unit 2^(63 - c) (for c = 1 the quarter turn), the phase
//             is b/2 + (m + 1/2)·2^-c turns: its sign is b with a margin of 2^(63 - c), a read of
//             c - 1 bits. The constant table -2^(62 - P + j) (j = j0 + c - 1) returns ∓2^(j-1)·Δ_P
//             by the sign, and adding 2^(62 - P + j) gives b·2^j·Δ_P, which is subtracted.
//   the rest: now under a zero padding bit, an ordinary (c-1)-bit lookup whose entry m is
//             m·2^j0 at Δ_P, subtracted too.
// The noise of z is amplified by 2^(P - j0 - (c - 1)) in both reads.
constexpr uint32_t chunk_shift(uint32_t carrier, uint32_t first_bit, uint32_t bits) {
  return carrier - first_bit - (bits - 1);
}
constexpr uint64_t chunk_sign_offset(uint32_t bits) { return uint64_t{1} << (63 - bits); }
constexpr uint64_t extraction_table_entry(uint32_t carrier, uint32_t bit) {
  return 0 - (uint64_t{1} << (62 - carrier + bit));
}
constexpr uint64_t extraction_correction(uint32_t carrier, uint32_t bit) { return uint64_t{1} << (62 - carrier + bit); }
constexpr uint64_t chunk_rest_entry(uint64_t m, uint32_t carrier, uint32_t first_bit) {
  return encode(static_cast<int64_t>(m << first_bit), carrier);
}

}  // namespace blindml::circuit::encoding
