#!/usr/bin/env bash
# The `blindml` command end to end (docs/cli.md): for a linear, a tree and an MLP model,
# compile -> keygen -> encrypt -> run -> decrypt equals `predict --mode clear` on the same rows;
# the secret key's mode; `info` on every file; and the failures a user meets (missing file,
# corrupted artifact, an input or keys that belong to someone else, bad CSV, bad usage) each
# give a non-zero exit status and one line naming the cause.
#
# usage: cli_flow_test.sh BIN_DIR SOURCE_DIR
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 BIN_DIR SOURCE_DIR" >&2
  exit 2
fi
BLINDML="$1/blindml"
DATA="$2/tests/data"
[[ -x "$BLINDML" ]] || { echo "FAIL: no executable $BLINDML" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/blindml-cli-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
THREADS=${BLINDML_TEST_THREADS:-2}
checks=0

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
ok() {
  checks=$((checks + 1))
}
blindml() {
  "$BLINDML" "$@"
}

# expect_fail STATUS PATTERN COMMAND...: the command exits with STATUS and prints exactly one line
# on stderr, "blindml: ...", matching the extended regular expression PATTERN (case-insensitive).
expect_fail() {
  local want=$1 pattern=$2
  shift 2
  local rc=0
  "$@" >"$WORK/fail.out" 2>"$WORK/fail.err" || rc=$?
  local err
  err=$(cat "$WORK/fail.err")
  [[ $rc -eq $want ]] || fail "expected exit status $want, got $rc from: $* (stderr: $err)"
  [[ $(wc -l <"$WORK/fail.err") -eq 1 ]] || fail "expected one line on stderr from: $* (got: $err)"
  [[ $err == "blindml: "* ]] || fail "the error line does not start with 'blindml: ': $err"
  grep -qiE -- "$pattern" "$WORK/fail.err" || fail "the error for: $* does not match /$pattern/: $err"
  echo "  expected failure ($rc): $err"
  ok
}

# flow NAME DATASET [COMPILE OPTIONS...]: the whole round trip on the first 5 test rows.
flow() {
  local name=$1 dataset=$2
  shift 2
  local d="$WORK/$name"
  mkdir -p "$d"
  head -n 6 "$DATA/$dataset/test.csv" >"$d/rows.csv"
  echo "== $name"
  blindml compile "$DATA/models/$name.onnx" --calibration "$DATA/$dataset/train.csv" --out "$d/art" "$@" \
    >"$d/report.txt"
  [[ -s "$d/report.txt" ]] || fail "$name: empty compile report"
  [[ -f "$d/art/client.zip" && -f "$d/art/server.zip" ]] || fail "$name: compile wrote no artifacts"
  blindml keygen "$d/art/client.zip" --out "$d/keys" --threads "$THREADS"
  [[ $(stat -c %a "$d/keys/secret.key") == 600 ]] || fail "$name: secret.key has mode $(stat -c %a "$d/keys/secret.key")"
  [[ -f "$d/keys/evaluation.keys" ]] || fail "$name: no evaluation.keys"
  blindml encrypt "$d/art/client.zip" --keys "$d/keys" --input "$d/rows.csv" --out "$d/input.ct"
  blindml run "$d/art/server.zip" --evaluation-keys "$d/keys/evaluation.keys" --input "$d/input.ct" \
    --out "$d/output.ct" --threads "$THREADS"
  blindml decrypt "$d/art/client.zip" --keys "$d/keys" --input "$d/output.ct" --out "$d/fhe.csv"
  blindml predict "$d/art" --mode clear --input "$d/rows.csv" --out "$d/clear.csv"
  [[ $(wc -l <"$d/clear.csv") -eq 6 ]] || fail "$name: expected a header and 5 rows in clear.csv"
  diff "$d/clear.csv" "$d/fhe.csv" || fail "$name: FHE predictions differ from predict --mode clear"
  ok
  # decrypt without --out prints the same CSV on stdout.
  blindml -q decrypt "$d/art/client.zip" --keys "$d/keys" --input "$d/output.ct" >"$d/stdout.csv"
  diff "$d/clear.csv" "$d/stdout.csv" || fail "$name: decrypt to stdout differs"
  ok
  for f in art/client.zip art/server.zip keys/secret.key keys/evaluation.keys input.ct output.ct; do
    blindml info "$d/$f" >"$d/info.txt" || fail "$name: info $f failed"
    [[ -s "$d/info.txt" ]] || fail "$name: info $f printed nothing"
    ok
  done
  head -n 2 "$d/clear.csv" | sed 's/^/  /'
}

echo "blindml: $("$BLINDML" --version)"
blindml --help >/dev/null
for c in compile keygen encrypt run decrypt predict info; do
  blindml "$c" --help | grep -q "usage: blindml $c" || fail "$c --help"
  ok
done

flow logistic_regression_breast_cancer breast_cancer
flow decision_tree_breast_cancer breast_cancer
flow mlp_iris iris --classifier --exact-rounding --n-bits 4 --rounding-bits 4
[[ $(head -n 1 "$WORK/mlp_iris/clear.csv") == "label,proba_0,proba_1,proba_2" ]] ||
  fail "classifier CSV header: $(head -n 1 "$WORK/mlp_iris/clear.csv")"
ok

# A regressor's CSV and the in-memory FHE round trip.
LR="$WORK/linear_regression_diabetes"
mkdir -p "$LR"
head -n 6 "$DATA/diabetes/test.csv" >"$LR/rows.csv"
blindml -q compile "$DATA/models/linear_regression_diabetes.onnx" --calibration "$DATA/diabetes/train.csv" \
  --out "$LR/art" --p-error 2^-40 >/dev/null
blindml -q predict "$LR/art" --mode clear --input "$LR/rows.csv" --out "$LR/clear.csv"
blindml -q predict "$LR/art" --mode fhe --input "$LR/rows.csv" --out "$LR/fhe.csv" --threads "$THREADS"
[[ $(head -n 1 "$LR/clear.csv") == prediction ]] || fail "regressor CSV header: $(head -n 1 "$LR/clear.csv")"
diff "$LR/clear.csv" "$LR/fhe.csv" || fail "predict --mode fhe differs from --mode clear"
ok
TREE="$WORK/decision_tree_breast_cancer"
blindml -q predict "$TREE/art" --mode simulate --seed 1 --input "$TREE/rows.csv" >"$WORK/sim.csv"
[[ $(wc -l <"$WORK/sim.csv") -eq 6 ]] || fail "predict --mode simulate"
ok
# Rows without the target column give the same answers.
cut -d, -f1-30 "$TREE/rows.csv" >"$WORK/features_only.csv"
blindml -q predict "$TREE/art" --mode clear --input "$WORK/features_only.csv" | diff "$TREE/clear.csv" - ||
  fail "rows without a target column"
ok

echo "== failures"
MLP="$WORK/mlp_iris"
LOG="$WORK/logistic_regression_breast_cancer"
# Missing files.
expect_fail 1 "no such file" blindml -q encrypt "$WORK/missing/client.zip" --keys "$TREE/keys" \
  --input "$TREE/rows.csv" --out "$WORK/x.ct"
expect_fail 1 "no such file" blindml -q info "$WORK/missing.zip"
expect_fail 1 "no such file" blindml -q run "$TREE/art/server.zip" --evaluation-keys "$WORK/missing.keys" \
  --input "$TREE/input.ct" --out "$WORK/x.ct"
expect_fail 1 "secret.key.*no such file" blindml -q decrypt "$TREE/art/client.zip" --keys "$WORK" \
  --input "$TREE/output.ct"
# A truncated server.zip.
cp "$TREE/art/server.zip" "$WORK/truncated.zip"
truncate -s $(($(stat -c %s "$WORK/truncated.zip") / 2)) "$WORK/truncated.zip"
expect_fail 1 "corrupt|truncat|zip|damaged|invalid" blindml -q run "$WORK/truncated.zip" \
  --evaluation-keys "$TREE/keys/evaluation.keys" --input "$TREE/input.ct" --out "$WORK/x.ct"
expect_fail 1 "corrupt|truncat|zip|damaged|invalid" blindml -q info "$WORK/truncated.zip"
# A truncated ciphertext.
head -c 100 "$TREE/input.ct" >"$WORK/short.ct"
expect_fail 1 "corrupt|truncat|short|size|length|invalid" blindml -q run "$TREE/art/server.zip" \
  --evaluation-keys "$TREE/keys/evaluation.keys" --input "$WORK/short.ct" --out "$WORK/x.ct"
# An input encrypted for model A (the tree) run on model B's (the MLP's) server.zip.
expect_fail 1 "model" blindml -q run "$MLP/art/server.zip" --evaluation-keys "$MLP/keys/evaluation.keys" \
  --input "$TREE/input.ct" --out "$WORK/x.ct"
# Keys of another client: encrypt with A's keys, run with B's evaluation keys.
blindml -q keygen "$TREE/art/client.zip" --out "$WORK/keys_b" --threads "$THREADS"
expect_fail 1 "key" blindml -q run "$TREE/art/server.zip" --evaluation-keys "$WORK/keys_b/evaluation.keys" \
  --input "$TREE/input.ct" --out "$WORK/x.ct"
# An answer decrypted with another client's secret key, or with another model's client.zip.
expect_fail 1 "key" blindml -q decrypt "$TREE/art/client.zip" --keys "$WORK/keys_b" --input "$TREE/output.ct"
expect_fail 1 "model" blindml -q decrypt "$MLP/art/client.zip" --keys "$MLP/keys" --input "$TREE/output.ct"
# Evaluation keys of another model.
expect_fail 1 "model|key" blindml -q run "$TREE/art/server.zip" --evaluation-keys "$MLP/keys/evaluation.keys" \
  --input "$TREE/input.ct" --out "$WORK/x.ct"
# keygen does not replace a secret key silently.
expect_fail 1 "exists" blindml -q keygen "$TREE/art/client.zip" --out "$WORK/keys_b"
# Bad CSV input: the file, line and column are named.
printf 'a,b,c,d\n1,2,3,4\n5,x,7,8\n' >"$WORK/bad_number.csv"
expect_fail 1 "bad_number.csv: line 3, column 2.*not a number" blindml -q predict "$MLP/art" --mode clear \
  --input "$WORK/bad_number.csv"
printf 'a,b,c,d\n1,2,3,4\n5,6,7\n' >"$WORK/short_row.csv"
expect_fail 1 "short_row.csv: line 3: 3 columns" blindml -q encrypt "$MLP/art/client.zip" --keys "$MLP/keys" \
  --input "$WORK/short_row.csv" --out "$WORK/x.ct"
printf 'a,b,c\n1,2,3\n' >"$WORK/narrow.csv"
expect_fail 1 "narrow.csv.*3 columns.*4 features" blindml -q predict "$MLP/art" --mode clear --input "$WORK/narrow.csv"
: >"$WORK/empty.csv"
expect_fail 1 "empty.csv.*empty" blindml -q predict "$MLP/art" --mode clear --input "$WORK/empty.csv"
printf 'a,b,c,d\n' >"$WORK/header_only.csv"
expect_fail 1 "header_only.csv.*no rows" blindml -q predict "$MLP/art" --mode clear --input "$WORK/header_only.csv"
printf '1,2,3,4\n5,6,7,8\n' >"$WORK/no_header.csv"
expect_fail 1 "no_header.csv: line 1.*header" blindml -q predict "$MLP/art" --mode clear --input "$WORK/no_header.csv"
# Usage errors: exit status 2.
expect_fail 2 "unknown command" blindml frobnicate
expect_fail 2 "unknown option --bogus" blindml compile "$DATA/models/mlp_iris.onnx" --bogus
expect_fail 2 "missing --out" blindml compile "$DATA/models/mlp_iris.onnx" --calibration "$DATA/iris/train.csv"
expect_fail 2 "missing CLIENT.zip" blindml keygen --out "$WORK/k"
expect_fail 2 "--mode.*not one of" blindml predict "$MLP/art" --mode magic --input "$MLP/rows.csv"
expect_fail 2 "--p-error.*probability" blindml compile "$DATA/models/mlp_iris.onnx" \
  --calibration "$DATA/iris/train.csv" --out "$WORK/o" --p-error 2
expect_fail 2 "--threads.*integer" blindml run "$TREE/art/server.zip" --threads many \
  --evaluation-keys "$TREE/keys/evaluation.keys" --input "$TREE/input.ct" --out "$WORK/x.ct"
expect_fail 2 "exclude" blindml compile "$DATA/models/mlp_iris.onnx" --calibration "$DATA/iris/train.csv" \
  --out "$WORK/o" --classifier --regressor

# Issue 13: check, predict --mode float, out-of-range inputs.
blindml -q check "$DATA/models/decision_tree_breast_cancer.onnx" >"$WORK/check.out" || fail "check on a tree model"
grep -q "tree_ensemble classifier, 30 features" "$WORK/check.out" || fail "check: family not reported"
grep -q "PBS per sample: 7 " "$WORK/check.out" || fail "check: PBS count not reported"
grep -q "comparisons on the client" "$WORK/check.out" || fail "check: tree comparison form not reported"
ok
blindml -q predict "$TREE/art" --mode float --model "$DATA/models/decision_tree_breast_cancer.onnx" \
  --input "$TREE/rows.csv" --out "$WORK/float.csv"
diff <(cut -d, -f1 "$WORK/float.csv") <(cut -d, -f1 "$TREE/clear.csv") || fail "float and clear tree labels differ"
ok
expect_fail 1 "needs --model" blindml -q predict "$TREE/art" --mode float --input "$TREE/rows.csv"
head -n 2 "$MLP/rows.csv" >"$WORK/far.csv"
printf '500,3,1,0.2,0\n' >>"$WORK/far.csv"
blindml -q predict "$MLP/art" --mode clear --input "$WORK/far.csv" >/dev/null 2>"$WORK/far.err" ||
  fail "predict with an out-of-range row"
grep -q "outside the calibration range" "$WORK/far.err" || fail "no out-of-range warning: $(cat "$WORK/far.err")"
ok
expect_fail 1 "row 1, feature 0.*outside the calibration range" blindml -q predict "$MLP/art" --mode clear \
  --input "$WORK/far.csv" --refuse-out-of-range

# Issue 13 part 3: a ColumnTransformer on two graph inputs (num float [N, 3], cat int64 [N, 2]):
# a CSV row holds the inputs' columns in graph-input order; the scaler and one-hot encoders run
# on the client. FHE equals clear; the labels are the estimator's; a non-integer in the int64
# input is refused naming it.
CT="$WORK/column_transformer"
CT_ONNX="$DATA/corpus/skl2onnx_column_transformer_onehot_logreg_mixed.onnx"
mkdir -p "$CT"
head -n 6 "$DATA/mixed/test.csv" >"$CT/rows.csv"
blindml -q check "$CT_ONNX" --calibration "$DATA/mixed/train.csv" >"$CT/check.out" || fail "check on a ColumnTransformer"
grep -q "inputs (a row holds their columns in this order): num \[3 float\] cat \[2 int64\]" "$CT/check.out" ||
  fail "check: inputs not listed: $(head -n 3 "$CT/check.out")"
ok
blindml -q compile "$CT_ONNX" --calibration "$DATA/mixed/train.csv" --out "$CT/art" >"$CT/report.txt"
grep -q "client row: 5 values" "$CT/report.txt" || fail "compile report: no client row line"
blindml -q predict "$CT/art" --mode clear --input "$CT/rows.csv" --out "$CT/clear.csv"
blindml -q predict "$CT/art" --mode fhe --input "$CT/rows.csv" --out "$CT/fhe.csv" --threads "$THREADS"
diff "$CT/clear.csv" "$CT/fhe.csv" || fail "ColumnTransformer: FHE differs from clear"
ok
diff <(cut -d, -f1 "$CT/clear.csv" | tail -n +2) \
  <(head -n 6 "$DATA/corpus/skl2onnx_column_transformer_onehot_logreg_mixed.expected.csv" | tail -n +2 | cut -d, -f1) ||
  fail "ColumnTransformer: labels differ from the estimator's"
ok
blindml -q predict "$CT/art" --mode float --model "$CT_ONNX" --input "$CT/rows.csv" --out "$CT/float.csv"
diff <(cut -d, -f1 "$CT/float.csv") <(cut -d, -f1 "$CT/clear.csv") || fail "ColumnTransformer: float and clear differ"
ok
head -n 2 "$CT/rows.csv" >"$CT/half.csv"
printf '0.1,10.2,-2.0,1.5,0,1\n' >>"$CT/half.csv"
expect_fail 1 "row 1.*input 'cat'.*not an integer" blindml -q predict "$CT/art" --mode clear --input "$CT/half.csv"
cut -d, -f1-4 "$CT/rows.csv" >"$CT/narrow.csv"
expect_fail 1 "narrow.csv.*4 columns.*5 features" blindml -q predict "$CT/art" --mode clear --input "$CT/narrow.csv"

# ... and with a string input: the CSV's cat cells are words (tests/data/mixed_strings), mapped
# to their vocabulary codes by the reader; an unknown word one-hot encodes to zeros.
CS="$WORK/column_transformer_strings"
CS_ONNX="$DATA/corpus/skl2onnx_column_transformer_onehot_strings_logreg_mixed.onnx"
mkdir -p "$CS"
head -n 6 "$DATA/mixed_strings/test.csv" >"$CS/rows.csv"
blindml -q check "$CS_ONNX" >"$CS/check.out" || fail "check on a string-input ColumnTransformer"
grep -q "cat \[2 string\]" "$CS/check.out" || fail "check: string input not listed: $(head -n 3 "$CS/check.out")"
ok
blindml -q compile "$CS_ONNX" --calibration "$DATA/mixed_strings/train.csv" --out "$CS/art" >/dev/null
blindml -q predict "$CS/art" --mode clear --input "$CS/rows.csv" --out "$CS/clear.csv"
blindml -q predict "$CS/art" --mode fhe --input "$CS/rows.csv" --out "$CS/fhe.csv" --threads "$THREADS"
diff "$CS/clear.csv" "$CS/fhe.csv" || fail "string ColumnTransformer: FHE differs from clear"
ok
diff <(cut -d, -f1 "$CS/clear.csv") <(cut -d, -f1 "$CT/clear.csv") ||
  fail "string ColumnTransformer: labels differ from the int64 one's"
ok
head -n 2 "$CS/rows.csv" >"$CS/unknown.csv"
printf '0.1,10.2,-2.0,purple,small,1\n' >>"$CS/unknown.csv"
blindml -q predict "$CS/art" --mode clear --input "$CS/unknown.csv" --out "$CS/unknown_out.csv" ||
  fail "an unknown word (handle_unknown='ignore') was refused"
ok

# A PCA before a decision tree (the linear map runs on the client: 30 columns in, 5 features to
# the trees): FHE equals clear and the labels are the estimator's.
PT="$WORK/pca_tree"
PT_NAME=skl2onnx_pipeline_pca_decision_tree_breast_cancer
mkdir -p "$PT"
head -n 6 "$DATA/breast_cancer/test.csv" >"$PT/rows.csv"
blindml -q compile "$DATA/corpus/$PT_NAME.onnx" --calibration "$DATA/breast_cancer/train.csv" --out "$PT/art" >"$PT/report.txt"
grep -q "client row: 30 values.*5 features for the model" "$PT/report.txt" || fail "PCA tree: no client row line"
blindml -q predict "$PT/art" --mode clear --input "$PT/rows.csv" --out "$PT/clear.csv"
blindml -q predict "$PT/art" --mode fhe --input "$PT/rows.csv" --out "$PT/fhe.csv" --threads "$THREADS"
diff "$PT/clear.csv" "$PT/fhe.csv" || fail "PCA tree: FHE differs from clear"
ok
diff <(cut -d, -f1 "$PT/clear.csv" | tail -n +2) <(head -n 6 "$DATA/corpus/$PT_NAME.expected.csv" | tail -n +2 | cut -d, -f1) ||
  fail "PCA tree: labels differ from the estimator's"
ok

# String class labels (a LogisticRegression fitted on the iris species' names): the CSV names the
# classes, in clear, FHE and float mode alike.
SL="$WORK/string_labels"
SL_ONNX="$DATA/corpus/skl2onnx_logreg_string_labels_iris.onnx"
mkdir -p "$SL"
head -n 6 "$DATA/iris/test.csv" >"$SL/rows.csv"
blindml -q compile "$SL_ONNX" --calibration "$DATA/iris/train.csv" --out "$SL/art" >/dev/null
blindml -q predict "$SL/art" --mode clear --input "$SL/rows.csv" --out "$SL/clear.csv"
[[ $(head -n 1 "$SL/clear.csv") == "label,proba_setosa,proba_versicolor,proba_virginica" ]] ||
  fail "string labels: CSV header $(head -n 1 "$SL/clear.csv")"
ok
# The iris test rows' estimator labels, as indices in the expected CSV, named.
diff <(tail -n +2 "$SL/clear.csv" | cut -d, -f1) \
  <(head -n 6 "$DATA/corpus/skl2onnx_logreg_string_labels_iris.expected.csv" | tail -n +2 | cut -d, -f1 |
    sed 's/^0$/setosa/; s/^1$/versicolor/; s/^2$/virginica/') || fail "string labels: names differ from the estimator's"
ok
blindml -q predict "$SL/art" --mode fhe --input "$SL/rows.csv" --out "$SL/fhe.csv" --threads "$THREADS"
diff "$SL/clear.csv" "$SL/fhe.csv" || fail "string labels: FHE differs from clear"
ok
blindml -q predict "$SL/art" --mode float --model "$SL_ONNX" --input "$SL/rows.csv" --out "$SL/float.csv"
diff <(cut -d, -f1 "$SL/clear.csv") <(cut -d, -f1 "$SL/float.csv") || fail "string labels: float mode's labels differ"
ok

# check without calibration data on a ColumnTransformer whose OneHotEncoders refuse unknown
# categories (handle_unknown='error', drop='first'): the synthetic rows use their categories.
blindml -q check "$DATA/corpus/skl2onnx_column_transformer_onehot_drop_first_logreg_mixed.onnx" >"$WORK/check_drop.out" ||
  fail "check on a ColumnTransformer with handle_unknown='error': $(grep blockers "$WORK/check_drop.out")"
grep -q "compiled at default flags on 256 synthetic rows" "$WORK/check_drop.out" || fail "check: no estimate"
ok

echo "PASS: $checks checks"
