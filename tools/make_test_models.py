#!/usr/bin/python3
"""Generate blindml's committed test data sets and ONNX test models.

Usage:  /usr/bin/python3 tools/make_test_models.py [--out tests/data]

Needs only Debian 12's packages: python3-numpy, python3-sklearn, python3-onnx,
python3-torch (python3-xgboost optional, for xgboost_breast_cancer).

What it writes (see tests/data/README.md for the full description):
  <out>/<dataset>/{train,test}.csv        breast_cancer, iris, diabetes
  <out>/models/<name>.onnx                the float models
  <out>/models/<name>.expected.csv        their predictions on <dataset>/test.csv

Everything is deterministic (fixed seeds, single-threaded torch).

The scikit-learn -> ONNX exporter is OURS (skl2onnx / onnxmltools are not
packaged in Debian).  It emits the same standard ONNX-ML graphs that
skl2onnx emits for these estimators with a float32 input named "X":
  * LinearRegression -> ai.onnx.ml LinearRegressor(coefficients, intercepts,
    targets=1), output "variable" [N, 1].
  * LogisticRegression -> LinearClassifier(coefficients, intercepts,
    classlabels_ints, multi_class, post_transform) -> (label,
    probabilities) -> Cast(label -> output_label, INT64) and
    ZipMap(classlabels_int64s) -> output_probability.  Binary: coefficients
    [-w, w], intercepts [-b, b], multi_class=0, post_transform LOGISTIC, no
    Normalizer.  Multinomial: coef_ row-major, multi_class=1, post_transform
    SOFTMAX, followed by Normalizer(norm="L1") exactly as skl2onnx does.
  * Tree classifiers -> TreeEnsembleClassifier with nodes_* attributes in
    sklearn's node order (node id = sklearn node index, tree id = estimator
    index), nodes_modes BRANCH_LEQ / LEAF, nodes_truenodeids = left child
    (x <= t), nodes_falsenodeids = right child, leaves with feature 0,
    value 0, children 0, nodes_missing_value_tracks_true 0, nodes_hitrates 1,
    then Cast + ZipMap as above.  Thresholds are float32 chosen with
    skl2onnx's `sklearn_threshold` rule (if float32(t) > t, take the next
    float32 below), so that float32(x) <= t' <=> float32(x) <= t (sklearn
    casts inputs to float32 before comparing with its float64 threshold).
    Leaf class_weights: DecisionTree / RandomForest leaf counts normalised to
    probabilities and multiplied by the tree weight (1 / n_trees for forests);
    for binary problems only the weight of class 1 is stored, under
    class_id 0 (skl2onnx's binary encoding: the runtime outputs
    [1 - s, s], label = s > 0.5).  GradientBoosting (binary):
    class_weights = learning_rate * leaf value, class_id 0,
    base_values = [init log-odds] (sklearn's _raw_predict_init),
    post_transform LOGISTIC (runtime: s += base, probabilities
    [sigmoid(-s), sigmoid(s)], label = s > 0).
  * DecisionTreeRegressor -> TreeEnsembleRegressor(n_targets=1,
    target_* attributes, post_transform NONE, aggregate SUM), output
    "variable" [N, 1].
  * XGBoost (optional) -> TreeEnsembleClassifier as onnxmltools emits it:
    node ids renumbered in pre-order, nodes_modes BRANCH_LT (xgboost goes
    to "yes" when x < split; both are float32), true = "yes", false = "no",
    nodes_missing_value_tracks_true = (missing == yes), no nodes_hitrates,
    class_id 0, class_weights = leaf values, post_transform LOGISTIC,
    base_values = [logit(base_score)] only if base_score != 0.5 (xgboost
    1.7's default is 0.5, so none).
Opsets: default domain 13, ai.onnx.ml 1.

The MLPs are torch models exported with torch.onnx.export (opset 13: Gemm +
Relu + Gemm, output "logits", no Softmax); the training-set standardisation
is folded into the first Gemm so the ONNX takes raw features.

Every file is checked with onnx.checker.check_model and then re-loaded and
run through a small numpy interpreter of the ONNX / ONNX-ML semantics
(ONNX Runtime's rules for TreeEnsembleClassifier's binary case); its outputs
must reproduce the trained model (probabilities within 1e-5, regression
within 1e-4 absolute), on the train and test rows, or the script fails.
The expected.csv files are the interpreter's outputs.
"""

import argparse
import os
import re
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

SPLIT_SEED = 42
MODEL_SEED = 0
PROBA_TOL = 1e-5
REG_TOL = 1e-4
OPSET = 13
ML_OPSET = 1
MAX_MODEL_BYTES = 200 * 1024

# ---------------------------------------------------------------------------
# data sets
# ---------------------------------------------------------------------------


def sanitize(name):
    s = re.sub(r"[^A-Za-z0-9_]+", "_", name.strip())
    s = re.sub(r"_+", "_", s).strip("_")
    return s


class Dataset:
    def __init__(self, name, feature_names, Xtr, Xte, ytr, yte, task,
                 n_classes=0):
        self.name = name
        self.feature_names = feature_names
        self.Xtr, self.Xte, self.ytr, self.yte = Xtr, Xte, ytr, yte
        self.task = task
        self.n_classes = n_classes


def load_datasets():
    out = {}
    for name, loader, task in (("breast_cancer", load_breast_cancer, "clf"),
                               ("iris", load_iris, "clf"),
                               ("diabetes", load_diabetes, "reg")):
        d = loader()
        X = np.asarray(d.data, dtype=np.float64)
        y = np.asarray(d.target)
        names = [sanitize(n) for n in d.feature_names]
        assert len(set(names)) == len(names), names
        if task == "clf":
            y = y.astype(np.int64)
            Xtr, Xte, ytr, yte = train_test_split(
                X, y, test_size=0.25, random_state=SPLIT_SEED, stratify=y)
            nc = int(y.max()) + 1
            assert sorted(set(y.tolist())) == list(range(nc))
        else:
            y = y.astype(np.float64)
            Xtr, Xte, ytr, yte = train_test_split(
                X, y, test_size=0.25, random_state=SPLIT_SEED)
            nc = 0
        out[name] = Dataset(name, names, Xtr, Xte, ytr, yte, task, nc)
    return out


def fmt(v):
    """Shortest text that round-trips the float64 exactly."""
    r = repr(float(v))
    assert float(r) == float(v)
    return r


def write_dataset_csv(path, names, X, y, task):
    with open(path, "w", newline="\n") as f:
        f.write(",".join(names + ["target"]) + "\n")
        for row, t in zip(X, y):
            tv = str(int(t)) if task == "clf" else fmt(t)
            f.write(",".join(fmt(v) for v in row) + "," + tv + "\n")


def read_dataset_csv(path):
    with open(path) as f:
        header = f.readline().strip().split(",")
        rows = [[float(x) for x in line.strip().split(",")] for line in f
                if line.strip()]
    a = np.array(rows, dtype=np.float64)
    return header, a[:, :-1], a[:, -1]


# ---------------------------------------------------------------------------
# ONNX building helpers
# ---------------------------------------------------------------------------


def input_X(n_features):
    return helper.make_tensor_value_info("X", TensorProto.FLOAT,
                                         [None, n_features])


def zipmap_output_type():
    t = onnx.TypeProto()
    m = t.sequence_type.elem_type.map_type
    m.key_type = TensorProto.INT64
    m.value_type.CopyFrom(helper.make_tensor_type_proto(TensorProto.FLOAT,
                                                        None))
    return helper.make_value_info("output_probability", t)


def make_ml_model(name, nodes, inputs, outputs, doc):
    graph = helper.make_graph(nodes, name, inputs, outputs)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET),
                       helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
        producer_name="blindml-make_test_models",
        producer_version="1",
        doc_string=doc)
    return model


def classifier_tail(n_classes, proba_name="probabilities"):
    """Cast(label) + ZipMap(probabilities) as skl2onnx's SklearnZipMap."""
    labels = list(range(n_classes))
    nodes = [
        helper.make_node("Cast", ["label"], ["output_label"],
                         name="Cast", to=TensorProto.INT64),
        helper.make_node("ZipMap", [proba_name], ["output_probability"],
                         name="ZipMap", domain="ai.onnx.ml",
                         classlabels_int64s=labels),
    ]
    outputs = [
        helper.make_tensor_value_info("output_label", TensorProto.INT64,
                                      [None]),
        zipmap_output_type(),
    ]
    return nodes, outputs


def f32list(values):
    return [float(np.float32(v)) for v in values]


def export_linear_regressor(coef, intercept, n_features, name):
    coef = np.asarray(coef, dtype=np.float64).ravel()
    node = helper.make_node(
        "LinearRegressor", ["X"], ["variable"], name="LinearRegressor",
        domain="ai.onnx.ml",
        coefficients=f32list(coef), intercepts=f32list([intercept]),
        targets=1, post_transform="NONE")
    out = helper.make_tensor_value_info("variable", TensorProto.FLOAT,
                                        [None, 1])
    return make_ml_model(name, [node], [input_X(n_features)], [out],
                         "LinearRegression (blindml exporter, skl2onnx "
                         "LinearRegressor conventions)")


def export_logistic_regression(coef, intercept, n_classes, multinomial,
                               name):
    coef = np.asarray(coef, dtype=np.float64)
    intercept = np.asarray(intercept, dtype=np.float64).ravel()
    n_features = coef.shape[1]
    coefficients = coef.ravel().tolist()
    intercepts = intercept.tolist()
    if n_classes == 2:
        assert coef.shape[0] == 1
        coefficients = [-c for c in coefficients] + coefficients
        intercepts = [-b for b in intercepts] + intercepts
        multi_class = 0
        post = "LOGISTIC"
    else:
        assert multinomial and coef.shape[0] == n_classes
        multi_class = 1
        post = "SOFTMAX"
    nodes = []
    lc_out = "probabilities" if multi_class == 0 else "probability_tensor"
    nodes.append(helper.make_node(
        "LinearClassifier", ["X"], ["label", lc_out],
        name="LinearClassifier", domain="ai.onnx.ml",
        coefficients=f32list(coefficients), intercepts=f32list(intercepts),
        classlabels_ints=list(range(n_classes)), multi_class=multi_class,
        post_transform=post))
    if multi_class > 0:
        nodes.append(helper.make_node(
            "Normalizer", ["probability_tensor"], ["probabilities"],
            name="Normalizer", domain="ai.onnx.ml", norm="L1"))
    tail, outputs = classifier_tail(n_classes)
    return make_ml_model(name, nodes + tail, [input_X(n_features)], outputs,
                         "LogisticRegression (blindml exporter, skl2onnx "
                         "LinearClassifier conventions)")


# --- trees -----------------------------------------------------------------


def sklearn_threshold_f32(dy):
    """skl2onnx's sklearn_threshold(dy, np.float32, 'BRANCH_LEQ')."""
    dy = np.float64(dy)
    fy = np.float32(dy)
    if np.float64(fy) == dy or np.float64(fy) < dy:
        return float(fy)
    eps = max(abs(fy), np.finfo(np.float32).eps) * 10
    nfy = np.nextafter(np.array([fy], dtype=np.float32),
                       np.array([fy - eps], dtype=np.float32))[0]
    return float(nfy)


def empty_tree_attrs(classifier):
    keys = ["nodes_treeids", "nodes_nodeids", "nodes_featureids",
            "nodes_modes", "nodes_values", "nodes_truenodeids",
            "nodes_falsenodeids", "nodes_missing_value_tracks_true",
            "nodes_hitrates"]
    keys += (["class_treeids", "class_nodeids", "class_ids", "class_weights"]
             if classifier else
             ["target_treeids", "target_nodeids", "target_ids",
              "target_weights"])
    return {k: [] for k in keys}


def add_sklearn_tree(attrs, classifier, tree, tree_id, tree_weight,
                     weight_id_bias, leaf_weights_are_counts):
    """skl2onnx's add_tree_to_attribute_pairs (adjust_threshold=True)."""
    for i in range(tree.node_count):
        left, right = int(tree.children_left[i]), int(tree.children_right[i])
        if left > i or right > i:
            mode, feat = "BRANCH_LEQ", int(tree.feature[i])
            value = sklearn_threshold_f32(tree.threshold[i])
            t_id, f_id = left, right
        else:
            mode, feat, value, t_id, f_id = "LEAF", 0, 0.0, 0, 0
        attrs["nodes_treeids"].append(tree_id)
        attrs["nodes_nodeids"].append(i)
        attrs["nodes_featureids"].append(feat)
        attrs["nodes_modes"].append(mode)
        attrs["nodes_values"].append(value)
        attrs["nodes_truenodeids"].append(t_id)
        attrs["nodes_falsenodeids"].append(f_id)
        attrs["nodes_missing_value_tracks_true"].append(0)
        attrs["nodes_hitrates"].append(1.0)
        if mode != "LEAF":
            continue
        w = np.asarray(tree.value[i], dtype=np.float64).ravel()
        factor = tree_weight
        if leaf_weights_are_counts:
            s = float(w.sum())
            factor /= s if s != 0.0 else 1.0
        w = [float(x) * factor for x in w]
        if len(w) == 2 and classifier:
            w = [w[1]]
        pre = "class" if classifier else "target"
        for k, x in enumerate(w):
            attrs[pre + "_treeids"].append(tree_id)
            attrs[pre + "_nodeids"].append(i)
            attrs[pre + "_ids"].append(k + weight_id_bias)
            attrs[pre + "_weights"].append(x)


def _f32_attrs(attrs):
    for k in ("nodes_values", "class_weights", "target_weights",
              "nodes_hitrates", "base_values"):
        if k in attrs:
            attrs[k] = f32list(attrs[k])
    return attrs


def export_tree_classifier(attrs, n_classes, n_features, name, doc):
    attrs = _f32_attrs(dict(attrs))
    attrs["classlabels_int64s"] = list(range(n_classes))
    attrs.setdefault("post_transform", "NONE")
    node = helper.make_node("TreeEnsembleClassifier", ["X"],
                            ["label", "probabilities"],
                            name="TreeEnsembleClassifier",
                            domain="ai.onnx.ml", **attrs)
    tail, outputs = classifier_tail(n_classes)
    return make_ml_model(name, [node] + tail, [input_X(n_features)], outputs,
                         doc)


def export_tree_regressor(attrs, n_features, name, doc):
    attrs = _f32_attrs(dict(attrs))
    attrs["n_targets"] = 1
    attrs.setdefault("post_transform", "NONE")
    node = helper.make_node("TreeEnsembleRegressor", ["X"], ["variable"],
                            name="TreeEnsembleRegressor",
                            domain="ai.onnx.ml", **attrs)
    out = helper.make_tensor_value_info("variable", TensorProto.FLOAT,
                                        [None, 1])
    return make_ml_model(name, [node], [input_X(n_features)], [out], doc)


def export_decision_tree_classifier(m, n_features, name):
    attrs = empty_tree_attrs(True)
    add_sklearn_tree(attrs, True, m.tree_, 0, 1.0, 0, True)
    return export_tree_classifier(attrs, len(m.classes_), n_features, name,
                                  "DecisionTreeClassifier (blindml exporter,"
                                  " skl2onnx conventions)")


def export_random_forest_classifier(m, n_features, name):
    attrs = empty_tree_attrs(True)
    n = len(m.estimators_)
    for t, est in enumerate(m.estimators_):
        add_sklearn_tree(attrs, True, est.tree_, t, 1.0 / n, 0, True)
    return export_tree_classifier(attrs, len(m.classes_), n_features, name,
                                  "RandomForestClassifier (blindml exporter,"
                                  " skl2onnx conventions)")


def export_gradient_boosting_classifier(m, n_features, name):
    assert m.n_classes_ == 2 and m.init is None
    attrs = empty_tree_attrs(True)
    base = m._raw_predict_init(np.zeros((1, n_features))).ravel()
    attrs["base_values"] = [float(v) for v in base]
    attrs["post_transform"] = "LOGISTIC"
    for t in range(m.n_estimators_):
        add_sklearn_tree(attrs, True, m.estimators_[t][0].tree_, t,
                         m.learning_rate, 0, False)
    return export_tree_classifier(attrs, 2, n_features, name,
                                  "GradientBoostingClassifier (blindml "
                                  "exporter, skl2onnx conventions)")


def export_decision_tree_regressor(m, n_features, name):
    attrs = empty_tree_attrs(False)
    add_sklearn_tree(attrs, False, m.tree_, 0, 1.0, 0, False)
    return export_tree_regressor(attrs, n_features, name,
                                 "DecisionTreeRegressor (blindml exporter, "
                                 "skl2onnx conventions)")


# ---------------------------------------------------------------------------
# numpy interpreter of the ONNX / ONNX-ML semantics used here
# ---------------------------------------------------------------------------


def _attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _s(v):
    return v.decode() if isinstance(v, bytes) else v


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _post(scores, post):
    post = _s(post)
    if post == "NONE":
        return scores
    if post == "LOGISTIC":
        return _sigmoid(scores)
    if post == "SOFTMAX":
        return _softmax(scores, axis=1)
    raise NotImplementedError(post)


class _Trees:
    def __init__(self, a, prefix):
        self.nodes = {}
        for k in range(len(a["nodes_nodeids"])):
            key = (a["nodes_treeids"][k], a["nodes_nodeids"][k])
            self.nodes[key] = (_s(a["nodes_modes"][k]),
                               a["nodes_featureids"][k],
                               np.float32(a["nodes_values"][k]),
                               a["nodes_truenodeids"][k],
                               a["nodes_falsenodeids"][k])
        children = set()
        for (t, _), (mode, _, _, tn, fn) in self.nodes.items():
            if mode != "LEAF":
                children.add((t, tn))
                children.add((t, fn))
        self.roots = sorted(k for k in self.nodes if k not in children)
        self.leaf_w = {}
        for k in range(len(a[prefix + "_nodeids"])):
            key = (a[prefix + "_treeids"][k], a[prefix + "_nodeids"][k])
            self.leaf_w.setdefault(key, []).append(
                (a[prefix + "_ids"][k], float(a[prefix + "_weights"][k])))

    def leaves(self, x):
        """x: float32 row.  Yields the (tree, node) leaf of each tree."""
        for root in self.roots:
            t, n = root
            while True:
                mode, f, v, tn, fn = self.nodes[(t, n)]
                if mode == "LEAF":
                    break
                xv = x[f]
                if mode == "BRANCH_LEQ":
                    go = xv <= v
                elif mode == "BRANCH_LT":
                    go = xv < v
                elif mode == "BRANCH_GTE":
                    go = xv >= v
                elif mode == "BRANCH_GT":
                    go = xv > v
                elif mode == "BRANCH_EQ":
                    go = xv == v
                elif mode == "BRANCH_NEQ":
                    go = xv != v
                else:
                    raise NotImplementedError(mode)
                n = tn if go else fn
            yield (t, n)


def _tree_classifier(a, X):
    trees = _Trees(a, "class")
    labels = list(a["classlabels_int64s"])
    nc = len(labels)
    base = [float(b) for b in a.get("base_values", [])]
    post = _s(a.get("post_transform", b"NONE"))
    class_ids = set(a["class_ids"])
    binary_case = nc == 2 and len(class_ids) == 1
    all_pos = all(w >= 0 for w in a["class_weights"])
    Y = np.zeros(len(X), dtype=np.int64)
    Z = np.zeros((len(X), nc), dtype=np.float64)
    for r, x in enumerate(X):
        score = np.zeros(nc)
        has = np.zeros(nc, dtype=bool)
        for leaf in trees.leaves(x):
            for cid, w in trees.leaf_w.get(leaf, []):
                score[cid] += w
                has[cid] = True
        if nc > 2:
            for k, b in enumerate(base):
                score[k] += b
                has[k] = True
            best = -1
            for k in range(nc):
                if has[k] and (best < 0 or score[k] > score[best]):
                    best = k
            Y[r] = labels[best]
            Z[r] = _post(score[None, :], post)[0]
            continue
        # binary: ONNX Runtime's rules (tree_ensemble_aggregator.h)
        preds = [[score[0], has[0]], [score[1], has[1]]]
        if len(base) == 2:
            if preds[1][1]:
                preds[1][0] = base[1] + preds[0][0]
                preds[0][0] = -preds[1][0]
            else:
                preds[1][0] += base[1]
                preds[0][0] += base[0]
        elif len(base) == 1:
            preds[0][0] += base[0]
            if not preds[1][1]:
                preds.pop()
        elif not preds[1][1]:
            preds.pop()
        if len(preds) == 2 and preds[1][1]:
            pos = preds[1][0]
        else:
            pos = preds[0][0] if preds[0][1] else 0.0
        assert binary_case, "only skl2onnx's binary encoding is supported"
        if all_pos:
            second = 0 if pos > 0.5 else 1
            Y[r] = labels[1] if pos > 0.5 else labels[0]
        else:
            second = 2 if pos > 0 else 3
            Y[r] = labels[1] if pos > 0 else labels[0]
        if len(preds) == 2:
            Z[r] = _post(np.array([[preds[0][0], preds[1][0]]]), post)[0]
        else:
            s = preds[0][0]
            if second in (0, 1):
                Z[r] = [1.0 - s, s]
            elif post == "LOGISTIC":
                Z[r] = [_sigmoid(-s), _sigmoid(s)]
            else:
                Z[r] = [-s, s]
    return Y, Z


def _tree_regressor(a, X):
    trees = _Trees(a, "target")
    nt = a.get("n_targets", 1)
    base = [float(b) for b in a.get("base_values", [])]
    agg = _s(a.get("aggregate_function", b"SUM"))
    assert agg == "SUM"
    out = np.zeros((len(X), nt))
    for r, x in enumerate(X):
        for leaf in trees.leaves(x):
            for tid, w in trees.leaf_w.get(leaf, []):
                out[r, tid] += w
        for k, b in enumerate(base):
            out[r, k] += b
    return _post(out, a.get("post_transform", b"NONE"))


def run_onnx(model, X):
    """Evaluate the graph on X (float64 array, cast to float32 as input)."""
    env = {}
    for init in model.graph.initializer:
        env[init.name] = numpy_helper.to_array(init).astype(np.float64)
    env[model.graph.input[0].name] = np.asarray(X, np.float32).astype(
        np.float64)
    for node in model.graph.node:
        a = _attrs(node)
        i = [env[n] if n else None for n in node.input]
        op = node.op_type
        if op == "LinearRegressor":
            coef = np.array(a["coefficients"]).reshape(a.get("targets", 1),
                                                       -1)
            y = i[0] @ coef.T + np.array(a.get("intercepts", [0.0]))
            res = [_post(y, a.get("post_transform", b"NONE"))]
        elif op == "LinearClassifier":
            labels = a["classlabels_ints"]
            inter = np.array(a["intercepts"])
            coef = np.array(a["coefficients"]).reshape(len(inter), -1)
            scores = i[0] @ coef.T + inter
            assert scores.shape[1] == len(labels)
            lab = np.array([labels[k] for k in scores.argmax(axis=1)])
            res = [lab, _post(scores, a.get("post_transform", b"NONE"))]
        elif op == "Normalizer":
            assert _s(a["norm"]) == "L1"
            res = [i[0] / np.abs(i[0]).sum(axis=1, keepdims=True)]
        elif op == "TreeEnsembleClassifier":
            res = list(_tree_classifier(a, np.asarray(i[0], np.float32)))
        elif op == "TreeEnsembleRegressor":
            res = [_tree_regressor(a, np.asarray(i[0], np.float32))]
        elif op == "Cast":
            assert a["to"] in (TensorProto.INT64, TensorProto.FLOAT)
            res = [i[0].astype(np.int64) if a["to"] == TensorProto.INT64
                   else i[0].astype(np.float64)]
        elif op == "ZipMap":
            labels = a["classlabels_int64s"]
            res = [[{labels[k]: float(v) for k, v in enumerate(row)}
                    for row in i[0]]]
        elif op == "Identity":
            res = [i[0]]
        elif op == "Gemm":
            A, B = i[0], i[1]
            if a.get("transA", 0):
                A = A.T
            if a.get("transB", 0):
                B = B.T
            y = a.get("alpha", 1.0) * (A @ B)
            if len(i) > 2 and i[2] is not None:
                y = y + a.get("beta", 1.0) * i[2]
            res = [y]
        elif op == "MatMul":
            res = [i[0] @ i[1]]
        elif op == "Add":
            res = [i[0] + i[1]]
        elif op == "Relu":
            res = [np.maximum(i[0], 0.0)]
        elif op == "Sigmoid":
            res = [_sigmoid(i[0])]
        elif op == "Softmax":
            res = [_softmax(i[0], axis=a.get("axis", -1))]
        else:
            raise NotImplementedError("interpreter: op %s" % op)
        for name, v in zip(node.output, res):
            env[name] = v
    return [env[o.name] for o in model.graph.output]


def onnx_classifier_outputs(model, X):
    """(labels, probabilities[N, C]) of an ONNX-ML classifier."""
    lab, zm = run_onnx(model, X)
    keys = sorted(zm[0].keys())
    proba = np.array([[d[k] for k in keys] for d in zm])
    return np.asarray(lab, np.int64).ravel(), proba


# ---------------------------------------------------------------------------
# checks and outputs
# ---------------------------------------------------------------------------


class Fail(Exception):
    pass


def save_model(model, path):
    onnx.checker.check_model(model)
    onnx.save(model, path)
    size = os.path.getsize(path)
    if size >= MAX_MODEL_BYTES:
        raise Fail("%s is %d bytes (limit %d)" % (path, size, MAX_MODEL_BYTES))
    m = onnx.load(path)
    onnx.checker.check_model(m)
    return m


def check_classifier(name, model, ref_proba_fn, ds, results):
    """Compare the ONNX semantics against the trained model."""
    for split, X in (("train", ds.Xtr), ("test", ds.Xte)):
        lab, proba = onnx_classifier_outputs(model, X)
        ref = ref_proba_fn(X)
        d = float(np.abs(proba - ref).max())
        if not d < PROBA_TOL:
            raise Fail("%s: %s max |proba_onnx - proba_ref| = %g >= %g"
                       % (name, split, d, PROBA_TOL))
        ref_lab = ref.argmax(axis=1)
        diff = np.nonzero(lab != ref_lab)[0]
        for r in diff:
            print("  NOTE %s %s row %d: ONNX label %d, reference %d "
                  "(proba %s vs %s)" % (name, split, r, lab[r], ref_lab[r],
                                        proba[r], ref[r]))
        if split == "test":
            acc = accuracy_score(ds.yte, lab)
            ref_acc = accuracy_score(ds.yte, ref_lab)
            results.append((name, "accuracy", ref_acc, acc, d, len(diff)))
            print("  %-36s test accuracy %.4f (ONNX %.4f), max|dproba| %.2e,"
                  " label mismatches %d" % (name, ref_acc, acc, d, len(diff)))
    return lab, proba


def note_float64_paths(name, model, ds):
    """Rows whose tree path changes if the float64 CSV value were compared
    with the float32 threshold instead of float32(value) (the ONNX input is
    float32).  Informational: blindml must cast to float32 first."""
    node = [n for n in model.graph.node
            if n.op_type.startswith("TreeEnsemble")][0]
    a = _attrs(node)
    trees = _Trees(a, "class" if "class_ids" in a else "target")
    for split, X in (("train", ds.Xtr), ("test", ds.Xte)):
        X32 = X.astype(np.float32)
        rows = [r for r in range(len(X))
                if list(trees.leaves(X32[r])) != list(trees.leaves(X[r]))]
        if rows:
            print("  NOTE %s %s: rows %s take another path when compared in "
                  "float64" % (name, split, rows))


def write_expected_classifier(path, lab, proba):
    n = proba.shape[1]
    with open(path, "w", newline="\n") as f:
        f.write(",".join(["label"] + ["proba_%d" % k for k in range(n)])
                + "\n")
        for l, p in zip(lab, proba):
            f.write(",".join([str(int(l))] + [fmt(v) for v in p]) + "\n")


def write_expected_regressor(path, pred):
    with open(path, "w", newline="\n") as f:
        f.write("prediction\n")
        for v in pred:
            f.write(fmt(v) + "\n")


def check_regressor(name, model, ref_fn, ds, results):
    for split, X, y in (("train", ds.Xtr, ds.ytr), ("test", ds.Xte, ds.yte)):
        pred = np.asarray(run_onnx(model, X)[0]).ravel()
        ref = np.asarray(ref_fn(X)).ravel()
        d = float(np.abs(pred - ref).max())
        if not d < REG_TOL:
            raise Fail("%s: %s max |pred_onnx - pred_ref| = %g >= %g"
                       % (name, split, d, REG_TOL))
        if split == "test":
            r2 = r2_score(y, ref)
            r2o = r2_score(y, pred)
            results.append((name, "R2", r2, r2o, d, 0))
            print("  %-36s test R2 %.4f (ONNX %.4f), max|dpred| %.2e"
                  % (name, r2, r2o, d))
    return pred


# ---------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------


def fold_standardization(coef, intercept, mean, scale):
    """w.(x-mean)/scale + b == (w/scale).x + (b - (w/scale).mean)."""
    coef = np.asarray(coef, np.float64)
    w = coef / scale[None, :]
    b = np.asarray(intercept, np.float64) - w @ mean
    return w, b


def train_mlp(ds, hidden, n_out, epochs, lr, weight_decay):
    import torch
    torch.manual_seed(MODEL_SEED)
    mean = ds.Xtr.mean(axis=0)
    scale = ds.Xtr.std(axis=0)
    scale[scale == 0] = 1.0
    Xs = torch.tensor((ds.Xtr - mean) / scale, dtype=torch.float32)
    y = torch.tensor(ds.ytr, dtype=torch.long)
    net = torch.nn.Sequential(torch.nn.Linear(Xs.shape[1], hidden),
                              torch.nn.ReLU(),
                              torch.nn.Linear(hidden, n_out))
    opt = torch.optim.Adam(net.parameters(), lr=lr,
                           weight_decay=weight_decay)
    loss_fn = torch.nn.CrossEntropyLoss()
    for _ in range(epochs):
        opt.zero_grad()
        loss = loss_fn(net(Xs), y)
        loss.backward()
        opt.step()
    net.eval()

    def ref_proba(X):
        with torch.no_grad():
            z = net(torch.tensor((X - mean) / scale, dtype=torch.float32))
            return torch.softmax(z.double(), dim=1).numpy()

    # folded copy: raw features in, same logits out
    folded = torch.nn.Sequential(torch.nn.Linear(Xs.shape[1], hidden),
                                 torch.nn.ReLU(),
                                 torch.nn.Linear(hidden, n_out))
    w1, b1 = fold_standardization(net[0].weight.detach().double().numpy(),
                                  net[0].bias.detach().double().numpy(),
                                  mean, scale)
    with torch.no_grad():
        folded[0].weight.copy_(torch.tensor(w1, dtype=torch.float32))
        folded[0].bias.copy_(torch.tensor(b1, dtype=torch.float32))
        folded[2].weight.copy_(net[2].weight)
        folded[2].bias.copy_(net[2].bias)
    folded.eval()
    return folded, ref_proba


def export_torch(net, n_features, path):
    import torch
    dummy = torch.zeros(1, n_features, dtype=torch.float32)
    torch.onnx.export(net, dummy, path, input_names=["X"],
                      output_names=["logits"],
                      dynamic_axes={"X": {0: "N"}, "logits": {0: "N"}},
                      opset_version=OPSET, do_constant_folding=True)
    m = onnx.load(path)
    m.producer_name = "pytorch (blindml make_test_models)"
    m.doc_string = "MLP, standardisation folded into the first Gemm; " \
                   "output: logits (no Softmax)"
    return m


def mlp_outputs(model, X):
    z = np.asarray(run_onnx(model, X)[0])
    return z.argmax(axis=1), _softmax(z, axis=1)


def check_mlp(name, model, ref_proba_fn, ds, results):
    for split, X in (("train", ds.Xtr), ("test", ds.Xte)):
        lab, proba = mlp_outputs(model, X)
        ref = ref_proba_fn(X)
        d = float(np.abs(proba - ref).max())
        if not d < PROBA_TOL:
            raise Fail("%s: %s max |proba_onnx - proba_torch| = %g"
                       % (name, split, d))
        diff = np.nonzero(lab != ref.argmax(axis=1))[0]
        for r in diff:
            print("  NOTE %s %s row %d differs" % (name, split, r))
        if split == "test":
            acc = accuracy_score(ds.yte, lab)
            ref_acc = accuracy_score(ds.yte, ref.argmax(axis=1))
            results.append((name, "accuracy", ref_acc, acc, d, len(diff)))
            print("  %-36s test accuracy %.4f (ONNX %.4f), max|dproba| %.2e,"
                  " label mismatches %d" % (name, ref_acc, acc, d, len(diff)))
    return lab, proba


def try_import_xgboost():
    try:
        import xgboost  # noqa: F401
        return xgboost
    except Exception:
        return None


def export_xgboost_classifier(booster_model, n_features, name):
    """onnxmltools' XGBoost binary:logistic conventions (XGBConverter):
    node ids renumbered in pre-order (node, children[0], children[1]), nodes
    listed in that order, BRANCH_LT, true = "yes", false = "no",
    nodes_missing_value_tracks_true = (missing == yes), no nodes_hitrates,
    class_ids 0, class_weights = leaf values, post_transform LOGISTIC,
    base_values = [logit(base_score)] only when base_score != 0.5."""
    import json
    bst = booster_model.get_booster()
    cfg = json.loads(bst.save_config())
    base_score = float(cfg["learner"]["learner_model_param"]["base_score"])
    attrs = empty_tree_attrs(True)
    del attrs["nodes_hitrates"]
    trees = [json.loads(js) for js in bst.get_dump(dump_format="json")]

    def remap_ids(nd, remap):
        remap[nd["nodeid"]] = len(remap)
        for ch in nd.get("children", []):
            remap_ids(ch, remap)
        return remap

    def fill(t, nd, remap):
        nid = remap[nd["nodeid"]]
        attrs["nodes_treeids"].append(t)
        attrs["nodes_nodeids"].append(nid)
        if "children" in nd:
            feat = nd["split"]
            fid = int(feat[1:]) if str(feat).startswith("f") else int(feat)
            attrs["nodes_featureids"].append(fid)
            attrs["nodes_modes"].append("BRANCH_LT")
            attrs["nodes_values"].append(float(nd["split_condition"]))
            attrs["nodes_truenodeids"].append(remap[nd["yes"]])
            attrs["nodes_falsenodeids"].append(remap[nd["no"]])
            attrs["nodes_missing_value_tracks_true"].append(
                1 if nd.get("missing", -1) == nd["yes"] else 0)
            for ch in nd["children"]:
                fill(t, ch, remap)
        else:
            attrs["nodes_featureids"].append(0)
            attrs["nodes_modes"].append("LEAF")
            attrs["nodes_values"].append(0.0)
            attrs["nodes_truenodeids"].append(0)
            attrs["nodes_falsenodeids"].append(0)
            attrs["nodes_missing_value_tracks_true"].append(0)
            attrs["class_treeids"].append(t)
            attrs["class_nodeids"].append(nid)
            attrs["class_ids"].append(0)
            attrs["class_weights"].append(float(nd["leaf"]))

    for t, tree in enumerate(trees):
        fill(t, tree, remap_ids(tree, {}))
    if base_score != 0.5:
        attrs["base_values"] = [
            float(-np.log(1 / np.float32(base_score) - 1.0))]
    attrs["post_transform"] = "LOGISTIC"
    return export_tree_classifier(attrs, 2, n_features, name,
                                  "XGBClassifier (blindml exporter, "
                                  "onnxmltools conventions)")


def build_all(out_dir):
    t0 = time.time()
    dss = load_datasets()
    os.makedirs(os.path.join(out_dir, "models"), exist_ok=True)
    for ds in dss.values():
        d = os.path.join(out_dir, ds.name)
        os.makedirs(d, exist_ok=True)
        write_dataset_csv(os.path.join(d, "train.csv"), ds.feature_names,
                          ds.Xtr, ds.ytr, ds.task)
        write_dataset_csv(os.path.join(d, "test.csv"), ds.feature_names,
                          ds.Xte, ds.yte, ds.task)
        # the CSVs must round-trip exactly (the models are trained on them)
        for split, X, y in (("train", ds.Xtr, ds.ytr), ("test", ds.Xte,
                                                        ds.yte)):
            h, Xr, yr = read_dataset_csv(os.path.join(d, split + ".csv"))
            assert h == ds.feature_names + ["target"]
            assert np.array_equal(Xr, X) and np.array_equal(yr, y)
        print("dataset %-14s train %d, test %d, features %d%s"
              % (ds.name, len(ds.Xtr), len(ds.Xte), ds.Xtr.shape[1],
                 ", classes %d" % ds.n_classes if ds.task == "clf" else ""))

    mdir = os.path.join(out_dir, "models")
    results = []

    def path(name, ext):
        return os.path.join(mdir, name + ext)

    bc, iris, diab = dss["breast_cancer"], dss["iris"], dss["diabetes"]
    nf_bc, nf_diab = bc.Xtr.shape[1], diab.Xtr.shape[1]

    # 1. linear regression, diabetes
    name = "linear_regression_diabetes"
    m = LinearRegression().fit(diab.Xtr, diab.ytr)
    model = save_model(export_linear_regressor(m.coef_, m.intercept_,
                                               nf_diab, name),
                       path(name, ".onnx"))
    pred = check_regressor(name, model, m.predict, diab, results)
    write_expected_regressor(path(name, ".expected.csv"), pred)

    # 2./3. logistic regression, standardisation folded into the weights
    for name, ds, multinomial in (
            ("logistic_regression_breast_cancer", bc, False),
            ("logistic_regression_iris", iris, True)):
        mean = ds.Xtr.mean(axis=0)
        scale = ds.Xtr.std(axis=0)
        lr = LogisticRegression(max_iter=10000, random_state=MODEL_SEED)
        lr.fit((ds.Xtr - mean) / scale, ds.ytr)
        assert lr.n_iter_.max() < lr.max_iter, "did not converge"
        w, b = fold_standardization(lr.coef_, lr.intercept_, mean, scale)
        model = save_model(export_logistic_regression(
            w, b, ds.n_classes, multinomial, name), path(name, ".onnx"))

        def ref(X, lr=lr, mean=mean, scale=scale):
            return lr.predict_proba((X - mean) / scale)
        lab, proba = check_classifier(name, model, ref, ds, results)
        write_expected_classifier(path(name, ".expected.csv"), lab, proba)

    # 4. decision tree classifier
    name = "decision_tree_breast_cancer"
    m = DecisionTreeClassifier(max_depth=5, random_state=MODEL_SEED)
    m.fit(bc.Xtr, bc.ytr)
    model = save_model(export_decision_tree_classifier(m, nf_bc, name),
                       path(name, ".onnx"))
    lab, proba = check_classifier(name, model, m.predict_proba, bc, results)
    note_float64_paths(name, model, bc)
    write_expected_classifier(path(name, ".expected.csv"), lab, proba)

    # 5. random forest
    name = "random_forest_breast_cancer"
    m = RandomForestClassifier(n_estimators=20, max_depth=4,
                               random_state=MODEL_SEED, n_jobs=1)
    m.fit(bc.Xtr, bc.ytr)
    model = save_model(export_random_forest_classifier(m, nf_bc, name),
                       path(name, ".onnx"))
    lab, proba = check_classifier(name, model, m.predict_proba, bc, results)
    note_float64_paths(name, model, bc)
    write_expected_classifier(path(name, ".expected.csv"), lab, proba)

    # 6. gradient boosting
    name = "gradient_boosting_breast_cancer"
    m = GradientBoostingClassifier(n_estimators=20, max_depth=3,
                                   random_state=MODEL_SEED)
    m.fit(bc.Xtr, bc.ytr)
    model = save_model(export_gradient_boosting_classifier(m, nf_bc, name),
                       path(name, ".onnx"))
    lab, proba = check_classifier(name, model, m.predict_proba, bc, results)
    note_float64_paths(name, model, bc)
    write_expected_classifier(path(name, ".expected.csv"), lab, proba)

    # 7. decision tree regressor
    name = "decision_tree_diabetes"
    m = DecisionTreeRegressor(max_depth=5, random_state=MODEL_SEED)
    m.fit(diab.Xtr, diab.ytr)
    model = save_model(export_decision_tree_regressor(m, nf_diab, name),
                       path(name, ".onnx"))
    pred = check_regressor(name, model, m.predict, diab, results)
    note_float64_paths(name, model, diab)
    write_expected_regressor(path(name, ".expected.csv"), pred)

    # 8./9. MLPs (torch)
    import torch
    torch.set_num_threads(1)
    for name, ds, epochs, lr_, wd in (("mlp_iris", iris, 500, 0.01, 1e-4),
                                      ("mlp_breast_cancer", bc, 300, 0.01,
                                       1e-4)):
        net, ref = train_mlp(ds, 16, ds.n_classes, epochs, lr_, wd)
        model = export_torch(net, ds.Xtr.shape[1], path(name, ".onnx"))
        model = save_model(model, path(name, ".onnx"))
        ops = [n.op_type for n in model.graph.node]
        print("  %s ops: %s" % (name, " ".join(ops)))
        lab, proba = check_mlp(name, model, ref, ds, results)
        if name == "mlp_iris" and accuracy_score(ds.yte, lab) < 0.9:
            raise Fail("mlp_iris test accuracy below 0.9")
        write_expected_classifier(path(name, ".expected.csv"), lab, proba)

    # 10. xgboost (optional)
    xgb = try_import_xgboost()
    if xgb is None:
        print("  xgboost not installed: xgboost_breast_cancer skipped")
    else:
        name = "xgboost_breast_cancer"
        m = xgb.XGBClassifier(n_estimators=20, max_depth=3,
                              learning_rate=0.3, random_state=MODEL_SEED,
                              n_jobs=1, tree_method="exact")
        m.fit(bc.Xtr, bc.ytr)
        model = save_model(export_xgboost_classifier(m, nf_bc, name),
                           path(name, ".onnx"))
        lab, proba = check_classifier(name, model, m.predict_proba, bc,
                                      results)
        note_float64_paths(name, model, bc)
        write_expected_classifier(path(name, ".expected.csv"), lab, proba)

    print()
    print("| model | metric | float (trained model) | ONNX file | max diff |"
          " label diffs |")
    print("|---|---|---|---|---|---|")
    for name, metric, ref, onx, d, nd in results:
        print("| %s | %s | %.4f | %.4f | %.1e | %d |"
              % (name, metric, ref, onx, d, nd))
    print("\ndone in %.1f s" % (time.time() - t0))


# --- exporter-shaped corpus (issue 13 part 7) --------------------------------
#
# Graphs shaped like each exporter's output, trained here on the committed data sets, with the
# expected answers from the estimator itself (not from an ONNX runtime): `--corpus` writes them
# to OUT/corpus/<name>.onnx and <name>.expected.csv (same CSV layout as models/). Self-contained:
# only the helpers above.


def _opset_model(name, nodes, inputs, outputs, doc, opset, ml_opset,
                 initializers=()):
    graph = helper.make_graph(nodes, name, inputs, outputs,
                              initializer=list(initializers))
    imports = [helper.make_opsetid("", opset)]
    if ml_opset:
        imports.append(helper.make_opsetid("ai.onnx.ml", ml_opset))
    return helper.make_model(graph, opset_imports=imports,
                             producer_name="blindml-make_test_models-corpus",
                             producer_version="1", doc_string=doc)


def _rename_input(nodes, old, new):
    for n in nodes:
        for k, v in enumerate(n.input):
            if v == old:
                n.input[k] = new
    return nodes


def _init(name, array, dtype=np.float32):
    return numpy_helper.from_array(np.asarray(array, dtype=dtype), name)


def _mlp_nodes(net, prefix="", gemm=False):
    """sklearn MLPClassifier/Regressor layers as skl2onnx (MatMul+Add) or torch (Gemm) write."""
    nodes, inits, x = [], [], "X"
    for k, (w, b) in enumerate(zip(net.coefs_, net.intercepts_)):
        out = "%sa%d" % (prefix, k)
        if gemm:
            inits += [_init("W%d" % k, w.T), _init("B%d" % k, b)]
            nodes.append(helper.make_node("Gemm", [x, "W%d" % k, "B%d" % k],
                                          [out], name="Gemm_%d" % k,
                                          transB=1))
        else:
            inits += [_init("W%d" % k, w), _init("B%d" % k, b)]
            nodes.append(helper.make_node("MatMul", [x, "W%d" % k],
                                          ["mm%d" % k], name="MatMul_%d" % k))
            nodes.append(helper.make_node("Add", ["mm%d" % k, "B%d" % k],
                                          [out], name="Add_%d" % k))
        x = out
        if k + 1 < len(net.coefs_):
            nodes.append(helper.make_node("Relu", [x], ["r%d" % k],
                                          name="Relu_%d" % k))
            x = "r%d" % k
    return nodes, inits, x


def _svc_attrs(svc):
    """SVMClassifier attributes as skl2onnx writes them for an SVC: the binary case negates
    dual_coef_ and intercept_ (scikit-learn flips them for two classes; the runtime votes for the
    pair's first class when the decision value is positive, as libsvm does)."""
    coef = svc.dual_coef_.ravel()
    rho = svc.intercept_
    if len(svc.classes_) == 2:
        coef, rho = -coef, -rho
    a = dict(kernel_type=svc.kernel.upper(),
             kernel_params=[float(v) for v in (svc._gamma, svc.coef0,
                                               svc.degree)],
             support_vectors=f32list(svc.support_vectors_.ravel()),
             coefficients=f32list(coef), rho=f32list(rho),
             post_transform="NONE",
             vectors_per_class=[int(v) for v in svc.n_support_],
             classlabels_ints=[int(c) for c in svc.classes_])
    if len(svc.probA_) > 0:
        a["prob_a"] = f32list(svc.probA_)
        a["prob_b"] = f32list(svc.probB_)
    return a


def _svc_outputs():
    return [helper.make_tensor_value_info("output_label", TensorProto.INT64,
                                          [None]), zipmap_output_type()]


def _svc_nodes(svc, x, ovr=False):
    """skl2onnx's SVC graph: SVMClassifier -> Cast(scores), the label Cast and ZipMap; with
    ovr=True (decision_function_shape='ovr', no probabilities, more than two classes) the scores
    go through skl2onnx's _ovr_decision_function tail (Less, Neg, ArrayFeatureExtractor, Sum,
    Concat, Abs, Add, Mul, Div); returns (nodes, initializers) then."""
    k = len(svc.classes_)
    ml = "ai.onnx.ml"
    scores = "before_ovr" if ovr else "probabilities"
    nodes = [helper.make_node("SVMClassifier", [x], ["label", "SVM02"],
                              name="SVMc", domain=ml, **_svc_attrs(svc)),
             helper.make_node("Cast", ["SVM02"], [scores], name="Cast",
                              to=TensorProto.FLOAT)]
    inits = []
    if ovr:
        inits += [_init("cst0", 0.0), _init("cst3", 3.0), _init("cst1", 1.0)]
        nodes += [
            helper.make_node("Less", ["before_ovr", "cst0"], ["negative"],
                             name="Less"),
            helper.make_node("Cast", ["negative"], ["inegative"],
                             name="Cast1", to=TensorProto.FLOAT),
            helper.make_node("Neg", ["before_ovr"], ["neg"], name="Neg"),
            helper.make_node("Identity", ["inegative"], ["prob_sign"],
                             name="Identity"),
            helper.make_node("Identity", ["neg"], ["prob_sign1"],
                             name="Identity1")]
        sumc = {i: [] for i in range(k)}
        vote = {i: [] for i in range(k)}
        p = 0
        for i in range(k):
            for j in range(i + 1, k):
                inits.append(_init("Cind_%d" % p, p, np.int64))
                nodes += [
                    helper.make_node("ArrayFeatureExtractor",
                                     ["prob_sign1", "Cind_%d" % p],
                                     ["Csvc_%d" % p], domain=ml,
                                     name="ArrayFeatureExtractor_c%d" % p),
                    helper.make_node("Neg", ["Csvc_%d" % p], ["Cneg_%d" % p],
                                     name="Neg_c%d" % p),
                    helper.make_node("ArrayFeatureExtractor",
                                     ["prob_sign", "Cind_%d" % p],
                                     ["Vsvcv_%d" % p], domain=ml,
                                     name="ArrayFeatureExtractor_v%d" % p),
                    helper.make_node("Neg", ["Vsvcv_%d" % p], ["Vnegv_%d" % p],
                                     name="Neg_v%d" % p),
                    helper.make_node("Add", ["Vnegv_%d" % p, "cst1"],
                                     ["Vnegv1_%d" % p],
                                     name="AddCl_%d_%d" % (i, j))]
                sumc[j].append("Csvc_%d" % p)
                sumc[i].append("Cneg_%d" % p)
                vote[j].append("Vsvcv_%d" % p)
                vote[i].append("Vnegv1_%d" % p)
                p += 1
        for i in range(k):
            nodes.append(helper.make_node("Sum", sumc[i], ["svcsumc_%d" % i],
                                          name="Sum_c%d" % i))
        for i in range(k):
            nodes.append(helper.make_node("Sum", vote[i], ["svcvote_%d" % i],
                                          name="Sum_v%d" % i))
        nodes += [
            helper.make_node("Concat", ["svcsumc_%d" % i for i in range(k)],
                             ["Csvcconc"], name="Concat", axis=1),
            helper.make_node("Concat", ["svcvote_%d" % i for i in range(k)],
                             ["Vsvcconcv"], name="Concat1", axis=1),
            helper.make_node("Abs", ["Csvcconc"], ["Cabs"], name="Abs"),
            helper.make_node("Add", ["Cabs", "cst1"], ["Cconc_abs1"],
                             name="AddF0"),
            helper.make_node("Mul", ["Cconc_abs1", "cst3"], ["Cconc_abs3"],
                             name="Mul"),
            helper.make_node("Div", ["Csvcconc", "Cconc_abs3"], ["Csvcfinal"],
                             name="Div"),
            helper.make_node("Add", ["Vsvcconcv", "Csvcfinal"], ["ovr_output"],
                             name="AddF1"),
            helper.make_node("Identity", ["ovr_output"], ["probabilities"],
                             name="Identity2")]
    tail, _ = classifier_tail(k)
    nodes += tail
    return (nodes, inits) if ovr else nodes


def _check_svc_graph(svc, X, labels, scores, ovr=True):
    """The exported attributes read as onnxruntime's SVMClassifier reads them (kernel values, the
    one-vs-one sums per pair, votes, [-d, d] for two classes, Platt + pairwise coupling with
    prob_a; skl2onnx's one-vs-rest tail unless ovr=False) give scikit-learn's predict and
    decision_function / predict_proba: an independent
    check of the sign conventions (written from onnxruntime's and libsvm's documented behaviour,
    in numpy; not blindml's code)."""
    a = _svc_attrs(svc)
    k = len(a["classlabels_ints"])
    nv = a["vectors_per_class"]
    start = np.concatenate([[0], np.cumsum(nv)])
    V = int(start[-1])
    sv = np.array(a["support_vectors"]).reshape(V, -1)
    coef = np.array(a["coefficients"]).reshape(k - 1, V)
    rho = np.array(a["rho"])
    K = X.astype(np.float32).astype(np.float64) @ sv.T
    d, votes = [], np.zeros((len(X), k))
    p = 0
    for i in range(k):
        for j in range(i + 1, k):
            si, sj = slice(start[i], start[i + 1]), slice(start[j], start[j + 1])
            v = K[:, si] @ coef[j - 1, si] + K[:, sj] @ coef[i, sj] + rho[p]
            d.append(v)
            votes[v > 0, i] += 1
            votes[~(v > 0), j] += 1
            p += 1
    d = np.stack(d, axis=1)
    got = np.array(a["classlabels_ints"])[np.argmax(votes, axis=1)]
    if not np.array_equal(got, labels):
        raise Fail("SVC export: votes differ from predict on %d rows"
                   % int(np.sum(got != labels)))
    if "prob_a" in a:
        out = []
        A, B = np.array(a["prob_a"]), np.array(a["prob_b"])
        for row in d:
            r = np.zeros((k, k))
            p = 0
            for i in range(k):
                for j in range(i + 1, k):
                    r[i, j] = min(max(1 / (1 + np.exp(row[p] * A[p] + B[p])),
                                      1e-7), 1 - 1e-7)
                    r[j, i] = 1 - r[i, j]
                    p += 1
            out.append(_pairwise_coupling(r))
        want = np.array(out)
    elif k == 2:
        want = np.concatenate([-d, d], axis=1)
    elif not ovr:
        want = d  # decision_function_shape='ovo': no tail, onnxruntime's raw scores
    else:
        # skl2onnx's tail: scikit-learn's _ovr_decision_function(d < 0, -d, k)
        want = np.zeros((len(X), k))
        conf = np.zeros((len(X), k))
        p = 0
        for i in range(k):
            for j in range(i + 1, k):
                want[d[:, p] >= 0, i] += 1
                want[d[:, p] < 0, j] += 1
                conf[:, i] += d[:, p]
                conf[:, j] -= d[:, p]
                p += 1
        want += conf / (3 * (np.abs(conf) + 1))
    err = np.max(np.abs(want - scores))
    if err > 1e-4:
        raise Fail("SVC export: scores differ from scikit-learn by %g" % err)


def _pairwise_coupling(r):
    """libsvm's multiclass_probability (Wu, Lin and Weng 2004, method 2), in numpy."""
    k = len(r)
    Q = np.zeros((k, k))
    for t in range(k):
        Q[t, t] = sum(r[j, t] ** 2 for j in range(k) if j != t)
        for j in range(k):
            if j != t:
                Q[t, j] = -r[j, t] * r[t, j]
    p = np.full(k, 1.0 / k)
    for _ in range(max(100, k)):
        Qp = Q @ p
        pQp = p @ Qp
        if np.max(np.abs(Qp - pQp)) < 0.005 / k:
            break
        for t in range(k):
            diff = (pQp - Qp[t]) / Q[t, t]
            p[t] += diff
            pQp = (pQp + diff * (diff * Q[t, t] + 2 * Qp[t])) / (1 + diff) ** 2
            Qp = (Qp + diff * Q[t, :]) / (1 + diff)
            p /= 1 + diff
    return p


def _mlp_label_tail(last):
    """skl2onnx's MLPClassifier tail (3 classes): Softmax, ArgMax -> ArrayFeatureExtractor(classes)
    -> Reshape -> Cast for the label, ZipMap for the probabilities."""
    return [
        helper.make_node("Softmax", [last], ["probabilities"], name="Softmax",
                         axis=1),
        helper.make_node("ArgMax", ["probabilities"], ["argmax"],
                         name="ArgMax", axis=1),
        helper.make_node("ArrayFeatureExtractor", ["classes", "argmax"],
                         ["array_feature_extractor_result"],
                         name="ArrayFeatureExtractor", domain="ai.onnx.ml"),
        helper.make_node("Reshape", ["array_feature_extractor_result",
                                     "shape_tensor"], ["reshaped"],
                         name="Reshape"),
        helper.make_node("Cast", ["reshaped"], ["label"], name="Cast",
                         to=TensorProto.INT64),
        helper.make_node("ZipMap", ["probabilities"], ["output_probability"],
                         name="ZipMap", domain="ai.onnx.ml",
                         classlabels_int64s=[0, 1, 2]),
    ]


def build_corpus(out_dir):
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVR
    dss = load_datasets()
    bc, iris, diab = dss["breast_cancer"], dss["iris"], dss["diabetes"]
    os.makedirs(out_dir, exist_ok=True)
    written = []

    def save(name, model, expected, external=False):
        path = os.path.join(out_dir, name + ".onnx")
        if external:
            # onnx appends to an existing data file: start from none
            if os.path.exists(path + ".data"):
                os.remove(path + ".data")
            onnx.save_model(model, path, save_as_external_data=True,
                            all_tensors_to_one_file=True,
                            location=name + ".onnx.data", size_threshold=0)
        else:
            onnx.save(model, path)
        expected(os.path.join(out_dir, name + ".expected.csv"))
        written.append(name)

    def clf_expected(est, X):
        proba = est.predict_proba(X)
        return lambda p: write_expected_classifier(p, est.predict(X), proba)

    # 1. skl2onnx Pipeline(StandardScaler, LogisticRegression), opset 21 / ml 5:
    #    Scaler -> LinearClassifier -> Cast + ZipMap.
    pipe = make_pipeline(StandardScaler(),
                         LogisticRegression(max_iter=5000, random_state=0))
    pipe.fit(bc.Xtr, bc.ytr)
    sc, lr = pipe.steps[0][1], pipe.steps[1][1]
    m = export_logistic_regression(lr.coef_, lr.intercept_, 2, False, "p")
    nodes = [helper.make_node("Scaler", ["X"], ["variable"], name="Scaler",
                              domain="ai.onnx.ml",
                              offset=f32list(sc.mean_),
                              scale=f32list(1.0 / sc.scale_))]
    nodes += _rename_input(list(m.graph.node), "X", "variable")
    save("skl2onnx_pipeline_scaler_logreg_breast_cancer",
         _opset_model("pipeline", nodes, [input_X(bc.Xtr.shape[1])],
                      list(m.graph.output), "Pipeline(StandardScaler, "
                      "LogisticRegression), skl2onnx shape", 21, 5),
         clf_expected(pipe, bc.Xte))

    # 2. tf2onnx / Keras Dense(1, sigmoid) shape: MatMul + Add + Sigmoid, the same logistic
    #    model with the standardization folded into its weights.
    w, b = fold_standardization(lr.coef_, lr.intercept_, sc.mean_, sc.scale_)
    nodes = [helper.make_node("MatMul", ["X", "W"], ["mm"], name="MatMul"),
             helper.make_node("Add", ["mm", "B"], ["logit"], name="BiasAdd"),
             helper.make_node("Sigmoid", ["logit"], ["Y"], name="Sigmoid")]
    save("tf2onnx_dense_sigmoid_breast_cancer",
         _opset_model("tf2onnx", nodes, [input_X(bc.Xtr.shape[1])],
                      [helper.make_tensor_value_info("Y", TensorProto.FLOAT,
                                                     [None, 1])],
                      "tf2onnx-style Dense(1, sigmoid)", 17, 0,
                      [_init("W", w.T), _init("B", b)]),
         clf_expected(pipe, bc.Xte))

    # 3. skl2onnx SVR(kernel='linear'): SVMRegressor with support vectors.
    svr = SVR(kernel="linear", C=1000.0, epsilon=1.0)
    svr.fit(diab.Xtr, diab.ytr)
    node = helper.make_node(
        "SVMRegressor", ["X"], ["variable"], name="SVM", domain="ai.onnx.ml",
        kernel_type="LINEAR", kernel_params=f32list([0.0, 0.0, 3.0]),
        support_vectors=f32list(svr.support_vectors_.ravel()),
        coefficients=f32list(svr.dual_coef_.ravel()),
        rho=f32list(svr.intercept_), n_supports=len(svr.support_vectors_),
        post_transform="NONE")
    pred = svr.predict(diab.Xte)
    save("skl2onnx_svr_linear_diabetes",
         _opset_model("svr", [node], [input_X(diab.Xtr.shape[1])],
                      [helper.make_tensor_value_info("variable",
                                                     TensorProto.FLOAT,
                                                     [None, 1])],
                      "SVR(kernel='linear'), skl2onnx shape", 21, 5),
         lambda p: write_expected_regressor(p, pred))

    # 4. skl2onnx Pipeline(StandardScaler, MLPClassifier) with its label tail:
    #    Scaler -> MatMul/Add/Relu/MatMul/Add -> Softmax -> ArgMax ->
    #    ArrayFeatureExtractor(classes) -> Reshape -> Cast, and ZipMap.
    mlp = make_pipeline(StandardScaler(),
                        MLPClassifier(hidden_layer_sizes=(16,), max_iter=3000,
                                      random_state=0))
    mlp.fit(iris.Xtr, iris.ytr)
    msc, net = mlp.steps[0][1], mlp.steps[1][1]
    nodes, inits, last = _mlp_nodes(net)
    nodes = _rename_input(nodes, "X", "scaled")
    nodes.insert(0, helper.make_node("Scaler", ["X"], ["scaled"],
                                     name="Scaler", domain="ai.onnx.ml",
                                     offset=f32list(msc.mean_),
                                     scale=f32list(1.0 / msc.scale_)))
    nodes += _mlp_label_tail(last)
    inits += [_init("classes", net.classes_, np.int64),
              _init("shape_tensor", [-1], np.int64)]
    save("skl2onnx_pipeline_mlpclassifier_iris",
         _opset_model("mlp", nodes, [input_X(iris.Xtr.shape[1])],
                      [helper.make_tensor_value_info("label",
                                                     TensorProto.INT64,
                                                     [None]),
                       zipmap_output_type()],
                      "Pipeline(StandardScaler, MLPClassifier), skl2onnx "
                      "shape with its label output", 21, 5, inits),
         clf_expected(mlp, iris.Xte))

    # 5. torch >= 2 shape: Gemm layers and Softmax, the weights in NAME.onnx.data (the same
    #    network with the standardization folded into its first layer).
    net2 = MLPClassifier(hidden_layer_sizes=(16,))
    net2.coefs_ = [c.copy() for c in net.coefs_]
    net2.intercepts_ = [b.copy() for b in net.intercepts_]
    w0, b0 = fold_standardization(net.coefs_[0].T, net.intercepts_[0],
                                  msc.mean_, msc.scale_)
    net2.coefs_[0], net2.intercepts_[0] = w0.T, b0
    nodes, inits, last = _mlp_nodes(net2, gemm=True)
    nodes.append(helper.make_node("Softmax", [last], ["output"],
                                  name="/Softmax", axis=-1))
    save("torch2_mlp_external_data_iris",
         _opset_model("main_graph", nodes, [input_X(iris.Xtr.shape[1])],
                      [helper.make_tensor_value_info("output",
                                                     TensorProto.FLOAT,
                                                     [None, 3])],
                      "torch.onnx (>= 2) shape, external data", 18, 0, inits),
         clf_expected(mlp, iris.Xte), external=True)

    # 6. onnxmltools LightGBM shape: a binary booster whose first tree carries the init score
    #    in its leaves, no base_values.
    def lightgbm_shape(gb):
        m = export_gradient_boosting_classifier(gb, bc.Xtr.shape[1], "lgbm")
        tree = [n for n in m.graph.node if n.op_type == "TreeEnsembleClassifier"][0]
        a = {x.name: helper.get_attribute_value(x) for x in tree.attribute}
        base = a.pop("base_values")[0]
        a["class_weights"] = [w + (base if t == 0 else 0.0) for w, t in
                              zip(a["class_weights"], a["class_treeids"])]
        for k, v in list(a.items()):
            if isinstance(v, bytes):
                a[k] = v.decode()
            elif isinstance(v, list) and v and isinstance(v[0], bytes):
                a[k] = [x.decode() for x in v]
        new = helper.make_node("TreeEnsembleClassifier", list(tree.input),
                               list(tree.output), name="LightGBM",
                               domain="ai.onnx.ml", **a)
        nodes = [new if n is tree else n for n in m.graph.node]
        return _opset_model("lgbm", nodes, list(m.graph.input),
                            list(m.graph.output), "onnxmltools LightGBM shape: "
                            "init score in the first tree", 15, 3)

    gb = GradientBoostingClassifier(n_estimators=20, max_depth=3,
                                    random_state=0)
    gb.fit(bc.Xtr, bc.ytr)
    save("onnxmltools_lightgbm_style_breast_cancer", lightgbm_shape(gb),
         clf_expected(gb, bc.Xte))
    # 7. skl2onnx Pipeline(StandardScaler, PCA(2), LogisticRegression): Scaler -> Sub(mean) ->
    #    MatMul(components^T) -> LinearClassifier -> Normalizer + ZipMap.
    from sklearn.decomposition import PCA
    pca_pipe = make_pipeline(StandardScaler(), PCA(n_components=2, random_state=0),
                             LogisticRegression(max_iter=5000, random_state=0))
    pca_pipe.fit(iris.Xtr, iris.ytr)
    psc, pca, plr = (s[1] for s in pca_pipe.steps)
    m = export_logistic_regression(plr.coef_, plr.intercept_, 3, True, "p")
    nodes = [helper.make_node("Scaler", ["X"], ["scaled"], name="Scaler",
                              domain="ai.onnx.ml", offset=f32list(psc.mean_),
                              scale=f32list(1.0 / psc.scale_)),
             helper.make_node("Sub", ["scaled", "pca_mean"], ["centred"],
                              name="Sub"),
             helper.make_node("MatMul", ["centred", "pca_components"],
                              ["variable"], name="MatMul")]
    nodes += _rename_input(list(m.graph.node), "X", "variable")
    save("skl2onnx_pipeline_scaler_pca_logreg_iris",
         _opset_model("pca", nodes, [input_X(iris.Xtr.shape[1])],
                      list(m.graph.output), "Pipeline(StandardScaler, PCA, "
                      "LogisticRegression), skl2onnx shape", 21, 5,
                      [_init("pca_mean", pca.mean_),
                       _init("pca_components", pca.components_.T)]),
         clf_expected(pca_pipe, iris.Xte))
    # 8. Large ensembles as people commit them (issue 13, part 4): scikit-learn's default
    #    RandomForestClassifier (100 unpruned trees, depth up to 10) and a 100-tree booster of
    #    depth 5 in the LightGBM shape above.
    rf100 = RandomForestClassifier(n_estimators=100, random_state=0)
    rf100.fit(bc.Xtr, bc.ytr)
    save("skl2onnx_random_forest_100_trees_breast_cancer",
         export_random_forest_classifier(rf100, bc.Xtr.shape[1], "rf100"),
         clf_expected(rf100, bc.Xte))
    gb100 = GradientBoostingClassifier(n_estimators=100, max_depth=5,
                                       random_state=0)
    gb100.fit(bc.Xtr, bc.ytr)
    save("onnxmltools_lightgbm_100_trees_breast_cancer", lightgbm_shape(gb100),
         clf_expected(gb100, bc.Xte))
    # 9. Issue 13 part 3, client-side preprocessing. Pipeline(StandardScaler, PCA(5),
    #    DecisionTreeClassifier): Scaler -> Sub(mean) -> MatMul(components^T) ->
    #    TreeEnsembleClassifier -> ZipMap; the PCA runs on the client (trees have no linear layer).
    pca_dt = make_pipeline(StandardScaler(), PCA(n_components=5, random_state=0),
                           DecisionTreeClassifier(max_depth=5, random_state=0))
    pca_dt.fit(bc.Xtr, bc.ytr)
    dsc, dpca, dtree = (s[1] for s in pca_dt.steps)
    m = export_decision_tree_classifier(dtree, 5, "pca_dt")
    save("skl2onnx_pipeline_pca_decision_tree_breast_cancer",
         _opset_model("pca_dt", _pca_prefix(dsc, dpca) +
                      _rename_input(list(m.graph.node), "X", "variable"),
                      [input_X(bc.Xtr.shape[1])], list(m.graph.output),
                      "Pipeline(StandardScaler, PCA, DecisionTreeClassifier), "
                      "skl2onnx shape", 21, 5, _pca_inits(dpca)),
         clf_expected(pca_dt, bc.Xte))
    # 10. Pipeline(StandardScaler, PCA(3), MLPClassifier(16)) with the label tail: the PCA's
    #    MatMul runs on the client, the MLP's own MatMul/Add layers on the server.
    pca_mlp = make_pipeline(StandardScaler(), PCA(n_components=3, random_state=0),
                            MLPClassifier(hidden_layer_sizes=(16,), max_iter=3000,
                                          random_state=0))
    pca_mlp.fit(iris.Xtr, iris.ytr)
    qsc, qpca, qnet = (s[1] for s in pca_mlp.steps)
    nodes, inits, last = _mlp_nodes(qnet)
    nodes = _pca_prefix(qsc, qpca) + _rename_input(nodes, "X", "variable")
    nodes += _mlp_label_tail(last)
    inits += _pca_inits(qpca) + [_init("classes", qnet.classes_, np.int64),
                                 _init("shape_tensor", [-1], np.int64)]
    save("skl2onnx_pipeline_pca_mlp_iris",
         _opset_model("pca_mlp", nodes, [input_X(iris.Xtr.shape[1])],
                      [helper.make_tensor_value_info("label",
                                                     TensorProto.INT64,
                                                     [None]),
                       zipmap_output_type()],
                      "Pipeline(StandardScaler, PCA, MLPClassifier), skl2onnx "
                      "shape with its label output", 21, 5, inits),
         clf_expected(pca_mlp, iris.Xte))
    # 11. ColumnTransformer on two graph inputs, numeric `num` float [N, 3] and categorical
    #    `cat` int64 [N, 2]: StandardScaler on num; OneHotEncoder on cat as skl2onnx writes it
    #    (per column Gather -> Cast(int64) -> OneHotEncoder [N, 1, c], Concat(axis=-1),
    #    Reshape(-1, sum c)); Concat(axis=1) -> LogisticRegression / DecisionTree. The data set
    #    (tests/data/mixed) is synthetic, written here.
    mixed = _mixed_dataset(os.path.join(os.path.dirname(out_dir), "mixed"))
    for est_name, est in (
            ("logreg", LogisticRegression(max_iter=5000, random_state=0)),
            ("decision_tree", DecisionTreeClassifier(max_depth=4,
                                                     random_state=0))):
        ct = _column_transformer(est)
        ct.fit(mixed.Xtr, mixed.ytr)
        save("skl2onnx_column_transformer_onehot_%s_mixed" % est_name,
             _export_column_transformer(ct, est_name),
             clf_expected(ct, mixed.Xte))
    # ... and with OneHotEncoder(drop="first", handle_unknown="error"): a Gather(axis=-1) of the
    #    kept categories after each encoder; the dropped category encodes to zeros, no error.
    ct = _column_transformer(LogisticRegression(max_iter=5000, random_state=0), drop="first")
    ct.fit(mixed.Xtr, mixed.ytr)
    save("skl2onnx_column_transformer_onehot_drop_first_logreg_mixed",
         _export_column_transformer(ct, "logreg"), clf_expected(ct, mixed.Xte))
    # 12. The same ColumnTransformer on a string input `cat` [N, 2] (the categories as words,
    #    tests/data/mixed_strings): OneHotEncoder(cats_strings) per column; and an
    #    OrdinalEncoder (ArrayFeatureExtractor -> LabelEncoder(keys_strings) -> Reshape, Concat,
    #    Cast) before a decision tree.
    smixed = _strings_dataset(mixed, os.path.join(os.path.dirname(out_dir),
                                                  "mixed_strings"))
    ct = _column_transformer(LogisticRegression(max_iter=5000, random_state=0),
                             categories="auto")
    ct.fit(smixed.Xtr, smixed.ytr)
    save("skl2onnx_column_transformer_onehot_strings_logreg_mixed",
         _export_column_transformer(ct, "logreg", strings=True),
         clf_expected(ct, smixed.Xte))
    ct = _ordinal_pipeline(DecisionTreeClassifier(max_depth=4, random_state=0))
    ct.fit(smixed.Xtr, smixed.ytr)
    save("skl2onnx_column_transformer_ordinal_strings_decision_tree_mixed",
         _export_ordinal(ct), clf_expected(ct, smixed.Xte))
    # 13. skl2onnx GaussianNB (opset 17: ReduceSum's axes an input, ReduceLogSumExp's an
    #    attribute): Reshape -> Sub(theta) -> Pow(2) -> Div(var) -> ReduceSum -> Mul(0.5) ->
    #    Sub(sigma_sum_log) -> Add(jointi), then ArgMax -> ArrayFeatureExtractor(classes, int32)
    #    -> Cast -> Reshape -> Cast for the label and ReduceLogSumExp -> Reshape -> Sub -> Exp ->
    #    ZipMap for the probabilities.
    from sklearn.naive_bayes import GaussianNB

    def gaussian_nb_shape(nb, n_features, name):
        C = len(nb.classes_)
        var = nb.var_
        nodes = [
            helper.make_node("Reshape", ["X", "reshape_shape"], ["reshaped_input"],
                             name="Reshape"),
            helper.make_node("Sub", ["reshaped_input", "theta"], ["subtracted_input"],
                             name="Sub"),
            helper.make_node("Pow", ["subtracted_input", "exponent"], ["pow_result"],
                             name="Pow"),
            helper.make_node("Div", ["pow_result", "sigma"], ["div_result"], name="Div"),
            helper.make_node("ReduceSum", ["div_result", "axis"], ["reduced_sum"],
                             name="ReduceSum", keepdims=0),
            helper.make_node("Mul", ["reduced_sum", "prod_operand"], ["mul_result"],
                             name="Mul"),
            helper.make_node("Sub", ["sigma_sum_log", "mul_result"],
                             ["part_log_likelihood"], name="Sub1"),
            helper.make_node("Add", ["jointi", "part_log_likelihood"], ["sum_result"],
                             name="Add"),
            helper.make_node("ArgMax", ["sum_result"], ["argmax_output"], name="ArgMax",
                             axis=1),
            helper.make_node("ReduceLogSumExp", ["sum_result"],
                             ["reduce_log_sum_exp_result"], name="ReduceLogSumExp",
                             axes=[1], keepdims=0),
            helper.make_node("Reshape", ["reduce_log_sum_exp_result", "log_prob_shape"],
                             ["reshaped_log_prob"], name="Reshape1"),
            helper.make_node("Sub", ["sum_result", "reshaped_log_prob"], ["log_prob"],
                             name="Sub2"),
            helper.make_node("Exp", ["log_prob"], ["probabilities"], name="Exp"),
            helper.make_node("ArrayFeatureExtractor", ["classes", "argmax_output"],
                             ["array_feature_extractor_result"],
                             name="ArrayFeatureExtractor", domain="ai.onnx.ml"),
            helper.make_node("Cast", ["array_feature_extractor_result"],
                             ["cast2_result"], name="Cast", to=TensorProto.FLOAT),
            helper.make_node("Reshape", ["cast2_result", "output_shape"],
                             ["reshaped_result"], name="Reshape2"),
            helper.make_node("Cast", ["reshaped_result"], ["label"], name="Cast1",
                             to=TensorProto.INT64),
            helper.make_node("ZipMap", ["probabilities"], ["output_probability"],
                             name="ZipMap", domain="ai.onnx.ml",
                             classlabels_int64s=[int(c) for c in nb.classes_]),
        ]
        inits = [
            _init("reshape_shape", [-1, 1, n_features], np.int64),
            _init("theta", nb.theta_.reshape((1, C, n_features))),
            _init("sigma", var.reshape((1, C, n_features))),
            _init("exponent", np.array(2.0)),
            _init("axis", [2], np.int64),
            _init("prod_operand", np.array(0.5)),
            _init("sigma_sum_log",
                  (-0.5 * np.sum(np.log(2.0 * np.pi * var), axis=1)).reshape((1, C))),
            _init("jointi", np.log(nb.class_prior_).reshape((1, C))),
            _init("log_prob_shape", [-1, 1], np.int64),
            _init("classes", nb.classes_, np.int32),
            _init("output_shape", [-1], np.int64),
        ]
        return _opset_model(name, nodes, [input_X(n_features)],
                            [helper.make_tensor_value_info("label", TensorProto.INT64,
                                                           [None]),
                             zipmap_output_type()],
                            "GaussianNB, skl2onnx shape", 17, 3, inits)

    for ds_name, ds in (("iris", iris), ("breast_cancer", bc)):
        nb = GaussianNB()
        nb.fit(ds.Xtr, ds.ytr)
        save("skl2onnx_gaussian_nb_" + ds_name,
             gaussian_nb_shape(nb, ds.Xtr.shape[1], "gnb"), clf_expected(nb, ds.Xte))
    # 14. skl2onnx MultinomialNB: MatMul(feature_log_prob^T) -> Add(class_log_prior), the
    #     same label and probability tails.
    from sklearn.naive_bayes import MultinomialNB
    mnb = MultinomialNB()
    mnb.fit(iris.Xtr, iris.ytr)
    C = len(mnb.classes_)
    nodes = [
        helper.make_node("MatMul", ["X", "feature_log_prob"], ["matmul_result"],
                         name="MatMul"),
        helper.make_node("Add", ["matmul_result", "class_log_prior"], ["sum_result"],
                         name="Add"),
        helper.make_node("ArgMax", ["sum_result"], ["argmax_output"], name="ArgMax", axis=1),
        helper.make_node("ReduceLogSumExp", ["sum_result"], ["reduce_log_sum_exp_result"],
                         name="ReduceLogSumExp", axes=[1], keepdims=0),
        helper.make_node("Reshape", ["reduce_log_sum_exp_result", "log_prob_shape"],
                         ["reshaped_log_prob"], name="Reshape"),
        helper.make_node("Sub", ["sum_result", "reshaped_log_prob"], ["log_prob"], name="Sub"),
        helper.make_node("Exp", ["log_prob"], ["probabilities"], name="Exp"),
        helper.make_node("ArrayFeatureExtractor", ["classes", "argmax_output"],
                         ["array_feature_extractor_result"], name="ArrayFeatureExtractor",
                         domain="ai.onnx.ml"),
        helper.make_node("Cast", ["array_feature_extractor_result"], ["cast2_result"],
                         name="Cast", to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["cast2_result", "output_shape"], ["reshaped_result"],
                         name="Reshape1"),
        helper.make_node("Cast", ["reshaped_result"], ["label"], name="Cast1",
                         to=TensorProto.INT64),
        helper.make_node("ZipMap", ["probabilities"], ["output_probability"], name="ZipMap",
                         domain="ai.onnx.ml",
                         classlabels_int64s=[int(c) for c in mnb.classes_]),
    ]
    inits = [_init("feature_log_prob", mnb.feature_log_prob_.T),
             _init("class_log_prior", mnb.class_log_prior_.reshape((1, C))),
             _init("log_prob_shape", [-1, 1], np.int64),
             _init("classes", mnb.classes_, np.int32),
             _init("output_shape", [-1], np.int64)]
    save("skl2onnx_multinomial_nb_iris",
         _opset_model("mnb", nodes, [input_X(iris.Xtr.shape[1])],
                      [helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
                       zipmap_output_type()],
                      "MultinomialNB, skl2onnx shape", 17, 3, inits),
         clf_expected(mnb, iris.Xte))
    # 15. skl2onnx SVC(kernel='linear') (issue 13, part 5): SVMClassifier with its support vectors,
    #    binary inside a Pipeline(StandardScaler, SVC), multiclass with skl2onnx's one-vs-rest tail
    #    (decision_function_shape='ovr', the default) and with probability=True (prob_a / prob_b).
    from sklearn.svm import SVC
    svc_pipe = make_pipeline(StandardScaler(), SVC(kernel="linear"))
    svc_pipe.fit(bc.Xtr, bc.ytr)
    ssc, svc2 = svc_pipe.steps[0][1], svc_pipe.steps[1][1]
    nodes = [helper.make_node("Scaler", ["X"], ["variable"], name="Scaler",
                              domain="ai.onnx.ml", offset=f32list(ssc.mean_),
                              scale=f32list(1.0 / ssc.scale_))]
    nodes += _svc_nodes(svc2, "variable")
    df = svc_pipe.decision_function(bc.Xte)
    _check_svc_graph(svc2, ssc.transform(bc.Xte), svc_pipe.predict(bc.Xte),
                     np.stack([df, -df], axis=1))
    save("skl2onnx_pipeline_scaler_svc_linear_breast_cancer",
         _opset_model("svc", nodes, [input_X(bc.Xtr.shape[1])],
                      _svc_outputs(), "Pipeline(StandardScaler, "
                      "SVC(kernel='linear')), skl2onnx shape", 21, 5),
         lambda p: write_expected_classifier(
             p, svc_pipe.predict(bc.Xte), np.stack([df, -df], axis=1)))

    svc3 = SVC(kernel="linear")
    svc3.fit(iris.Xtr, iris.ytr)
    nodes, inits = _svc_nodes(svc3, "X", ovr=True)
    _check_svc_graph(svc3, iris.Xte, svc3.predict(iris.Xte),
                     svc3.decision_function(iris.Xte))
    save("skl2onnx_svc_linear_iris",
         _opset_model("svc", nodes, [input_X(iris.Xtr.shape[1])],
                      _svc_outputs(), "SVC(kernel='linear'), skl2onnx shape "
                      "with its one-vs-rest decision tail", 21, 5, inits),
         lambda p: write_expected_classifier(
             p, svc3.predict(iris.Xte), svc3.decision_function(iris.Xte)))

    svco = SVC(kernel="linear", decision_function_shape="ovo")
    svco.fit(iris.Xtr, iris.ytr)
    nodes = _svc_nodes(svco, "X")
    _check_svc_graph(svco, iris.Xte, svco.predict(iris.Xte),
                     svco.decision_function(iris.Xte), ovr=False)
    save("skl2onnx_svc_linear_ovo_iris",
         _opset_model("svc", nodes, [input_X(iris.Xtr.shape[1])],
                      _svc_outputs(), "SVC(kernel='linear', "
                      "decision_function_shape='ovo'), skl2onnx shape", 21, 5),
         lambda p: write_expected_classifier(
             p, svco.predict(iris.Xte), svco.decision_function(iris.Xte)))

    svcp = SVC(kernel="linear", probability=True, random_state=0)
    svcp.fit(iris.Xtr, iris.ytr)
    nodes = _svc_nodes(svcp, "X")
    _check_svc_graph(svcp, iris.Xte, svcp.predict(iris.Xte),
                     svcp.predict_proba(iris.Xte))
    save("skl2onnx_svc_linear_probability_iris",
         _opset_model("svc", nodes, [input_X(iris.Xtr.shape[1])],
                      _svc_outputs(), "SVC(kernel='linear', probability=True),"
                      " skl2onnx shape", 21, 5),
         lambda p: write_expected_classifier(
             p, svcp.predict(iris.Xte), svcp.predict_proba(iris.Xte)))
    # 16. String class labels (a classifier fitted on the iris species' names): skl2onnx writes
    #     classlabels_strings, a string label output (no Cast) and ZipMap's classlabels_strings.
    #     The expected CSV's label column is the class's index in the estimator's classes_
    #     (sorted names), its proba columns predict_proba.
    names = np.array(["setosa", "versicolor", "virginica"])

    def with_string_labels(model, classes):
        g = model.graph
        nodes = []
        for n in g.node:
            if n.op_type == "Cast" and list(n.output) == ["output_label"]:
                n = helper.make_node("Identity", list(n.input), list(n.output), name=n.name)
            for a in list(n.attribute):
                if a.name in ("classlabels_ints", "classlabels_int64s"):
                    n.attribute.remove(a)
                    n.attribute.extend([helper.make_attribute("classlabels_strings",
                                                              [str(c) for c in classes])])
            nodes.append(n)
        t = onnx.TypeProto()
        m = t.sequence_type.elem_type.map_type
        m.key_type = TensorProto.STRING
        m.value_type.CopyFrom(helper.make_tensor_type_proto(TensorProto.FLOAT, None))
        outputs = [helper.make_tensor_value_info("output_label", TensorProto.STRING, [None]),
                   helper.make_value_info("output_probability", t)]
        return _opset_model(g.name, nodes, list(g.input), outputs,
                            model.doc_string + ", string class labels", 21, 5,
                            list(g.initializer))

    def index_expected(est, X):
        proba = est.predict_proba(X)
        idx = np.searchsorted(est.classes_, est.predict(X))
        return lambda p: write_expected_classifier(p, idx, proba)

    ys = names[iris.ytr]
    lr_s = LogisticRegression(max_iter=5000, random_state=0)
    lr_s.fit(iris.Xtr, ys)
    save("skl2onnx_logreg_string_labels_iris",
         with_string_labels(export_logistic_regression(lr_s.coef_, lr_s.intercept_, 3, True, "lr"),
                            lr_s.classes_),
         index_expected(lr_s, iris.Xte))
    rf_s = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0)
    rf_s.fit(iris.Xtr, ys)
    save("skl2onnx_random_forest_string_labels_iris",
         with_string_labels(export_random_forest_classifier(rf_s, iris.Xtr.shape[1], "rf"),
                            rf_s.classes_),
         index_expected(rf_s, iris.Xte))
    # 17. ai.onnx.ml 5's TreeEnsemble (what converters move to; TreeEnsembleRegressor is
    #     deprecated there): a DecisionTreeRegressor and a RandomForestRegressor written with
    #     separate interior-node and leaf lists, modes as a uint8 tensor, splits and weights as
    #     float32 tensors.
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.tree import DecisionTreeRegressor

    def tree_ensemble_v5(v3, doc):
        tree = [n for n in v3.graph.node if n.op_type == "TreeEnsembleRegressor"][0]
        a = {x.name: helper.get_attribute_value(x) for x in tree.attribute}
        modes = [m.decode() for m in a["nodes_modes"]]
        code = {"BRANCH_LEQ": 0, "BRANCH_LT": 1, "BRANCH_GTE": 2, "BRANCH_GT": 3,
                "BRANCH_EQ": 4, "BRANCH_NEQ": 5}
        key = list(zip(a["nodes_treeids"], a["nodes_nodeids"]))
        interior = [k for k, m in zip(key, modes) if m != "LEAF"]
        leaves = [k for k, m in zip(key, modes) if m == "LEAF"]
        iidx = {k: i for i, k in enumerate(interior)}
        lidx = {k: i for i, k in enumerate(leaves)}
        at = {k: i for i, k in enumerate(key)}
        weight = {(t, n): w for t, n, w in zip(a["target_treeids"], a["target_nodeids"],
                                               a["target_weights"])}
        splits, feats, mcodes, tids, tleaf, fids, fleaf = [], [], [], [], [], [], []
        for k in interior:
            i = at[k]
            splits.append(a["nodes_values"][i])
            feats.append(a["nodes_featureids"][i])
            mcodes.append(code[modes[i]])
            for ids, isleaf, child in ((tids, tleaf, a["nodes_truenodeids"][i]),
                                       (fids, fleaf, a["nodes_falsenodeids"][i])):
                c = (k[0], child)
                ids.append(lidx[c] if c in lidx else iidx[c])
                isleaf.append(1 if c in lidx else 0)
        roots = sorted({t for t, _ in key})
        node = helper.make_node(
            "TreeEnsemble", ["X"], ["variable"], name="TreeEnsemble", domain="ai.onnx.ml",
            nodes_splits=numpy_helper.from_array(np.array(splits, dtype=np.float32)),
            nodes_featureids=feats,
            nodes_modes=numpy_helper.from_array(np.array(mcodes, dtype=np.uint8)),
            nodes_truenodeids=tids, nodes_trueleafs=tleaf,
            nodes_falsenodeids=fids, nodes_falseleafs=fleaf,
            leaf_targetids=[0] * len(leaves),
            leaf_weights=numpy_helper.from_array(
                np.array([weight[k] for k in leaves], dtype=np.float32)),
            tree_roots=[iidx[(t, 0)] for t in roots], n_targets=1,
            aggregate_function=1, post_transform=0)
        return _opset_model("te5", [node], list(v3.graph.input), list(v3.graph.output),
                            doc, 21, 5)

    dtr = DecisionTreeRegressor(max_depth=5, random_state=0)
    dtr.fit(diab.Xtr, diab.ytr)
    pred_dtr = dtr.predict(diab.Xte)
    save("onnx_ml5_tree_ensemble_decision_tree_diabetes",
         tree_ensemble_v5(export_decision_tree_regressor(dtr, diab.Xtr.shape[1], "dt"),
                          "DecisionTreeRegressor as ai.onnx.ml 5's TreeEnsemble"),
         lambda p: write_expected_regressor(p, pred_dtr))
    rfr = RandomForestRegressor(n_estimators=10, max_depth=4, random_state=0)
    rfr.fit(diab.Xtr, diab.ytr)
    rf_attrs = empty_tree_attrs(False)
    for t, e in enumerate(rfr.estimators_):
        add_sklearn_tree(rf_attrs, False, e.tree_, t, 1.0 / len(rfr.estimators_), 0, False)
    pred_rfr = rfr.predict(diab.Xte)
    save("onnx_ml5_tree_ensemble_random_forest_diabetes",
         tree_ensemble_v5(export_tree_regressor(rf_attrs, diab.Xtr.shape[1], "rf", "rf"),
                          "RandomForestRegressor as ai.onnx.ml 5's TreeEnsemble"),
         lambda p: write_expected_regressor(p, pred_rfr))
    print("corpus: %d models in %s" % (len(written), out_dir))
    return written


MIXED_WORDS = (["red", "green", "blue", "white"], ["small", "medium", "large"])


def _strings_dataset(mixed, out):
    """tests/data/mixed with the categorical codes written as words (MIXED_WORDS)."""
    def words(X):
        rows = []
        for r in X:
            rows.append([float(v) for v in r[:3]] +
                        [MIXED_WORDS[k][int(r[3 + k])] for k in range(2)])
        return np.array(rows, dtype=object)
    Xtr, Xte = words(mixed.Xtr), words(mixed.Xte)
    os.makedirs(out, exist_ok=True)
    for split, X, y in (("train", Xtr, mixed.ytr), ("test", Xte, mixed.yte)):
        with open(os.path.join(out, split + ".csv"), "w", newline="\n") as f:
            f.write(",".join(mixed.feature_names + ["target"]) + "\n")
            for r, t in zip(X, y):
                f.write(",".join([fmt(v) for v in r[:3]] + list(r[3:]) +
                                 [str(int(t))]) + "\n")
    return Dataset("mixed_strings", mixed.feature_names, Xtr, Xte, mixed.ytr,
                   mixed.yte, "clf", 2)


def _ordinal_pipeline(est):
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder, StandardScaler
    ct = ColumnTransformer([("num", StandardScaler(), [0, 1, 2]),
                            ("cat", OrdinalEncoder(), [3, 4])])
    return Pipeline([("prep", ct), ("est", est)])


def _export_ordinal(pipe):
    """skl2onnx's OrdinalEncoder: per column ArrayFeatureExtractor(cat, k) ->
    LabelEncoder(keys_strings, values_int64s) -> Reshape(-1, 1); Concat(axis=1); Cast(float)."""
    ct, est = pipe.steps[0][1], pipe.steps[1][1]
    sc = ct.named_transformers_["num"]
    enc = ct.named_transformers_["cat"]
    nodes = [helper.make_node("Scaler", ["num"], ["num_scaled"],
                              name="Scaler", domain="ai.onnx.ml",
                              offset=f32list(sc.mean_),
                              scale=f32list(1.0 / sc.scale_))]
    inits, columns = [_init("column_shape", [-1, 1], np.int64)], []
    for k, cats in enumerate(enc.categories_):
        inits.append(_init("index%d" % k, k, np.int64))
        nodes += [
            helper.make_node("ArrayFeatureExtractor", ["cat", "index%d" % k],
                             ["feature_column%d" % k],
                             name="ArrayFeatureExtractor%d" % k,
                             domain="ai.onnx.ml"),
            helper.make_node("LabelEncoder", ["feature_column%d" % k],
                             ["label_encoder%d" % k], name="LabelEncoder%d" % k,
                             domain="ai.onnx.ml",
                             keys_strings=[str(c) for c in cats],
                             values_int64s=list(range(len(cats)))),
            helper.make_node("Reshape", ["label_encoder%d" % k, "column_shape"],
                             ["ordinal_output%d" % k], name="Reshape%d" % k)]
        columns.append("ordinal_output%d" % k)
    nodes += [
        helper.make_node("Concat", columns, ["concat_result"], name="Concat_cat",
                         axis=1),
        helper.make_node("Cast", ["concat_result"], ["cat_encoded"],
                         name="Cast", to=TensorProto.FLOAT),
        helper.make_node("Concat", ["num_scaled", "cat_encoded"],
                         ["transformed_column"], name="Concat", axis=1)]
    m = export_decision_tree_classifier(est, 5, "ordinal")
    nodes += _rename_input(list(m.graph.node), "X", "transformed_column")
    inputs = [helper.make_tensor_value_info("num", TensorProto.FLOAT,
                                            [None, 3]),
              helper.make_tensor_value_info("cat", TensorProto.STRING,
                                            [None, 2])]
    return _opset_model("ordinal", nodes, inputs, list(m.graph.output),
                        "Pipeline(ColumnTransformer(StandardScaler, "
                        "OrdinalEncoder), DecisionTree), skl2onnx shape with a "
                        "string input", 21, 5, inits)


def _pca_prefix(sc, pca):
    """skl2onnx's StandardScaler -> PCA: Scaler, Sub(mean), MatMul(components^T)."""
    return [helper.make_node("Scaler", ["X"], ["scaled"], name="Scaler",
                             domain="ai.onnx.ml", offset=f32list(sc.mean_),
                             scale=f32list(1.0 / sc.scale_)),
            helper.make_node("Sub", ["scaled", "pca_mean"], ["centred"],
                             name="Sub"),
            helper.make_node("MatMul", ["centred", "pca_components"],
                             ["variable"], name="MatMul")]


def _pca_inits(pca):
    return [_init("pca_mean", pca.mean_),
            _init("pca_components", pca.components_.T)]


MIXED_CATEGORIES = (4, 3)


def _mixed_dataset(out):
    """A small synthetic tabular set: 3 numeric and 2 categorical columns (integer codes),
    binary target; train 300 / test 100 rows, written to OUT/{train,test}.csv."""
    rng = np.random.RandomState(13)
    n = 400
    num = rng.normal(size=(n, 3)) * np.array([1.0, 3.0, 0.5]) + \
        np.array([0.0, 10.0, -2.0])
    cat = np.stack([rng.randint(0, c, size=n) for c in MIXED_CATEGORIES],
                   axis=1).astype(np.float64)
    effect0 = np.array([-1.5, 0.0, 1.0, 2.0])[cat[:, 0].astype(int)]
    effect1 = np.array([0.8, -0.8, 0.0])[cat[:, 1].astype(int)]
    logit = 1.2 * num[:, 0] - 0.4 * (num[:, 1] - 10.0) + effect0 + effect1 + \
        0.5 * rng.normal(size=n)
    y = (logit > 0).astype(np.int64)
    X = np.concatenate([np.round(num, 4), cat], axis=1)
    names = ["num0", "num1", "num2", "cat0", "cat1"]
    os.makedirs(out, exist_ok=True)
    write_dataset_csv(os.path.join(out, "train.csv"), names, X[:300], y[:300],
                      "clf")
    write_dataset_csv(os.path.join(out, "test.csv"), names, X[300:], y[300:],
                      "clf")
    return Dataset("mixed", names, X[:300], X[300:], y[:300], y[300:], "clf",
                   2)


def _column_transformer(est, categories=None, drop=None):
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    if categories is None:
        categories = [list(range(c)) for c in MIXED_CATEGORIES]
    ct = ColumnTransformer([
        ("num", StandardScaler(), [0, 1, 2]),
        ("cat", OneHotEncoder(handle_unknown="error" if drop else "ignore",
                              categories=categories, drop=drop), [3, 4])])
    return Pipeline([("prep", ct), ("est", est)])


def _export_column_transformer(pipe, est_name, strings=False):
    ct, est = pipe.steps[0][1], pipe.steps[1][1]
    sc = ct.named_transformers_["num"]
    ohe = ct.named_transformers_["cat"]
    nodes = [helper.make_node("Scaler", ["num"], ["num_scaled"],
                              name="Scaler", domain="ai.onnx.ml",
                              offset=f32list(sc.mean_),
                              scale=f32list(1.0 / sc.scale_))]
    inits, encoded = [], []
    for k, cats in enumerate(ohe.categories_):
        inits.append(_init("cat_index%d" % k, [k], np.int64))
        nodes.append(helper.make_node("Gather", ["cat", "cat_index%d" % k],
                                      ["cat%d" % k], name="Gather%d" % k,
                                      axis=1))
        if strings:  # no Cast: the encoder takes the strings
            nodes.append(helper.make_node(
                "OneHotEncoder", ["cat%d" % k], ["cat%d_out" % k],
                name="OneHotEncoder%d" % k, domain="ai.onnx.ml",
                cats_strings=[str(c) for c in cats], zeros=1))
        else:
            nodes += [
                helper.make_node("Cast", ["cat%d" % k], ["cat%d_cast" % k],
                                 name="Cast%d" % k, to=TensorProto.INT64),
                helper.make_node("OneHotEncoder", ["cat%d_cast" % k],
                                 ["cat%d_out" % k], name="OneHotEncoder%d" % k,
                                 domain="ai.onnx.ml",
                                 cats_int64s=[int(c) for c in cats],
                                 zeros=1 if ohe.handle_unknown == "ignore" else 0)]
        drop_idx = getattr(ohe, "drop_idx_", None)
        if drop_idx is not None and drop_idx[k] is not None:
            # skl2onnx: Gather(axis=-1) of the kept categories on the encoder's output
            keep = np.delete(np.arange(len(cats)), drop_idx[k])
            inits.append(_init("cat_keep%d" % k, keep, np.int64))
            nodes.append(helper.make_node("Gather", ["cat%d_out" % k, "cat_keep%d" % k],
                                          ["cat%d_kept" % k], name="Gather_keep%d" % k,
                                          axis=-1))
            encoded.append("cat%d_kept" % k)
        else:
            encoded.append("cat%d_out" % k)
    drops = getattr(ohe, "drop_idx_", None)
    width = sum(len(c) - (1 if drops is not None and drops[k] is not None else 0)
                for k, c in enumerate(ohe.categories_))
    inits.append(_init("cat_shape", [-1, width], np.int64))
    nodes += [
        helper.make_node("Concat", encoded, ["cat_concat"], name="Concat_cat",
                         axis=-1),
        helper.make_node("Reshape", ["cat_concat", "cat_shape"],
                         ["cat_encoded"], name="Reshape_cat"),
        helper.make_node("Concat", ["num_scaled", "cat_encoded"],
                         ["transformed_column"], name="Concat", axis=1)]
    features = 3 + width
    if est_name == "logreg":
        m = export_logistic_regression(est.coef_, est.intercept_, 2, False,
                                       "ct")
    else:
        m = export_decision_tree_classifier(est, features, "ct")
    nodes += _rename_input(list(m.graph.node), "X", "transformed_column")
    inputs = [helper.make_tensor_value_info("num", TensorProto.FLOAT,
                                            [None, 3]),
              helper.make_tensor_value_info(
                  "cat", TensorProto.STRING if strings else TensorProto.INT64,
                  [None, 2])]
    return _opset_model("column_transformer", nodes, inputs,
                        list(m.graph.output),
                        "Pipeline(ColumnTransformer(StandardScaler, "
                        "OneHotEncoder), %s), skl2onnx shape with two graph "
                        "inputs" % est_name, 21, 5, inits)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join("tests", "data"))
    ap.add_argument("--corpus", action="store_true",
                    help="write only the exporter-shaped corpus, OUT/corpus")
    args = ap.parse_args(argv)
    try:
        if args.corpus:
            build_corpus(os.path.join(args.out, "corpus"))
            return 0
        build_all(args.out)
    except Fail as e:
        print("FAILED: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
