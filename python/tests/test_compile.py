"""predict(fhe="execute") equals predict(fhe="disable") on a few rows, for every family (real
128-bit parameters, real keys): the FHE evaluator must give the clear evaluator's integers
except with the compiled error probability (2^-40 per lookup). MLPs use exact rounding, the mode
in which FHE equals the clear model bit for bit. Plus simulate and the compile report."""

import numpy as np
import pytest

import blindml

ROWS = 2


def fhe_equals_clear(model, X):
    # one FHE run per model (keygen + encrypt + run + decrypt); every output compared
    fhe = model._run(X[:ROWS], "execute")
    clear = model._run(X[:ROWS], "disable")
    assert fhe.keys() == clear.keys()
    for k in clear:
        np.testing.assert_array_equal(fhe[k], clear[k], err_msg=k)
    return fhe


def test_linear_classifier_and_regressor(breast_cancer, diabetes):
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    Xtr, Xte, ytr, yte = breast_cancer
    est = make_pipeline(StandardScaler(), LogisticRegression(max_iter=10000)).fit(Xtr, ytr)
    model = blindml.compile(est, Xtr)
    fhe_equals_clear(model, Xte)
    Xtr, Xte, ytr, yte = diabetes
    model = blindml.compile(Ridge(alpha=0.1).fit(Xtr, ytr), Xtr)
    fhe_equals_clear(model, Xte)
    assert model.predict(Xte[:ROWS], fhe="execute").shape == (ROWS,)  # keys reused


def test_trees(breast_cancer, iris, diabetes):
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.tree import DecisionTreeRegressor
    Xtr, Xte, ytr, yte = breast_cancer
    fhe_equals_clear(blindml.compile(RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0)
                                     .fit(Xtr, ytr), Xtr), Xte)
    Xtr, Xte, ytr, yte = iris
    fhe_equals_clear(blindml.compile(GradientBoostingClassifier(n_estimators=2, max_depth=2, random_state=0)
                                     .fit(Xtr, ytr), Xtr), Xte)
    Xtr, Xte, ytr, yte = diabetes
    fhe_equals_clear(blindml.compile(DecisionTreeRegressor(max_depth=3, random_state=0).fit(Xtr, ytr), Xtr), Xte)


def test_tree_comparisons(breast_cancer):
    # The server form (bins sent, comparisons computed under FHE) answers as the default client form.
    from sklearn.ensemble import RandomForestClassifier
    Xtr, Xte, ytr, yte = breast_cancer
    est = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(Xtr, ytr)
    client = blindml.compile(est, Xtr)
    server = blindml.compile(est, Xtr, tree_comparisons="server")
    assert "comparisons on the client" in client.report and "comparisons on the server" in server.report
    np.testing.assert_array_equal(client.predict_proba(Xte, fhe="disable"), server.predict_proba(Xte, fhe="disable"))
    np.testing.assert_array_equal(est.predict(Xte), client.predict(Xte, fhe="disable"))
    with pytest.raises(blindml.InvalidArgumentError, match="tree_comparisons"):
        blindml.compile(est, Xtr, tree_comparisons="both")


def test_xgboost(breast_cancer):
    xgb = pytest.importorskip("xgboost")
    Xtr, Xte, ytr, yte = breast_cancer
    est = xgb.XGBClassifier(n_estimators=3, max_depth=2, tree_method="exact", n_jobs=1, random_state=0)
    fhe_equals_clear(blindml.compile(est.fit(Xtr, ytr), Xtr), Xte)


def test_mlps(iris):
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    Xtr, Xte, ytr, yte = iris
    est = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(6,), max_iter=2000, random_state=0))
    fhe_equals_clear(blindml.compile(est.fit(Xtr, ytr), Xtr, exact_rounding=True, n_bits=4, rounding_bits=4), Xte)
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    fhe_equals_clear(blindml.compile(net, Xtr, classifier=True, exact_rounding=True, n_bits=4,
                                     rounding_bits=4), Xte)


def test_simulate_and_report(breast_cancer, tmp_path):
    from sklearn.tree import DecisionTreeClassifier
    Xtr, Xte, ytr, yte = breast_cancer
    model = blindml.compile(DecisionTreeClassifier(max_depth=3, random_state=0).fit(Xtr, ytr), Xtr)
    sim = model.predict_proba(Xte, fhe="simulate", seed=1)
    # errors at 2^-40 per lookup: simulation equals the clear model on these rows
    np.testing.assert_array_equal(sim, model.predict_proba(Xte, fhe="disable"))
    r = model.compile_report
    assert r["pbs_count"] > 0 and r["needs_bootstrapping"]
    p = r["parameters"]
    assert p["lwe_dimension"] >= 600 and p["polynomial_size"] >= 512
    assert r["evaluation_keys_bytes"] > 1_000_000 and r["secret_key_bytes"] > 0
    assert 0 < r["global_p_error"] < 1e-6
    assert "PBS" in model.report and p["fingerprint"] in model.report
    with pytest.raises(blindml.InvalidArgumentError, match="fhe="):
        model.predict(Xte, fhe="yes")
    with pytest.raises(blindml.InvalidArgumentError, match="regressor|classifier"):
        from sklearn.linear_model import LinearRegression
        blindml.compile(LinearRegression().fit(Xtr, ytr.astype(float)), Xtr).predict_proba(Xte)
    model.save(tmp_path / "m")
    assert (tmp_path / "m" / "client.zip").stat().st_size > 0 and (tmp_path / "m" / "server.zip").exists()
