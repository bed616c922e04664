"""The exporters: every supported family, fitted, exported to ONNX, run by blindml's own float
reference interpreter (the C++ loader and evaluator the compiler uses): it must equal the
estimator's own predict / predict_proba on the test rows. Then the compiled model in the clear
(fhe="disable") must agree with the estimator (trees exactly: blindml bins features on their
thresholds; linear models and MLPs within quantization)."""

import numpy as np
import pytest

import blindml
from blindml._native import native
from blindml.export import UnsupportedModelError, to_onnx

PROBA_TOL = 1e-5   # float32 parameters and inputs vs sklearn's float64
REG_REL_TOL = 1e-4


def onnx_outputs(onnx_bytes, X):
    return native.evaluate_onnx(onnx_bytes, np.ascontiguousarray(X, dtype=np.float64))


def check_classifier(est, X, tol=PROBA_TOL):
    onx, info = to_onnx(est)
    assert info.kind == "classifier"
    out = onnx_outputs(onx, X)
    proba = out["output_probability"] if "output_probability" in out else out["output"]
    if hasattr(est, "predict_proba") and info.has_predict_proba:
        ref = est.predict_proba(X)
        if proba.shape[1] == 1:  # one sigmoid output
            proba = np.hstack([1 - proba, proba])
        np.testing.assert_allclose(proba, ref, atol=tol, rtol=0)
    else:
        ref = est.decision_function(X)
        if ref.ndim == 1:
            ref = np.stack([-ref, ref], axis=1)
        np.testing.assert_allclose(proba, ref, atol=tol * max(1.0, np.abs(ref).max()), rtol=0)
    labels = np.asarray(est.classes_)[np.argmax(proba, axis=1)]
    np.testing.assert_array_equal(labels, est.predict(X))
    return onx, info


def check_regressor(est, X):
    onx, info = to_onnx(est)
    assert info.kind == "regressor"
    out = onnx_outputs(onx, X)
    pred = (out["variable"] if "variable" in out else out["output"]).reshape(len(X), -1)[:, 0]
    ref = est.predict(X)
    np.testing.assert_allclose(pred, ref, atol=REG_REL_TOL * max(1.0, np.abs(ref).max()), rtol=0)
    return onx, info


def agreement(model, est, X):
    return float(np.mean(model.predict(X) == est.predict(X)))


def exact_agreement(model, est, X, margin=0.02):
    """Label agreement on the rows whose two best probabilities differ by more than the
    quantization of the leaf values can move them (trees: the paths themselves are exact)."""
    p = np.sort(est.predict_proba(X), axis=1)
    clear = (p[:, -1] - p[:, -2]) > margin
    assert clear.mean() > 0.8
    return float(np.mean(model.predict(X)[clear] == est.predict(X)[clear]))


# --- linear ------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: __import__("sklearn.linear_model", fromlist=["x"]).LinearRegression(),
    lambda: __import__("sklearn.linear_model", fromlist=["x"]).Ridge(alpha=0.5),
    lambda: __import__("sklearn.linear_model", fromlist=["x"]).Lasso(alpha=0.01),
    lambda: __import__("sklearn.linear_model", fromlist=["x"]).ElasticNet(alpha=0.001),
    lambda: __import__("sklearn.svm", fromlist=["x"]).LinearSVR(max_iter=100000, C=10.0, random_state=0),
    lambda: __import__("sklearn.linear_model", fromlist=["x"]).SGDRegressor(random_state=0),
], ids=["LinearRegression", "Ridge", "Lasso", "ElasticNet", "LinearSVR", "SGDRegressor"])
def test_linear_regressors(make, diabetes):
    Xtr, Xte, ytr, yte = diabetes
    est = make().fit(Xtr, ytr)
    check_regressor(est, Xte)
    model = blindml.compile(est, Xtr)
    assert model.kind == "regressor" and model.family == "linear"
    pred, ref = model.predict(Xte), est.predict(Xte)
    assert pred.shape == ref.shape
    # 8-bit inputs and weights (test rows beyond the calibration range are clipped): close on
    # average, and never far
    span = ref.max() - ref.min()
    assert np.abs(pred - ref).mean() < 0.01 * span
    assert np.abs(pred - ref).max() < 0.1 * span


def test_logistic_binary_and_linear_svms(breast_cancer):
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, LinearSVC
    Xtr, Xte, ytr, yte = breast_cancer
    for est in (make_pipeline(StandardScaler(), LogisticRegression(max_iter=10000)),
                make_pipeline(StandardScaler(), LinearSVC(max_iter=100000, random_state=0)),
                make_pipeline(StandardScaler(), SVC(kernel="linear")),
                make_pipeline(StandardScaler(), SGDClassifier(loss="log_loss", random_state=0))):
        est.fit(Xtr, ytr)
        check_classifier(est, Xte)
        model = blindml.compile(est, Xtr)
        assert model.family == "linear" and model.compile_report["pbs_count"] == 0
        assert agreement(model, est, Xte) >= 0.97, est


def test_logistic_multiclass(iris):
    from sklearn.linear_model import LogisticRegression, RidgeClassifier
    Xtr, Xte, ytr, yte = iris
    for est in (LogisticRegression(max_iter=10000),                   # multinomial: softmax
                LogisticRegression(solver="liblinear"),               # one-vs-rest: sigmoid + L1
                RidgeClassifier()):                                   # scores
        est.fit(Xtr, ytr)
        check_classifier(est, Xte)
        model = blindml.compile(est, Xtr)
        assert agreement(model, est, Xte) >= 0.9, est
        if hasattr(est, "predict_proba"):
            assert np.abs(model.predict_proba(Xte) - est.predict_proba(Xte)).max() < 0.1


def test_string_class_labels(iris):
    from sklearn.linear_model import LogisticRegression
    Xtr, Xte, ytr, yte = iris
    names = np.array(["setosa", "versicolor", "virginica"])
    est = LogisticRegression(max_iter=10000).fit(Xtr, names[ytr])
    model = blindml.compile(est, Xtr)
    pred = model.predict(Xte)
    assert set(pred) <= set(names)
    assert np.mean(pred == est.predict(Xte)) >= 0.9


def test_naive_bayes(iris, breast_cancer):
    # GaussianNB (bare and after a scaler, folded) and MultinomialNB: the exported graph answers
    # predict_proba; compiled, leveled (no PBS), the labels agree and FHE equals the clear model
    from sklearn.naive_bayes import GaussianNB, MultinomialNB
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    for (Xtr, Xte, ytr, yte), est in ((iris, GaussianNB()), (breast_cancer, GaussianNB()),
                                      (breast_cancer, make_pipeline(StandardScaler(), GaussianNB())),
                                      (iris, MultinomialNB())):
        est.fit(Xtr, ytr)
        check_classifier(est, Xte, tol=1e-4)
        model = blindml.compile(est, Xtr)
        assert model.family == "linear" and model.compile_report["pbs_count"] == 0
        assert agreement(model, est, Xte) >= 0.97, est
        np.testing.assert_array_equal(model.predict(Xte[:3], fhe="execute"), model.predict(Xte[:3]))


def test_pipeline_with_a_pca(iris, breast_cancer):
    # a PCA (a linear map that changes the width) before a linear model is folded into its
    # weights; before a forest or an MLP it is written as MatMul + Add, run on the client
    from sklearn.decomposition import PCA
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    for (Xtr, Xte, ytr, yte), est, min_agree in (
            (iris, make_pipeline(StandardScaler(), PCA(2, random_state=0), LogisticRegression(max_iter=5000)), 0.97),
            (breast_cancer, make_pipeline(StandardScaler(), PCA(5, random_state=0),
                                          RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0)), 0.95),
            (iris, make_pipeline(StandardScaler(), PCA(3, random_state=0),
                                 MLPClassifier(hidden_layer_sizes=(8,), max_iter=3000, random_state=0)), 0.9)):
        est.fit(Xtr, ytr)
        check_classifier(est, Xte, tol=1e-4)
        model = blindml.compile(est, Xtr)
        assert model.n_features == Xtr.shape[1]
        assert agreement(model, est, Xte) >= min_agree, est
        if model.compile_report["pbs_count"] == 0:  # FHE of the PBS models: cli_flow's PCA tree
            np.testing.assert_array_equal(model.predict(Xte[:2], fhe="execute"), model.predict(Xte[:2]))


# --- trees -------------------------------------------------------------------------------------

def _tree_classifiers():
    from sklearn.ensemble import ExtraTreesClassifier, GradientBoostingClassifier, RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier
    return [DecisionTreeClassifier(max_depth=4, random_state=0),
            RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0),
            ExtraTreesClassifier(n_estimators=5, max_depth=3, random_state=0),
            GradientBoostingClassifier(n_estimators=5, max_depth=2, random_state=0)]


@pytest.mark.parametrize("dataset", ["breast_cancer", "iris"])
def test_tree_classifiers(dataset, request):
    Xtr, Xte, ytr, yte = request.getfixturevalue(dataset)
    for est in _tree_classifiers():
        est.fit(Xtr, ytr)
        check_classifier(est, Xte)
        model = blindml.compile(est, Xtr)
        assert model.family == "tree_ensemble"
        # exact binning: the encrypted model takes the float model's paths on every row
        assert exact_agreement(model, est, Xte) == 1.0, est
        assert np.abs(model.predict_proba(Xte) - est.predict_proba(Xte)).max() < 0.05, est


def test_tree_regressors(diabetes):
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
    from sklearn.tree import DecisionTreeRegressor
    Xtr, Xte, ytr, yte = diabetes
    for est in (DecisionTreeRegressor(max_depth=4, random_state=0),
                RandomForestRegressor(n_estimators=4, max_depth=3, random_state=0),
                GradientBoostingRegressor(n_estimators=5, max_depth=2, random_state=0)):
        est.fit(Xtr, ytr)
        check_regressor(est, Xte)
        model = blindml.compile(est, Xtr)
        ref = est.predict(Xte)
        # leaf values on 8 bits: within 1% of the range
        assert np.abs(model.predict(Xte) - ref).max() < 0.01 * (ytr.max() - ytr.min()) + 1e-9, est


def test_pipeline_scaler_before_tree(breast_cancer):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler
    from sklearn.tree import DecisionTreeClassifier
    Xtr, Xte, ytr, yte = breast_cancer
    est = make_pipeline(StandardScaler(), MinMaxScaler(), DecisionTreeClassifier(max_depth=4, random_state=0))
    est.fit(Xtr, ytr)
    check_classifier(est, Xte)


# --- MLPs --------------------------------------------------------------------------------------

def test_sklearn_mlps(iris, breast_cancer, diabetes):
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    for (Xtr, Xte, ytr, yte), act in ((iris, "relu"), (breast_cancer, "tanh")):
        est = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(8,), activation=act,
                                                            max_iter=2000, random_state=0))
        est.fit(Xtr, ytr)
        check_classifier(est, Xte)
        model = blindml.compile(est, Xtr)
        assert model.family == "mlp"
        assert agreement(model, est, Xte) >= 0.85
    Xtr, Xte, ytr, yte = diabetes
    est = make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(8,), max_iter=3000, random_state=0))
    est.fit(Xtr, ytr)
    check_regressor(est, Xte)


# --- XGBoost, torch ----------------------------------------------------------------------------

def test_xgboost(breast_cancer, iris, diabetes):
    xgb = pytest.importorskip("xgboost")
    for (Xtr, Xte, ytr, yte) in (breast_cancer, iris):
        est = xgb.XGBClassifier(n_estimators=5, max_depth=3, tree_method="exact", n_jobs=1, random_state=0)
        est.fit(Xtr, ytr)
        check_classifier(est, Xte)
        model = blindml.compile(est, Xtr)
        assert exact_agreement(model, est, Xte) == 1.0
    Xtr, Xte, ytr, yte = diabetes
    est = xgb.XGBRegressor(n_estimators=5, max_depth=3, tree_method="exact", n_jobs=1, random_state=0)
    est.fit(Xtr, ytr)
    check_regressor(est, Xte)


def test_torch_module(iris):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    Xtr, Xte, ytr, yte = iris
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    xt, yt = torch.tensor(Xtr, dtype=torch.float32), torch.tensor(ytr)
    for _ in range(200):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(xt), yt).backward()
        opt.step()
    onx, info = to_onnx(net, example_input=Xtr[:1], classifier=True)
    with torch.no_grad():
        ref = net(torch.tensor(Xte, dtype=torch.float32)).double().numpy()
    out = onnx_outputs(onx, Xte)["output"]
    np.testing.assert_allclose(out, ref, atol=1e-4, rtol=0)
    model = blindml.compile(net, Xtr, classifier=True)
    assert model.kind == "classifier" and model.family == "mlp"
    assert np.mean(model.predict(Xte) == ref.argmax(axis=1)) >= 0.9


# --- refusals ----------------------------------------------------------------------------------

def test_unsupported_models_are_refused_by_name(breast_cancer):
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier
    Xtr, Xte, ytr, yte = breast_cancer
    with pytest.raises(UnsupportedModelError, match="kernel"):
        blindml.compile(SVC(kernel="rbf").fit(Xtr, ytr), Xtr)
    with pytest.raises(UnsupportedModelError, match="KNeighborsClassifier"):
        blindml.compile(KNeighborsClassifier().fit(Xtr, ytr), Xtr)
    with pytest.raises(ValueError, match="not fitted"):
        blindml.compile(DecisionTreeClassifier(), Xtr)
    with pytest.raises(TypeError, match="unknown options"):
        blindml.compile(DecisionTreeClassifier().fit(Xtr, ytr), Xtr, nbits=3)


def test_onnx_path_and_bytes(tmp_path, breast_cancer):
    from sklearn.tree import DecisionTreeClassifier
    Xtr, Xte, ytr, yte = breast_cancer
    est = DecisionTreeClassifier(max_depth=3, random_state=0).fit(Xtr, ytr)
    onx, _ = to_onnx(est)
    path = tmp_path / "m.onnx"
    path.write_bytes(onx)
    a = blindml.compile(str(path), Xtr)
    b = blindml.compile(onx, Xtr)
    np.testing.assert_array_equal(a.predict(Xte), est.predict(Xte))
    assert a.model_id == b.model_id
    with pytest.raises(blindml.BlindmlError):
        blindml.compile(b"not an onnx file", Xtr)


# --- the same graphs as the committed test models ----------------------------------------------

def _read_csv(path):
    a = np.loadtxt(path, delimiter=",", skiprows=1)
    return a[:, :-1], a[:, -1]


def _node_attrs(model_bytes_or_proto, op):
    import onnx
    m = model_bytes_or_proto
    if isinstance(m, bytes):
        m = onnx.load_from_string(m)
    node = [n for n in m.graph.node if n.op_type == op][0]
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


@pytest.mark.parametrize("name,make,op", [
    ("decision_tree_breast_cancer",
     lambda: __import__("sklearn.tree", fromlist=["x"]).DecisionTreeClassifier(max_depth=5, random_state=0),
     "TreeEnsembleClassifier"),
    ("gradient_boosting_breast_cancer",
     lambda: __import__("sklearn.ensemble", fromlist=["x"]).GradientBoostingClassifier(
         n_estimators=20, max_depth=3, random_state=0), "TreeEnsembleClassifier"),
    ("decision_tree_diabetes",
     lambda: __import__("sklearn.tree", fromlist=["x"]).DecisionTreeRegressor(max_depth=5, random_state=0),
     "TreeEnsembleRegressor"),
    ("linear_regression_diabetes",
     lambda: __import__("sklearn.linear_model", fromlist=["x"]).LinearRegression(), "LinearRegressor"),
])
def test_same_graph_as_the_committed_models(name, make, op):
    """The package's exporter and tools/make_test_models.py (which wrote tests/data/models and
    checked them against the estimators with its own interpreter) write the same operator with
    the same attributes for the same fitted estimator."""
    import os
    data = os.environ.get("BLINDML_TEST_DATA_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", "tests",
                                                                  "data")
    dataset = name.rsplit("_", 2)[-2] + "_" + name.rsplit("_", 1)[-1] if name.endswith("cancer") else "diabetes"
    Xtr, ytr = _read_csv(os.path.join(data, dataset, "train.csv"))
    est = make().fit(Xtr, ytr.astype(np.int64) if dataset != "diabetes" else ytr)
    ours, _ = to_onnx(est)
    with open(os.path.join(data, "models", name + ".onnx"), "rb") as f:
        committed = f.read()
    a, b = _node_attrs(ours, op), _node_attrs(committed, op)
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], list) and a[k] and isinstance(a[k][0], float):
            np.testing.assert_array_equal(np.float32(a[k]), np.float32(b[k]), err_msg=k)
        else:
            assert a[k] == b[k], k
