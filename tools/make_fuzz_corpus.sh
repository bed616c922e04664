#!/usr/bin/env bash
# Regenerates the fuzz seed corpora (fuzz/corpus/<target>/) from real artifacts: the committed
# models of tests/data/models compiled with their data sets, keys and ciphertexts of a leveled
# model under real parameters, and toy-parameter key blobs. Usage: tools/make_fuzz_corpus.sh
# [BUILD_DIR (default build)]. Keys and ciphertexts are fresh each run; everything else is
# deterministic.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}
cmake -S . -B "$build_dir" -G Ninja >/dev/null
ninja -C "$build_dir" blindml_make_fuzz_corpus
rm -rf fuzz/corpus
"$build_dir/bin/blindml_make_fuzz_corpus" fuzz/corpus
du -sh fuzz/corpus
