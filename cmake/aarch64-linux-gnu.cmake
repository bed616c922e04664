# Cross toolchain: Debian 12's g++-aarch64-linux-gnu, with the :arm64 -dev packages installed
# multiarch (/usr/lib/aarch64-linux-gnu, dpkg --add-architecture arm64; scripts/install-arm64-deps).
#
#   cmake -S . -B build-arm64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
#         -DBLINDML_PORTABLE=ON -DBLINDML_BUILD_TESTS=OFF -DBLINDML_BUILD_BENCH=OFF
#
# BLINDML_ARM64_EXTRA_ROOT: a directory holding arm64 packages unpacked with `dpkg-deb -x` (its
# usr/lib/aarch64-linux-gnu, usr/include), for packages that are not co-installable with their
# amd64 twin: libonnxifi (hence libonnx-dev) ships /usr/lib/libonnxifi.so for both.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

set(BLINDML_ARM64_EXTRA_ROOT "" CACHE PATH "arm64 packages unpacked with dpkg-deb -x")
set(CMAKE_FIND_ROOT_PATH /)
if(BLINDML_ARM64_EXTRA_ROOT)
  list(APPEND CMAKE_FIND_ROOT_PATH ${BLINDML_ARM64_EXTRA_ROOT})
  list(APPEND CMAKE_PREFIX_PATH ${BLINDML_ARM64_EXTRA_ROOT}/usr)
  set(ONNX_DIR ${BLINDML_ARM64_EXTRA_ROOT}/usr/lib/aarch64-linux-gnu/cmake/ONNX CACHE PATH "")
endif()
# Programs (protoc) are the build machine's; libraries, headers and CMake packages the target's.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# pkg-config (fftw3, libzip, hiredis, cpp-httplib) reads the arm64 .pc files only.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# Tests and tools built for the target run through qemu-user.
# Plain qemu-aarch64: the guest loader is /lib/ld-linux-aarch64.so.1 of libc6:arm64, matching the
# multiarch libraries. (-L /usr/aarch64-linux-gnu would mix the cross libc, another glibc build, with
# them: a multi-threaded blindml then hangs at exit.)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64)
