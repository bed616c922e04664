"""Bad inputs raise the right exception with a message that says what is wrong; the GIL is
released while C++ works (two threads inside encrypt at once)."""

import threading

import numpy as np
import pytest

import blindml
from blindml._native import native
from blindml.deployment import FHEModelClient, FHEModelDev, FHEModelServer


@pytest.fixture(scope="module")
def two_models(breast_cancer, tmp_path_factory):
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier
    Xtr, Xte, ytr, yte = breast_cancer
    root = tmp_path_factory.mktemp("models")
    out = []
    for name, est in (("tree", DecisionTreeClassifier(max_depth=2, random_state=0)),
                      ("linear", LogisticRegression(max_iter=10000))):
        model = blindml.compile(est.fit(Xtr, ytr), Xtr)
        FHEModelDev(root / name, model).save()
        client = FHEModelClient(root / name)
        client.generate_private_and_evaluation_keys()
        out.append((model, client, FHEModelServer(root / name)))
    return out, Xte


def test_wrong_feature_count(two_models):
    (tree, client, _), _ = two_models[0][0], None
    X = two_models[1]
    with pytest.raises(blindml.InvalidArgumentError, match="29 features per row, the model takes 30"):
        tree.predict(X[:2, :29])
    with pytest.raises(blindml.InvalidArgumentError, match="the model takes 30"):
        client.quantize_encrypt_serialize(X[:2, :29])
    # the C++ check, below the Python one
    with pytest.raises(blindml.InvalidArgumentError, match="takes 30 features, the row has 29"):
        client.client.encrypt(np.ascontiguousarray(X[:2, :29]))
    with pytest.raises(ValueError, match="2-D"):
        tree.predict(X[0])


def test_nan_and_infinity(two_models):
    (tree, client, _) = two_models[0][0]
    X = two_models[1][:2].copy()
    X[1, 4] = np.nan
    for f in (lambda: tree.predict(X), lambda: client.quantize_encrypt_serialize(X)):
        with pytest.raises(blindml.InvalidArgumentError) as e:
            f()
        # the C++ message names the row and the feature (clear prediction counts rows from 0,
        # encryption from 1)
        assert "not a finite number" in str(e.value) and "feature 4" in str(e.value)
        assert "row 1" in str(e.value) or "row 2" in str(e.value)
    X[1, 4] = np.inf
    with pytest.raises(blindml.InvalidArgumentError, match="not a finite number"):
        client.quantize_encrypt_serialize(X)


def test_wrong_dtype(two_models):
    (tree, client, server) = two_models[0][0]
    X = two_models[1][:2]
    with pytest.raises(TypeError, match="dtype"):
        tree.predict(X.astype(str))
    with pytest.raises(TypeError, match="dtype"):
        client.quantize_encrypt_serialize(np.array([["a"] * 30]))
    with pytest.raises(TypeError, match="bytes"):
        server.run("not bytes", client.get_serialized_evaluation_keys())
    # other numeric dtypes are converted
    np.testing.assert_array_equal(tree.predict(X.astype(np.float32)), tree.predict(X.astype(np.float32)
                                                                                    .astype(np.float64)))


def test_keys_and_data_of_another_model(two_models):
    (tree, tree_client, tree_server), (lin, lin_client, lin_server) = two_models[0]
    X = two_models[1][:2]
    enc = tree_client.quantize_encrypt_serialize(X)
    with pytest.raises(blindml.InvalidArgumentError, match="another model"):
        tree_server.run(enc, lin_client.get_serialized_evaluation_keys())
    with pytest.raises(blindml.InvalidArgumentError, match="another model"):
        lin_server.run(enc, lin_client.get_serialized_evaluation_keys())
    res = tree_server.run(enc, tree_client.get_serialized_evaluation_keys())
    with pytest.raises(blindml.InvalidArgumentError, match="another model"):
        lin_client.deserialize_decrypt_dequantize(res)
    # an input encrypted under other keys of the same model
    other = FHEModelClient(tree_client.path_dir)
    other.generate_private_and_evaluation_keys()
    with pytest.raises(blindml.InvalidArgumentError, match="another client's keys"):
        tree_server.run(other.quantize_encrypt_serialize(X), tree_client.get_serialized_evaluation_keys())


def test_corrupted_bytes_and_missing_files(two_models, tmp_path):
    (tree, client, server) = two_models[0][0]
    X = two_models[1][:2]
    enc = bytearray(client.quantize_encrypt_serialize(X))
    enc[len(enc) // 2] ^= 0xFF
    with pytest.raises(blindml.CorruptedError):
        server.run(bytes(enc), client.get_serialized_evaluation_keys())
    with pytest.raises(blindml.CorruptedError):
        server.run(b"BLMD" + b"\0" * 10, client.get_serialized_evaluation_keys())
    with pytest.raises(blindml.BlindmlError) as e:
        FHEModelClient(tmp_path / "nowhere")
    assert isinstance(e.value, (blindml.BlindmlIOError, blindml.NotFoundError))
    assert "nowhere" in str(e.value)
    with pytest.raises(blindml.InvalidArgumentError, match="at most 4096"):
        client.client.generate_keys(threads=1_000_000)
    assert blindml.InvalidArgumentError.code == "invalid_argument"
    assert issubclass(blindml.InvalidArgumentError, ValueError)


def test_gil_is_released_during_encrypt(two_models):
    """Two threads encrypt at once on one client: the extension counts the calls that are inside
    C++ with the GIL released; the peak reaches 2 only if they really overlap (with the GIL
    held, the second thread could not enter until the first returned)."""
    (lin, client, _) = two_models[0][1]
    X = np.repeat(two_models[1][:1], 3000, axis=0)  # a call of a few hundred ms
    barrier = threading.Barrier(2)
    errors = []

    def work():
        try:
            barrier.wait()
            client.quantize_encrypt_serialize(X)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    peak = 0
    for _ in range(5):  # a scheduler could still serialise one attempt; five in a row it cannot
        native._reset_concurrency_peak()
        threads = [threading.Thread(target=work) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        peak = native._concurrency_peak()
        if peak >= 2:
            break
    assert peak == 2


def test_gil_is_released_during_keygen_and_run(two_models):
    (tree, client, server) = two_models[0][0]
    X = two_models[1][:1]
    enc = client.quantize_encrypt_serialize(X)
    ek = client.get_serialized_evaluation_keys()
    server.run(enc, ek)  # keys expanded once, cached
    native._reset_concurrency_peak()
    other = native.Client.load(str(client.path_dir) + "/client.zip")
    t = threading.Thread(target=other.generate_keys, kwargs={"threads": 1})
    t.start()
    for _ in range(20):  # runs while the other thread generates keys
        server.run(enc, ek)
        if native._concurrency_peak() >= 2:
            break
    t.join()
    assert native._concurrency_peak() == 2
