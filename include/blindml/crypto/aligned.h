// Memory helpers for entities: 64-byte aligned buffers for SIMD and FFT data, and a wiping
// allocator for secret key material (zeroed with OPENSSL_cleanse before it is freed).
//
// Thread safety: stateless allocators.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <vector>

namespace blindml::crypto {

// Buffers of 2 MiB and more (keys) are 2 MiB aligned and advised to use transparent huge pages:
// the blind rotation and the key switch stream tens of megabytes per call, and 4 KiB pages would
// spend part of that in TLB misses.
void* allocate_aligned(size_t bytes);
void free_aligned(void* p, size_t bytes);

template <typename T>
struct AlignedAllocator {
  using value_type = T;
  AlignedAllocator() = default;
  template <typename U>
  AlignedAllocator(const AlignedAllocator<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(allocate_aligned(n * sizeof(T))); }
  void deallocate(T* p, size_t n) { free_aligned(p, n * sizeof(T)); }
  template <typename U>
  bool operator==(const AlignedAllocator<U>&) const { return true; }
};

void secure_wipe(void* p, size_t bytes);

template <typename T>
struct WipingAllocator {
  using value_type = T;
  WipingAllocator() = default;
  template <typename U>
  WipingAllocator(const WipingAllocator<U>&) {}
  T* allocate(size_t n) { return std::allocator<T>().allocate(n); }
  void deallocate(T* p, size_t n) {
    secure_wipe(p, n * sizeof(T));
    std::allocator<T>().deallocate(p, n);
  }
  template <typename U>
  bool operator==(const WipingAllocator<U>&) const { return true; }
};

using AlignedF64 = std::vector<double, AlignedAllocator<double>>;
using AlignedU64 = std::vector<uint64_t, AlignedAllocator<uint64_t>>;
using SecretU64 = std::vector<uint64_t, WipingAllocator<uint64_t>>;

}  // namespace blindml::crypto
