#!/usr/bin/env bash
# arm64 (docs/deploy.md): the library and the blindml CLI cross-built for aarch64 with Debian's
# g++-aarch64-linux-gnu and the :arm64 -dev packages (portable code paths: no AVX-512), run under
# qemu-user, on artifacts compiled on this x86-64 machine:
#   - predict --mode clear on arm64 == on x86-64, byte for byte (a logistic regression, a tree);
#   - FHE round trips on arm64 (keygen, encrypt, run, decrypt) == the clear answers (5 rows of the
#     linear model, 1 of the tree);
#   - the exchange files cross architectures: keys and input made on arm64, run on x86-64,
#     decrypted on arm64.
# usage: arm64_test.sh BIN_DIR SOURCE_DIR ARM64_BUILD_DIR   (exit 77: skipped)
# Environment: BLINDML_ARM64_ROWS (rows of the linear model's FHE round trip, default 5),
# BLINDML_ARM64_TREE_ROWS (the tree's, default 1: qemu runs a PBS some 50x slower than the host),
# BLINDML_CACHE.
set -euo pipefail
TEST=arm64_cross
X=$(cd "$1" && pwd)/blindml
SRC=$(cd "$2" && pwd)
BUILD=$3
DATA=$SRC/tests/data
ROWS=${BLINDML_ARM64_ROWS:-5}             # the linear model: leveled, seconds under qemu
TREE_ROWS=${BLINDML_ARM64_TREE_ROWS:-1}   # the tree: 7 PBS a row, well under a minute a row under qemu
skip() { echo "SKIPPED $TEST: $*" >&2; exit 77; }
fail() { echo "FAIL $TEST: $*" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/blindml-arm64.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

command -v aarch64-linux-gnu-g++ >/dev/null || skip "no cross compiler (Debian package g++-aarch64-linux-gnu)"
command -v qemu-aarch64 >/dev/null || skip "no qemu-aarch64 (Debian package qemu-user)"
[[ -e /lib/ld-linux-aarch64.so.1 ]] || skip "no /lib/ld-linux-aarch64.so.1 (libc6:arm64; run scripts/install-arm64-deps)"
for lib in libfftw3.so libzip.so libcrypto.so libprotobuf.so libhiredis.so libstdc++.so.6; do
  ls /usr/lib/aarch64-linux-gnu/$lib* >/dev/null 2>&1 ||
    skip "no arm64 $lib in /usr/lib/aarch64-linux-gnu (run scripts/install-arm64-deps)"
done
extra=()
if [[ ! -f /usr/lib/aarch64-linux-gnu/cmake/ONNX/ONNXConfig.cmake ]]; then
  root=$("$SRC/scripts/install-arm64-deps" --onnx-root 2>"$WORK/onnx.log") ||
    skip "no arm64 ONNX: $(tail -n 1 "$WORK/onnx.log")"
  extra=(-DBLINDML_ARM64_EXTRA_ROOT="$root")
fi

echo "== cross build (library + CLI) in $BUILD"
start=$(date +%s)
cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$SRC/cmake/aarch64-linux-gnu.cmake" "${extra[@]}" \
  -DCMAKE_BUILD_TYPE=Release -DBLINDML_PORTABLE=ON -DBLINDML_BUILD_TESTS=OFF -DBLINDML_BUILD_BENCH=OFF >"$WORK/cmake.log" 2>&1 ||
  { tail -n 20 "$WORK/cmake.log" >&2; fail "cmake (cross)"; }
ninja -C "$BUILD" blindml >"$WORK/ninja.log" 2>&1 || { tail -n 30 "$WORK/ninja.log" >&2; fail "cross build"; }
A=$BUILD/bin/blindml
file -L "$A" | grep -q 'ARM aarch64' || fail "$A is not an aarch64 executable: $(file -L "$A")"
echo "   built in $(( $(date +%s) - start )) s"
# Plain qemu-aarch64: the loader and libc of libc6:arm64 (multiarch). -L /usr/aarch64-linux-gnu
# would load the cross toolchain's libc (another glibc build) next to them: threads then hang at exit.
arm() { qemu-aarch64 "$A" -q "$@"; }
arm --version >/dev/null || fail "the arm64 blindml does not run under qemu-aarch64"
[[ $(arm --version) == $("$X" --version) ]] || fail "versions differ: $(arm --version) / $("$X" --version)"

head -n $((ROWS + 1)) "$DATA/breast_cancer/test.csv" > "$WORK/rows-logistic_regression_breast_cancer.csv"
head -n $((TREE_ROWS + 1)) "$DATA/breast_cancer/test.csv" > "$WORK/rows-decision_tree_breast_cancer.csv"
head -n 21 "$DATA/breast_cancer/test.csv" > "$WORK/rows20.csv"
for m in logistic_regression_breast_cancer decision_tree_breast_cancer; do
  echo "== $m: compiled on x86-64"
  d=$WORK/$m
  "$X" -q compile "$DATA/models/$m.onnx" --calibration "$DATA/breast_cancer/train.csv" --out "$d" >/dev/null
  "$X" -q predict "$d" --mode clear --input "$WORK/rows20.csv" --out "$d/clear-x86.csv"
  arm predict "$d" --mode clear --input "$WORK/rows20.csv" --out "$d/clear-arm.csv"
  cmp "$d/clear-x86.csv" "$d/clear-arm.csv" || fail "$m: predict --mode clear differs between x86-64 and arm64"
  echo "   predict --mode clear, 20 rows: arm64 == x86-64"
  rows=$WORK/rows-$m.csv
  "$X" -q predict "$d" --mode clear --input "$rows" --out "$d/clear.csv"

  start=$(date +%s)
  arm keygen "$d/client.zip" --out "$d/keys"
  arm encrypt "$d/client.zip" --keys "$d/keys" --input "$rows" --out "$d/in.ct"
  arm run "$d/server.zip" --evaluation-keys "$d/keys/evaluation.keys" --input "$d/in.ct" --out "$d/out-arm.ct" --threads 2
  arm decrypt "$d/client.zip" --keys "$d/keys" --input "$d/out-arm.ct" --out "$d/fhe-arm.csv"
  cmp "$d/fhe-arm.csv" "$d/clear.csv" || fail "$m: the FHE round trip on arm64 differs from the clear answers"
  echo "   FHE on arm64 (keygen, encrypt, run, decrypt; $(( $(wc -l < "$rows") - 1 )) rows) == clear: $(( $(date +%s) - start )) s under qemu"
  "$X" -q run "$d/server.zip" --evaluation-keys "$d/keys/evaluation.keys" --input "$d/in.ct" --out "$d/out-x86.ct" --threads 2
  arm decrypt "$d/client.zip" --keys "$d/keys" --input "$d/out-x86.ct" --out "$d/fhe-x86.csv"
  cmp "$d/fhe-x86.csv" "$d/clear.csv" || fail "$m: keys and input from arm64, run on x86-64: answers differ"
  echo "   keys + input from arm64, run on x86-64, decrypted on arm64 == clear"
  sed 's/^/   | /' "$d/fhe-arm.csv"
done
echo "PASS $TEST"
