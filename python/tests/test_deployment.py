"""The deployment classes (Concrete ML's API) end to end: through files, and through a real
`blindml serve` on 127.0.0.1 with blindml.http. Answers must equal the clear model's."""

import os
import stat

import numpy as np
import pytest

import blindml
from blindml.deployment import FHEModelClient, FHEModelDev, FHEModelServer
from conftest import start_serve


@pytest.fixture(scope="module")
def tree_model(breast_cancer):
    from sklearn.tree import DecisionTreeClassifier
    Xtr, Xte, ytr, yte = breast_cancer
    est = DecisionTreeClassifier(max_depth=3, random_state=0).fit(Xtr, ytr)
    return blindml.compile(est, Xtr), Xte[:3]


def test_round_trip_through_files(tree_model, tmp_path):
    model, X = tree_model
    path_dir, key_dir = tmp_path / "model", tmp_path / "keys"
    dev = FHEModelDev(path_dir, model)
    dev.save()
    assert sorted(os.listdir(path_dir)) == ["client.zip", "server.zip"]
    with pytest.raises(FileExistsError):
        FHEModelDev(path_dir, model).save()

    client = FHEModelClient(path_dir, key_dir=key_dir)
    client.generate_private_and_evaluation_keys()
    assert stat.S_IMODE(os.stat(key_dir / "secret.key").st_mode) == 0o600
    ek = client.get_serialized_evaluation_keys()
    enc = client.quantize_encrypt_serialize(X)
    assert isinstance(enc, bytes) and isinstance(ek, bytes)

    server = FHEModelServer(path_dir)
    server.load()
    res = server.run(enc, ek)
    proba = client.deserialize_decrypt_dequantize(res)
    np.testing.assert_array_equal(proba, model.predict_proba(X))
    assert proba.shape == (3, 2)
    np.testing.assert_array_equal(client.deserialize_decrypt_predict(res), model.predict(X))

    # a new client on the same key_dir loads the keys instead of making new ones
    again = FHEModelClient(path_dir, key_dir=key_dir)
    again.generate_private_and_evaluation_keys()
    assert again.get_serialized_evaluation_keys() == ek
    np.testing.assert_array_equal(again.deserialize_decrypt_dequantize(res), proba)
    # force=True: new keys, which cannot read the old answer
    again.generate_private_and_evaluation_keys(force=True)
    with pytest.raises(blindml.InvalidArgumentError, match="another client's keys"):
        again.deserialize_decrypt_dequantize(res)

    # the aliases
    from blindml.deployment import client_server, fhe_client_server
    assert fhe_client_server.FHEModelClient is FHEModelClient is client_server.FHEModelClient


def test_regressor_answers_predict_shaped(diabetes, tmp_path):
    from sklearn.linear_model import LinearRegression
    Xtr, Xte, ytr, yte = diabetes
    model = blindml.compile(LinearRegression().fit(Xtr, ytr), Xtr)
    FHEModelDev(tmp_path, model).save()
    client = FHEModelClient(tmp_path)
    client.generate_private_and_evaluation_keys()
    res = FHEModelServer(tmp_path).run(client.quantize_encrypt_serialize(Xte[:4]),
                                       client.get_serialized_evaluation_keys())
    y = client.deserialize_decrypt_dequantize(res)
    assert y.shape == (4,)
    np.testing.assert_array_equal(y, model.predict(Xte[:4]))


def test_round_trip_through_blindml_serve(tree_model, tmp_path):
    from blindml.http import Client as HttpClient
    model, X = tree_model
    path_dir = tmp_path / "model"
    FHEModelDev(path_dir, model).save()
    serve = start_serve(str(path_dir), str(tmp_path / "server-keys"), str(tmp_path / "serve.log"))
    try:
        http = HttpClient(serve.url, timeout=60)
        assert http.health()
        assert http.info()["pbs_per_row"] == model.compile_report["pbs_count"]
        fetched = tmp_path / "fetched"
        fetched.mkdir()
        (fetched / "client.zip").write_bytes(http.get_client())
        client = FHEModelClient(fetched, key_dir=tmp_path / "keys")
        client.generate_private_and_evaluation_keys()
        uid = http.add_key(client.get_serialized_evaluation_keys())
        assert len(uid) == 32
        res = http.compute(client.quantize_encrypt_serialize(X))
        np.testing.assert_array_equal(client.deserialize_decrypt_dequantize(res), model.predict_proba(X))

        # the server's JSON errors as exceptions
        with pytest.raises(blindml.NotFoundError, match="HTTP 404") as e:
            http.compute(client.quantize_encrypt_serialize(X), uid="0" * 32)
        assert e.value.status == 404
        with pytest.raises(blindml.InvalidArgumentError, match="HTTP 400"):
            http.compute(b"not a ciphertext")
        with pytest.raises(blindml.InvalidArgumentError, match="HTTP 400"):
            http.add_key(b"garbage")
        with pytest.raises(blindml.ResourceExhaustedError, match="max_response"):
            HttpClient(serve.url, max_response=100).get_client()
        http.delete_key()
        with pytest.raises(blindml.NotFoundError):
            http.compute(client.quantize_encrypt_serialize(X), uid=uid)
    finally:
        serve.stop()
    with pytest.raises(blindml.BlindmlIOError):
        HttpClient(serve.url, timeout=5).health()
