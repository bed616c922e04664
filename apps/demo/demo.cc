// blindml_demo: the TFHE core end to end, one precision at a time.
//
// For each precision p given on the command line (default 2 3 4 5 6) it generates a client key
// and the seeded evaluation keys a client would upload, expands them as a server would, encrypts a
// few p-bit messages, evaluates the table lookup f(m) = m² mod 2^p on each with one programmable
// bootstrap, decrypts and checks the answers. It prints one row per precision: the parameter set,
// its security margin and per-PBS error probability, and what it cost.
//
// Then an integer circuit end to end: a small neural layer (4 inputs, 3 neurons with 4-bit
// weights, rounding of the accumulators, ReLU lookups, a sum) is compiled (analysis and
// parameter optimizer), evaluated on encrypted inputs and checked against the clear evaluator.
//
// Usage: blindml_demo [bits ...]     bits in 1..8
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "blindml/base/thread_pool.h"
#include "blindml/circuit/clear_eval.h"
#include "blindml/circuit/analysis.h"
#include "blindml/compiler/compiled.h"
#include "blindml/compiler/lower.h"
#include "blindml/crypto/algorithms.h"
#include "blindml/crypto/keys.h"
#include "blindml/crypto/noise.h"
#include "blindml/crypto/params.h"
#include "blindml/runtime/executor.h"

namespace {

using namespace blindml;
using namespace blindml::crypto;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

int64_t table_function(int64_t m, uint32_t bits) {
  const int64_t modulus = int64_t{1} << bits;
  return (m * m) % modulus;
}

// Up to 8 messages spread over [0, 2^bits), always including 0 and the largest.
std::vector<int64_t> sample_messages(uint32_t bits) {
  const int64_t count = int64_t{1} << bits;
  const int64_t samples = count < 8 ? count : 8;
  std::vector<int64_t> out;
  for (int64_t i = 0; i < samples; ++i) out.push_back(samples == 1 ? 0 : i * (count - 1) / (samples - 1));
  return out;
}

// Parses a precision argument; nullopt-like -1 on anything but an integer in 1..8.
int parse_bits(std::string_view arg) {
  if (arg.empty() || arg.size() > 2) return -1;
  int v = 0;
  for (char c : arg) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v >= 1 && v <= 8 ? v : -1;
}

struct Row {
  uint32_t bits;
  ParameterSet params;
  double keygen_ms = 0;
  double pbs_ms = 0;
  int correct = 0;
  int total = 0;
};

Result<Row> run_precision(uint32_t bits, ThreadPool& pool) {
  BLINDML_ASSIGN_OR_RETURN(const ParameterSet params, parameters_for_bits(bits));
  Row row{.bits = bits, .params = params};

  // Client: secret key and the seeded evaluation keys it would upload.
  auto start = Clock::now();
  BLINDML_ASSIGN_OR_RETURN(ClientKey ck, ClientKey::generate(params));
  SeededEvaluationKeys seeded = generate_seeded_evaluation_keys(ck, &pool);
  row.keygen_ms = ms_since(start);

  // Server: regenerate the masks and move the bootstrapping key to the Fourier domain.
  EvaluationKeys eval = expand_evaluation_keys(seeded, &pool);

  std::vector<int64_t> entries(size_t{1} << bits);
  for (size_t m = 0; m < entries.size(); ++m) entries[m] = table_function(static_cast<int64_t>(m), bits);
  LookupTable lut = make_lookup_table(entries, bits, bits, params.polynomial_size);

  PbsScratch scratch(params);
  LweCiphertext out(params.big_lwe_dimension());
  {
    // One untimed bootstrap first: FFT plans and page faults belong to setup, not to a PBS.
    LweCiphertext warm = encrypt(ck, 0, bits);
    programmable_bootstrap(eval, warm.data(), lut, out.data(), scratch);
  }

  double pbs_total_ms = 0;
  for (int64_t m : sample_messages(bits)) {
    LweCiphertext ct = encrypt(ck, m, bits);
    start = Clock::now();
    programmable_bootstrap(eval, ct.data(), lut, out.data(), scratch);
    pbs_total_ms += ms_since(start);
    const int64_t got = decrypt(ck, out.data(), bits, false);
    ++row.total;
    if (got == table_function(m, bits)) {
      ++row.correct;
    } else {
      std::fprintf(stderr, "  %u bits: f(%lld) = %lld expected, %lld decrypted\n", bits,
                   static_cast<long long>(m), static_cast<long long>(table_function(m, bits)),
                   static_cast<long long>(got));
    }
  }
  row.pbs_ms = pbs_total_ms / row.total;
  return row;
}

void print_header(size_t threads) {
  std::printf("blindml demo: encrypt m, evaluate f(m) = m^2 mod 2^p with one programmable bootstrap, decrypt.\n");
  std::printf("Key generation uses %zu thread(s); each PBS runs on one thread.\n\n", threads);
  std::printf("%4s %5s %2s %6s %9s %10s %11s %10s %10s %8s  %s\n", "bits", "n", "k", "N", "margin n",
              "margin kN", "log2 p_err", "keygen ms", "seeded MB", "PBS ms", "f(m) correct");
}

void print_row(const Row& r) {
  const ParameterSet& p = r.params;
  const uint64_t kn = p.big_lwe_dimension().value;
  std::string verdict = r.correct == r.total ? "yes" : "no";
  verdict += " (" + std::to_string(r.correct) + "/" + std::to_string(r.total) + ")";
  std::printf("%4u %5llu %2llu %6llu %9.2f %10.2f %11.1f %10.0f %10.1f %8.2f  %s\n", r.bits,
              static_cast<unsigned long long>(p.lwe_dimension.value),
              static_cast<unsigned long long>(p.glwe_dimension.value),
              static_cast<unsigned long long>(p.polynomial_size.value),
              security_margin_bits(p.lwe_dimension.value, p.lwe_noise_log2_std),
              security_margin_bits(kn, p.glwe_noise_log2_std), log2_pbs_error_probability(p, 1.0), r.keygen_ms,
              seeded_evaluation_keys_bytes(p) / 1e6, r.pbs_ms, verdict.c_str());
  std::fflush(stdout);
}

void print_usage() {
  std::fprintf(stderr,
               "usage: blindml_demo [bits ...]\n"
               "  bits: message precisions in 1..8 (default: 2 3 4 5 6)\n");
}

// The circuit part of the demo; returns whether FHE matched the clear evaluator on every sample.
bool run_circuit_demo(ThreadPool& pool) {
  using namespace blindml::circuit;
  std::printf("\nAn integer circuit: 4 inputs in [0, 15] -> 3 neurons (4-bit weights, bias) -> round away "
              "4 bits -> ReLU lookup -> sum\n");
  Builder b;
  auto x = b.input({4}, 0, 15, "x");
  auto acc = b.add_const(b.matmul(x, Tensor{{4, 3}, {3, -5, 7, -2, 6, 1, 5, 4, -8, -7, 2, 3}}, "layer"),
                         Tensor{{3}, {10, -20, 5}}, "bias");  // within [-205, 195]
  auto r = b.round(acc, 4, true, "round");                   // [-13, 12]: 5 bits
  std::vector<int64_t> relu(32);
  for (int i = 0; i < 32; ++i) relu[i] = std::max(0, i - 16);  // index = t + 16
  auto h = b.lookup(r, relu, 5, -16, "relu");
  b.output(b.sum(h, 0, "sum"), "y");
  auto circuit = b.finish();
  if (!circuit.ok()) {
    std::fprintf(stderr, "blindml_demo: circuit: %s\n", circuit.status().to_string().c_str());
    return false;
  }
  auto start = Clock::now();
  auto compiled = compiler::compile(*circuit);
  if (!compiled.ok()) {
    std::fprintf(stderr, "blindml_demo: compile: %s\n", compiled.status().to_string().c_str());
    return false;
  }
  const double compile_ms = ms_since(start);
  std::printf("%s", compiler::compile_report(*compiled).c_str());
  start = Clock::now();
  auto client = ClientKey::generate(compiled->params);
  if (!client.ok()) return false;
  auto seeded = generate_seeded_evaluation_keys(*client, &pool);
  auto keys = expand_evaluation_keys(seeded, &pool);
  const double keygen_ms = ms_since(start);
  auto analysis = analyze(compiled->circuit);
  if (!analysis.ok()) return false;
  auto program = blindml::compiler::lower(compiled->circuit, *analysis, compiled->params);
  if (!program.ok()) return false;
  const uint32_t in_bits = program->inputs()[0].carrier_bits, out_bits = program->outputs()[0].carrier_bits;
  std::printf("\ncompile %.0f ms, keys %.0f ms (%.1f MB seeded)\n", compile_ms, keygen_ms,
              seeded_evaluation_keys_bytes(compiled->params) / 1e6);
  std::printf("%-16s %8s %8s %10s\n", "input", "clear", "FHE", "FHE ms");
  const std::vector<std::vector<int64_t>> rows = {{0, 0, 0, 0}, {15, 15, 15, 15}, {3, 9, 1, 12}, {7, 2, 14, 5}};
  bool ok = true;
  for (const auto& row : rows) {
    Tensor in{{4}, row};
    auto clear = evaluate_clear(compiled->circuit, std::vector<Tensor>{in});
    std::vector<blindml::runtime::EncryptedTensor> enc;
    enc.push_back(blindml::runtime::encrypt_tensor(*client, in, in_bits));
    start = Clock::now();
    auto out = blindml::runtime::execute(*program, std::move(enc), &keys, pool);
    const double fhe_ms = ms_since(start);
    if (!clear.ok() || !out.ok()) return false;
    const int64_t got = blindml::runtime::decrypt_tensor(*client, (*out)[0], out_bits, false).data[0];
    const int64_t want = (*clear)[0].data[0];
    char label[64];
    std::snprintf(label, sizeof label, "[%lld %lld %lld %lld]", (long long)row[0], (long long)row[1],
                  (long long)row[2], (long long)row[3]);
    std::printf("%-16s %8lld %8lld %10.1f%s\n", label, (long long)want, (long long)got, fhe_ms,
                got == want ? "" : "  MISMATCH");
    ok = ok && got == want;
  }
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<uint32_t> precisions;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      print_usage();
      return 0;
    }
    const int bits = parse_bits(arg);
    if (bits < 0) {
      std::fprintf(stderr, "blindml_demo: '%s' is not a precision; give integers from 1 to 8\n", argv[i]);
      print_usage();
      return 2;
    }
    precisions.push_back(static_cast<uint32_t>(bits));
  }
  if (precisions.empty()) precisions = {2, 3, 4, 5, 6};

  ThreadPool pool;
  print_header(pool.size());
  bool all_correct = true;
  for (uint32_t bits : precisions) {
    Result<Row> row = run_precision(bits, pool);
    if (!row.ok()) {
      std::fprintf(stderr, "blindml_demo: %u bits: %s\n", bits, row.status().to_string().c_str());
      all_correct = false;
      continue;
    }
    print_row(*row);
    all_correct = all_correct && row->correct == row->total;
  }
  std::printf("\nmargin: bits of log2 sigma above the 128-bit security line (LWE n, GLWE kN); "
              "log2 p_err: per-PBS failure probability.\n");
  std::printf("keygen: client key + seeded evaluation keys (what a client uploads).\n");
  all_correct = run_circuit_demo(pool) && all_correct;
  return all_correct ? 0 : 1;
}
