"""Fitted scikit-learn estimators and Pipelines to ONNX-ML, our own exporter (skl2onnx is not in
Debian). It writes the standard operators and attributes skl2onnx writes for these families
(tests/data/README.md, "Graph conventions", describes them in full):

  linear regressors (LinearRegression, Ridge, Lasso, ElasticNet, LinearSVR, SGDRegressor, ...)
      -> LinearRegressor
  linear classifiers (LogisticRegression, SGDClassifier, LinearSVC, RidgeClassifier, Perceptron,
      SVC(kernel="linear") for two classes) -> LinearClassifier (+ Normalizer for one-vs-rest
      probabilities) + Cast + ZipMap; estimators without predict_proba answer their
      decision_function scores (post_transform NONE)
  DecisionTree*, RandomForest*, ExtraTrees*, GradientBoosting* -> TreeEnsembleClassifier /
      TreeEnsembleRegressor, float32 thresholds by skl2onnx's rule (exact as sklearn compares)
  MLPClassifier / MLPRegressor -> Gemm layers with Relu / Tanh / Sigmoid, final Softmax / Sigmoid
  GaussianNB / MultinomialNB -> skl2onnx's log-likelihood graph and its label / probability tails
  Pipeline(per-feature affine scalers..., one of the above): StandardScaler, MinMaxScaler,
      MaxAbsScaler, RobustScaler, ... are folded into the weights (linear, MLP) or the
      thresholds (trees).
  Pipeline(..., PCA / TruncatedSVD, ..., one of the above): the steps' affine map is folded
      into a linear model's weights, or written as MatMul + Add before the estimator's graph
      (which blindml runs on the client).

export(estimator) returns (onnx.ModelProto, ExportInfo).
"""

from dataclasses import dataclass, field

import numpy as np

from . import _onnx


class UnsupportedModelError(NotImplementedError):
    """The estimator (or a step of the Pipeline) is not a family blindml exports."""


@dataclass
class ExportInfo:
    kind: str                      # "classifier" or "regressor"
    n_features: int
    classes: object = None         # the estimator's classes_ (classifiers)
    has_predict_proba: bool = True
    notes: list = field(default_factory=list)


def _name(est):
    return type(est).__name__


def _is_classifier(est):
    from sklearn.base import is_classifier
    return is_classifier(est)


def _labels_for(classes):
    """ONNX int labels: the classes themselves when they are integers, else their indices."""
    classes = np.asarray(classes)
    if classes.dtype.kind in "iu" or (classes.dtype.kind in "fb" and np.all(classes == np.round(classes))):
        return [int(c) for c in classes]
    return list(range(len(classes)))


def _check_fitted(est):
    from sklearn.utils.validation import check_is_fitted
    try:
        check_is_fitted(est)
    except Exception as e:
        raise ValueError("%s is not fitted: call fit() before blindml.compile" % _name(est)) from e


# --------------------------------------------------------------------------------------------
# Affine preprocessing (Pipelines).

def _affine_of(transformer, n_features):
    """(a, b) with transformer.transform(x) == a * x + b per feature, or UnsupportedModelError."""
    rng = np.random.default_rng(0)
    probe = np.vstack([np.zeros(n_features), np.ones(n_features), rng.normal(size=(6, n_features)) * 3.0])
    try:
        out = np.asarray(transformer.transform(probe), dtype=np.float64)
    except Exception as e:
        raise UnsupportedModelError("Pipeline step %s cannot be probed: %s" % (_name(transformer), e)) from e
    if out.shape != probe.shape:
        raise UnsupportedModelError("Pipeline step %s changes the number of features (%d -> %d); blindml folds "
                                    "only per-feature affine scalers (StandardScaler, MinMaxScaler, ...)"
                                    % (_name(transformer), probe.shape[1], out.shape[1]))
    b = out[0]
    a = out[1] - out[0]
    if not np.allclose(out, probe * a + b, rtol=1e-9, atol=1e-9):
        raise UnsupportedModelError("Pipeline step %s is not a per-feature affine map; blindml folds only scalers "
                                    "such as StandardScaler, MinMaxScaler, MaxAbsScaler, RobustScaler"
                                    % _name(transformer))
    return a, b


def _linear_map_of(steps, n_features):
    """(M [F, K], c [K]) with the steps' transform(x) == x @ M + c (PCA, TruncatedSVD, scalers before
    and after them), or UnsupportedModelError naming the step that is not affine."""
    rng = np.random.default_rng(0)
    probe = np.vstack([np.zeros(n_features), np.eye(n_features), rng.normal(size=(8, n_features)) * 3.0])
    out = probe
    for t in steps:
        try:
            out = np.asarray(t.transform(out), dtype=np.float64)
        except Exception as e:
            raise UnsupportedModelError("Pipeline step %s cannot be probed: %s" % (_name(t), e)) from e
    c = out[0]
    M = out[1:n_features + 1] - c
    rest = probe[n_features + 1:]
    if out.ndim != 2 or not np.allclose(out[n_features + 1:], rest @ M + c, rtol=1e-7,
                                        atol=1e-7 * max(1.0, float(np.abs(out).max()))):
        raise UnsupportedModelError("Pipeline steps %s are not an affine map; blindml exports scalers "
                                    "(StandardScaler, MinMaxScaler, ...) and linear maps (PCA, TruncatedSVD)"
                                    % ", ".join(_name(t) for t in steps))
    return M, c


def _split_pipeline(est):
    """(affine, linear_map, final): a Pipeline's steps before its estimator as one per-feature
    affine map (a, b) when they are scalers, else as one linear map (M, c) (a PCA among them)."""
    from sklearn.pipeline import Pipeline
    if not isinstance(est, Pipeline):
        return None, None, est
    steps = [s for _, s in est.steps if s is not None and s != "passthrough"]
    if not steps:
        raise UnsupportedModelError("empty Pipeline")
    final = steps[-1]
    n = _n_features(final) if not steps[:-1] else _n_features(steps[0])
    if not steps[:-1]:
        return (np.ones(n), np.zeros(n)), None, final
    M, c = _linear_map_of(steps[:-1], n)
    if M.shape[0] == M.shape[1] and np.count_nonzero(M - np.diag(np.diag(M))) == 0:
        return (np.diag(M).copy(), c), None, final
    return None, (M, c), final


def _n_features(est):
    n = getattr(est, "n_features_in_", None)
    if n is None:
        raise ValueError("%s does not say how many features it takes (n_features_in_): is it fitted?" % _name(est))
    return int(n)


# --------------------------------------------------------------------------------------------
# Linear models.

def _fold_linear(coef, intercept, affine):
    """w.(a*x + b) + c == (w*a).x + (c + w.b)."""
    coef = np.atleast_2d(np.asarray(coef, dtype=np.float64))
    intercept = np.atleast_1d(np.asarray(intercept, dtype=np.float64)).ravel()
    if intercept.size == 1 and coef.shape[0] > 1:
        intercept = np.repeat(intercept, coef.shape[0])
    if affine is None:
        return coef, intercept
    a, b = affine
    return coef * a[None, :], intercept + coef @ b


def _linear(est, affine, name, folded=None):
    """folded: (coef, intercept) on the raw features when a linear map was folded in already."""
    coef = getattr(est, "coef_") if folded is None else folded[0]
    intercept = getattr(est, "intercept_", 0.0) if folded is None else folded[1]
    if np.isscalar(intercept) or np.ndim(intercept) == 0:
        intercept = np.array([float(intercept)])
    coef, intercept = _fold_linear(coef, intercept, affine)
    n = coef.shape[1]
    doc = "%s (blindml.export, skl2onnx conventions)" % _name(est)
    if not _is_classifier(est):
        return _onnx.linear_regressor(coef, intercept, name, doc), ExportInfo("regressor", n)
    classes = est.classes_
    labels = _labels_for(classes)
    proba = hasattr(est, "predict_proba")
    try:  # SGDClassifier(loss="hinge") has the attribute but raises
        if proba:
            est.predict_proba(np.zeros((1, _n_features(est))))
    except Exception:
        proba = False
    from sklearn.svm import SVC
    if isinstance(est, SVC):
        if est.kernel != "linear":
            raise UnsupportedModelError("SVC(kernel=%r): blindml supports linear kernels only (use kernel=\"linear\" "
                                        "or LinearSVC)" % est.kernel)
        if len(classes) != 2:
            raise UnsupportedModelError("SVC with %d classes (one-vs-one): blindml exports two-class SVCs; use "
                                        "LinearSVC for several classes" % len(classes))
        proba = False
    normalize = False
    if not proba:
        post = "NONE"
    elif len(classes) == 2:
        post = "LOGISTIC"
    else:
        multi = getattr(est, "multi_class", "ovr")
        solver = getattr(est, "solver", "")
        from sklearn.linear_model import LogisticRegression
        multinomial = isinstance(est, LogisticRegression) and (
            multi == "multinomial" or (multi == "auto" and solver != "liblinear"))
        if multinomial:
            post, normalize = "SOFTMAX", True
        else:
            post, normalize = "LOGISTIC", True
    model = _onnx.linear_classifier(coef, intercept, labels, post, name, doc, normalize_l1=normalize)
    info = ExportInfo("classifier", n, classes, proba)
    if not proba:
        info.notes.append("%s has no predict_proba: predict_proba answers its decision_function scores" % _name(est))
    return model, info


# --------------------------------------------------------------------------------------------
# Trees.

def sklearn_threshold_f32(dy):
    """skl2onnx's sklearn_threshold(dy, np.float32, 'BRANCH_LEQ'): the float32 t' with
    float32(x) <= t' <=> float32(x) <= dy for every float32 x."""
    dy = np.float64(dy)
    fy = np.float32(dy)
    if np.float64(fy) == dy or np.float64(fy) < dy:
        return float(fy)
    eps = max(abs(fy), np.finfo(np.float32).eps) * 10
    nfy = np.nextafter(np.array([fy], dtype=np.float32), np.array([fy - eps], dtype=np.float32))[0]
    return float(nfy)


def _tree_threshold(t, feature, affine):
    if affine is None:
        return sklearn_threshold_f32(t)
    a, b = affine
    if not a[feature] > 0:
        raise UnsupportedModelError("the Pipeline's scaler maps feature %d with factor %g; blindml folds only "
                                    "increasing scalers into tree thresholds" % (feature, a[feature]))
    # (a x + b) <= t  <=>  x <= (t - b) / a
    return sklearn_threshold_f32((float(t) - b[feature]) / a[feature])


def add_sklearn_tree(attrs, classifier, tree, tree_id, tree_weight, class_id, leaf_weights_are_counts, affine=None,
                     binary=False):
    """skl2onnx's add_tree_to_attribute_pairs. class_id: None for one weight per class (leaf
    values of a classifier tree), else the single output id the tree's value goes to."""
    pre = "class" if classifier else "target"
    for i in range(tree.node_count):
        left, right = int(tree.children_left[i]), int(tree.children_right[i])
        if left > i or right > i:
            mode, feat = "BRANCH_LEQ", int(tree.feature[i])
            value = _tree_threshold(tree.threshold[i], feat, affine)
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
        if class_id is not None:
            ids = [class_id]
            w = w[:1]
        elif binary:
            ids, w = [0], [w[1]]
        else:
            ids = list(range(len(w)))
        for k, x in zip(ids, w):
            attrs[pre + "_treeids"].append(tree_id)
            attrs[pre + "_nodeids"].append(i)
            attrs[pre + "_ids"].append(k)
            attrs[pre + "_weights"].append(x)


def _trees(est, affine, name):
    from sklearn.ensemble import (ExtraTreesClassifier, ExtraTreesRegressor, GradientBoostingClassifier,
                                  GradientBoostingRegressor, RandomForestClassifier, RandomForestRegressor)
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
    n = _n_features(est)
    doc = "%s (blindml.export, skl2onnx conventions)" % _name(est)
    if getattr(est, "n_outputs_", 1) != 1:
        raise UnsupportedModelError("%s with %d outputs: blindml exports single-output trees"
                                    % (_name(est), est.n_outputs_))
    if isinstance(est, (DecisionTreeClassifier, RandomForestClassifier, ExtraTreesClassifier)):
        trees = [est] if isinstance(est, DecisionTreeClassifier) else list(est.estimators_)
        attrs = _onnx.empty_tree_attrs(True)
        binary = len(est.classes_) == 2
        for t, e in enumerate(trees):
            add_sklearn_tree(attrs, True, e.tree_, t, 1.0 / len(trees), None, True, affine, binary=binary)
        return (_onnx.tree_classifier(attrs, _labels_for(est.classes_), n, name, doc),
                ExportInfo("classifier", n, est.classes_))
    if isinstance(est, (DecisionTreeRegressor, RandomForestRegressor, ExtraTreesRegressor)):
        trees = [est] if isinstance(est, DecisionTreeRegressor) else list(est.estimators_)
        attrs = _onnx.empty_tree_attrs(False)
        for t, e in enumerate(trees):
            add_sklearn_tree(attrs, False, e.tree_, t, 1.0 / len(trees), 0, False, affine)
        return _onnx.tree_regressor(attrs, 1, n, name, doc), ExportInfo("regressor", n)
    if isinstance(est, GradientBoostingRegressor):
        if est.init not in (None, "zero") or est.loss not in ("squared_error", "absolute_error", "huber", "quantile"):
            raise UnsupportedModelError("GradientBoostingRegressor(init=%r, loss=%r)" % (est.init, est.loss))
        attrs = _onnx.empty_tree_attrs(False)
        attrs["base_values"] = [float(v) for v in est._raw_predict_init(np.zeros((1, n))).ravel()]
        for t in range(est.n_estimators_):
            add_sklearn_tree(attrs, False, est.estimators_[t][0].tree_, t, est.learning_rate, 0, False, affine)
        return _onnx.tree_regressor(attrs, 1, n, name, doc), ExportInfo("regressor", n)
    if isinstance(est, GradientBoostingClassifier):
        if est.init not in (None, "zero") or est.loss not in ("log_loss", "deviance"):
            raise UnsupportedModelError("GradientBoostingClassifier(init=%r, loss=%r): blindml exports the default "
                                        "log-loss" % (est.init, est.loss))
        attrs = _onnx.empty_tree_attrs(True)
        base = est._raw_predict_init(np.zeros((1, n))).ravel()
        attrs["base_values"] = [float(v) for v in base]
        k_trees = est.estimators_.shape[1]
        for t in range(est.n_estimators_):
            for k in range(k_trees):
                add_sklearn_tree(attrs, True, est.estimators_[t][k].tree_, t * k_trees + k, est.learning_rate, k,
                                 False, affine)
        attrs["post_transform"] = "LOGISTIC" if k_trees == 1 else "SOFTMAX"
        return (_onnx.tree_classifier(attrs, _labels_for(est.classes_), n, name, doc),
                ExportInfo("classifier", n, est.classes_))
    raise UnsupportedModelError(_name(est))


# --------------------------------------------------------------------------------------------
# MLPs.

_ACTIVATIONS = {"relu": "Relu", "tanh": "Tanh", "logistic": "Sigmoid", "identity": None}


def _mlp(est, affine, name):
    if est.activation not in _ACTIVATIONS:
        raise UnsupportedModelError("%s(activation=%r)" % (_name(est), est.activation))
    layers = [(np.asarray(w, np.float64), np.asarray(b, np.float64)) for w, b in zip(est.coefs_, est.intercepts_)]
    if affine is not None:
        a, b = affine
        w0, b0 = layers[0]
        layers[0] = (w0 * a[:, None], b0 + b @ w0)
    out = est.out_activation_
    final = {"softmax": "Softmax", "logistic": "Sigmoid", "identity": None}.get(out, "?")
    if final == "?":
        raise UnsupportedModelError("%s with output activation %r" % (_name(est), out))
    doc = "%s (blindml.export)" % _name(est)
    model = _onnx.dense_network(layers, _ACTIVATIONS[est.activation], final, name, doc)
    n = layers[0][0].shape[0]
    if _is_classifier(est):
        if getattr(est, "n_outputs_", 1) > 1 and out == "logistic" and len(est.classes_) != 2:
            raise UnsupportedModelError("multi-label MLPClassifier")
        return model, ExportInfo("classifier", n, est.classes_)
    return model, ExportInfo("regressor", n)


# --------------------------------------------------------------------------------------------
# Naive Bayes.

def _naive_bayes(est, affine, name):
    """GaussianNB and MultinomialNB as skl2onnx writes them. A Pipeline's per-feature scaler
    x' = a·x + b is folded in: GaussianNB's means become (θ - b)/a and variances σ/a² (the log
    terms change by a constant per row, which the softmax and the argmax ignore); MultinomialNB's
    x'·W = x·(a∘W) + b·W."""
    from sklearn.naive_bayes import GaussianNB, MultinomialNB
    classes = est.classes_
    labels = _labels_for(classes)
    doc = "%s (blindml.export, skl2onnx conventions)" % _name(est)
    info = ExportInfo("classifier", int(est.n_features_in_), classes)
    if isinstance(est, GaussianNB):
        theta, var = np.asarray(est.theta_, dtype=np.float64), np.asarray(est.var_, dtype=np.float64)
        if affine is not None:
            a, b = affine
            if np.any(a == 0):
                raise UnsupportedModelError("the Pipeline's scaler maps a feature to a constant before GaussianNB")
            theta, var = (theta - b[None, :]) / a[None, :], var / (a[None, :] ** 2)
        return _onnx.gaussian_nb(theta, var, np.log(est.class_prior_), labels, name, doc), info
    if isinstance(est, MultinomialNB):
        flp = np.asarray(est.feature_log_prob_, dtype=np.float64)
        prior = np.asarray(est.class_log_prior_, dtype=np.float64)
        if affine is not None:
            a, b = affine
            flp, prior = flp * a[None, :], prior + flp @ b
        return _onnx.multinomial_nb(flp, prior, labels, name, doc), info
    raise UnsupportedModelError("%s: blindml exports GaussianNB and MultinomialNB" % _name(est))


# --------------------------------------------------------------------------------------------
# A linear map (PCA, TruncatedSVD) before the estimator.

def _with_linear_map(final, linear_map, name):
    """A linear model: the map folded into its weights (y = (x M + c) W + b). Any other estimator:
    its graph on the K components, behind MatMul(M) + Add(c) on the F raw features, as skl2onnx
    writes a PCA (the client runs that prefix in the clear, docs/models.md)."""
    M, c = linear_map
    mod = type(final).__module__
    if hasattr(final, "coef_") and (mod.startswith("sklearn.linear_model") or mod.startswith("sklearn.svm")):
        coef = np.atleast_2d(np.asarray(final.coef_, dtype=np.float64))
        intercept = np.atleast_1d(np.asarray(getattr(final, "intercept_", 0.0), dtype=np.float64)).ravel()
        if intercept.size == 1 and coef.shape[0] > 1:
            intercept = np.repeat(intercept, coef.shape[0])
        return _linear(final, None, name, folded=(coef @ M.T, intercept + coef @ c))
    model, info = export(final, name)
    onnx = _onnx._onnx()
    helper = onnx.helper
    g = model.graph
    for n in g.node:
        for k, v in enumerate(n.input):
            if v == "X":
                n.input[k] = "components"
    nodes = [helper.make_node("MatMul", ["X", "pca_matrix"], ["projected"], name="MatMul_pca"),
             helper.make_node("Add", ["projected", "pca_offset"], ["components"], name="Add_pca")] + list(g.node)
    inits = [onnx.numpy_helper.from_array(M.astype(np.float32), "pca_matrix"),
             onnx.numpy_helper.from_array(c.astype(np.float32), "pca_offset")] + list(g.initializer)
    wrapped = _onnx.make_model(name, nodes, [_onnx.input_x(M.shape[0])], list(g.output),
                               model.doc_string + ", after a linear map (PCA)", inits)
    info.n_features = int(M.shape[0])
    info.notes.append("the Pipeline's linear map (%d -> %d, a PCA) runs on the client" % M.shape)
    return wrapped, info


# --------------------------------------------------------------------------------------------

def export(est, name="model"):
    """(onnx.ModelProto, ExportInfo) of a fitted estimator or Pipeline."""
    _check_fitted(est)
    affine, linear_map, final = _split_pipeline(est)
    _check_fitted(final)
    if linear_map is not None:
        return _with_linear_map(final, linear_map, name)
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    if isinstance(final, (MLPClassifier, MLPRegressor)):
        return _mlp(final, affine, name)
    mod = type(final).__module__
    if mod.startswith("sklearn.tree") or mod.startswith("sklearn.ensemble"):
        return _trees(final, affine, name)
    if hasattr(final, "coef_") and (mod.startswith("sklearn.linear_model") or mod.startswith("sklearn.svm")):
        return _linear(final, affine, name)
    if mod.startswith("sklearn.naive_bayes"):
        return _naive_bayes(final, affine, name)
    raise UnsupportedModelError(
        "%s is not a family blindml exports (linear models, SVMs with a linear kernel, decision trees, random "
        "forests, extra trees, gradient boosting, MLPs, GaussianNB / MultinomialNB, and Pipelines of per-feature scalers before one of them); "
        "export it to ONNX yourself and pass the file" % _name(final))
