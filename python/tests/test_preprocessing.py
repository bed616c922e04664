"""Client-side preprocessing from the graph (issue 13 part 3) through the Python API: a
ColumnTransformer exported with two graph inputs (num float [N, 3], cat int64 [N, 2]) takes one
array whose columns are the inputs' columns in graph-input order; the scaler and one-hot encoders
run on the client; labels equal the scikit-learn estimator's (tests/data/corpus)."""

import os

import numpy as np
import pytest

import blindml

DATA = os.environ.get("BLINDML_TEST_DATA_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data"))
NAME = "skl2onnx_column_transformer_onehot_logreg_mixed"


def _csv(path):
    a = np.loadtxt(path, delimiter=",", skiprows=1)
    return a


def test_column_transformer_two_inputs():
    train = _csv(os.path.join(DATA, "mixed", "train.csv"))[:, :-1]
    test = _csv(os.path.join(DATA, "mixed", "test.csv"))[:, :-1]
    expected = _csv(os.path.join(DATA, "corpus", NAME + ".expected.csv"))
    model = blindml.compile(os.path.join(DATA, "corpus", NAME + ".onnx"), train)
    assert model.n_features == 5  # the raw row, not the 10 encoded features
    assert "client row: 5 values" in model.report
    labels = model.predict(test, fhe="disable")
    np.testing.assert_array_equal(labels, expected[:, 0].astype(np.int64))
    np.testing.assert_array_equal(model.predict(test[:3], fhe="execute"), labels[:3])
    bad = test[:2].copy()
    bad[1, 3] = 1.5  # the int64 input 'cat'
    with pytest.raises(blindml.InvalidArgumentError, match="input 'cat'"):
        model.predict(bad, fhe="disable")


def test_string_input_words():
    # the same ColumnTransformer with the categories as words (a string graph input): an object
    # array's words map to the graph's vocabulary; the labels equal the integer-coded model's
    def words(path):
        rows = [line.strip().split(",") for line in open(path).readlines()[1:] if line.strip()]
        return np.array([[float(v) for v in r[:3]] + r[3:5] for r in rows], dtype=object)
    train = words(os.path.join(DATA, "mixed_strings", "train.csv"))
    test = words(os.path.join(DATA, "mixed_strings", "test.csv"))
    name = "skl2onnx_column_transformer_onehot_strings_logreg_mixed"
    expected = _csv(os.path.join(DATA, "corpus", name + ".expected.csv"))
    model = blindml.compile(os.path.join(DATA, "corpus", name + ".onnx"), train)
    np.testing.assert_array_equal(model.predict(test, fhe="disable"), expected[:, 0].astype(np.int64))
    unknown = test[:1].copy()
    unknown[0, 3] = "purple"  # handle_unknown='ignore': zeros
    assert model.predict(unknown, fhe="disable").shape == (1,)


def test_string_input_through_the_deployment_classes(tmp_path):
    # FHEModelClient maps words the same way: client -> server -> client equals predict
    from blindml.deployment import FHEModelClient, FHEModelDev, FHEModelServer
    def words(path):
        rows = [line.strip().split(",") for line in open(path).readlines()[1:] if line.strip()]
        return np.array([[float(v) for v in r[:3]] + r[3:5] for r in rows], dtype=object)
    train = words(os.path.join(DATA, "mixed_strings", "train.csv"))
    test = words(os.path.join(DATA, "mixed_strings", "test.csv"))[:3]
    name = "skl2onnx_column_transformer_onehot_strings_logreg_mixed"
    model = blindml.compile(os.path.join(DATA, "corpus", name + ".onnx"), train)
    FHEModelDev(tmp_path / "model", model).save()
    client = FHEModelClient(tmp_path / "model", key_dir=tmp_path / "keys")
    client.generate_private_and_evaluation_keys()
    server = FHEModelServer(tmp_path / "model")
    server.load()
    res = server.run(client.quantize_encrypt_serialize(test), client.get_serialized_evaluation_keys())
    np.testing.assert_array_equal(client.deserialize_decrypt_predict(res), model.predict(test, fhe="disable"))


def test_string_class_labels(tmp_path):
    # a LogisticRegression fitted on the iris species' names: predict answers the names, in
    # clear and FHE, and so does the deployment client (the expected CSV holds their indices)
    from blindml.deployment import FHEModelClient, FHEModelDev, FHEModelServer
    names = np.array(["setosa", "versicolor", "virginica"])
    train = _csv(os.path.join(DATA, "iris", "train.csv"))[:, :-1]
    test = _csv(os.path.join(DATA, "iris", "test.csv"))[:, :-1]
    name = "skl2onnx_logreg_string_labels_iris"
    expected = _csv(os.path.join(DATA, "corpus", name + ".expected.csv"))
    model = blindml.compile(os.path.join(DATA, "corpus", name + ".onnx"), train)
    assert list(model.classes_) == list(names)
    labels = model.predict(test, fhe="disable")
    np.testing.assert_array_equal(labels, names[expected[:, 0].astype(np.int64)])
    np.testing.assert_array_equal(model.predict(test[:3], fhe="execute"), labels[:3])
    FHEModelDev(tmp_path / "model", model).save()
    client = FHEModelClient(tmp_path / "model", key_dir=tmp_path / "keys")
    client.generate_private_and_evaluation_keys()
    server = FHEModelServer(tmp_path / "model")
    server.load()
    res = server.run(client.quantize_encrypt_serialize(test[:3]), client.get_serialized_evaluation_keys())
    np.testing.assert_array_equal(client.deserialize_decrypt_predict(res), labels[:3])
