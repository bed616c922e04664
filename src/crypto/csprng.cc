#include "blindml/crypto/csprng.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <sys/mman.h>

#include <cmath>
#include <new>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "blindml/crypto/aligned.h"

namespace blindml::crypto {
namespace {
constexpr size_t kBufferBytes = 8192;

[[noreturn]] void die(const char* what) {
  // Failure of the system CSPRNG or of AES leaves no safe way to go on: never fall back to
  // weaker randomness.
  std::fprintf(stderr, "blindml: fatal: %s\n", what);
  std::abort();
}
}  // namespace

void secure_wipe(void* p, size_t bytes) { OPENSSL_cleanse(p, bytes); }

namespace {
constexpr size_t kHugePage = size_t{2} << 20;
}

void* allocate_aligned(size_t bytes) {
  if (bytes >= kHugePage) {
    void* p = ::operator new(bytes, std::align_val_t(kHugePage));
    madvise(p, bytes - bytes % kHugePage, MADV_HUGEPAGE);  // advice only: failure changes nothing
    return p;
  }
  return ::operator new(bytes, std::align_val_t(64));
}

void free_aligned(void* p, size_t bytes) {
  ::operator delete(p, std::align_val_t(bytes >= kHugePage ? kHugePage : 64));
}

Seed os_seed() {
  Seed s;
  if (RAND_bytes(s.data(), static_cast<int>(s.size())) != 1) die("RAND_bytes failed: no OS randomness");
  return s;
}

CsprngStream::CsprngStream(const Seed& seed, uint64_t block_offset) : buffer_(kBufferBytes), pos_(kBufferBytes) {
  auto* ctx = EVP_CIPHER_CTX_new();
  if (ctx == nullptr) die("EVP_CIPHER_CTX_new failed");
  uint8_t iv[16] = {0};
  for (int i = 0; i < 8; ++i) iv[15 - i] = static_cast<uint8_t>(block_offset >> (8 * i));
  if (EVP_EncryptInit_ex(ctx, EVP_aes_128_ctr(), nullptr, seed.data(), iv) != 1) die("AES-128-CTR init failed");
  ctx_ = ctx;
}

CsprngStream::~CsprngStream() {
  EVP_CIPHER_CTX_free(static_cast<EVP_CIPHER_CTX*>(ctx_));
  secure_wipe(buffer_.data(), buffer_.size());
}

void CsprngStream::refill() {
  std::memset(buffer_.data(), 0, buffer_.size());
  int len = 0;
  if (EVP_EncryptUpdate(static_cast<EVP_CIPHER_CTX*>(ctx_), buffer_.data(), &len, buffer_.data(),
                        static_cast<int>(buffer_.size())) != 1)
    die("AES-128-CTR failed");
  pos_ = 0;
}

void CsprngStream::fill_bytes(std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    if (pos_ == buffer_.size()) {
      size_t left = out.size() - done;
      if (left >= kBufferBytes) {
        // Large requests go straight from AES into the output: the keystream stays continuous.
        size_t chunk = left - left % 16;
        if (chunk > (1u << 30)) chunk = 1u << 30;
        std::memset(out.data() + done, 0, chunk);
        int len = 0;
        if (EVP_EncryptUpdate(static_cast<EVP_CIPHER_CTX*>(ctx_), out.data() + done, &len, out.data() + done,
                              static_cast<int>(chunk)) != 1)
          die("AES-128-CTR failed");
        done += chunk;
        continue;
      }
      refill();
    }
    size_t take = std::min(buffer_.size() - pos_, out.size() - done);
    std::memcpy(out.data() + done, buffer_.data() + pos_, take);
    pos_ += take;
    done += take;
  }
}

void CsprngStream::fill_uniform(std::span<uint64_t> out) {
  fill_bytes(std::span<uint8_t>(reinterpret_cast<uint8_t*>(out.data()), out.size_bytes()));
}

uint64_t CsprngStream::next_u64() {
  uint64_t v;
  fill_uniform(std::span<uint64_t>(&v, 1));
  return v;
}

double CsprngStream::next_unit() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

void CsprngStream::fill_binary(std::span<uint64_t> out) {
  fill_uniform(out);
  for (auto& v : out) v &= 1;
}

void CsprngStream::add_gaussian(std::span<uint64_t> inout, double std_dev) {
  size_t i = 0;
  while (i < inout.size()) {
    // Box-Muller: u1 in (0, 1] so the log is finite.
    double u1 = 1.0 - next_unit();
    double u2 = next_unit();
    double r = std::sqrt(-2.0 * std::log(u1)) * std_dev;
    double z0 = r * std::cos(2.0 * M_PI * u2);
    double z1 = r * std::sin(2.0 * M_PI * u2);
    inout[i++] += static_cast<uint64_t>(std::llround(z0));
    if (i < inout.size()) inout[i++] += static_cast<uint64_t>(std::llround(z1));
  }
}

uint64_t CsprngStream::gaussian(double std_dev) {
  uint64_t v = 0;
  add_gaussian(std::span<uint64_t>(&v, 1), std_dev);
  return v;
}

}  // namespace blindml::crypto
