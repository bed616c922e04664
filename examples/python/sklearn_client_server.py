#!/usr/bin/python3
"""Client/server deployment of a scikit-learn model with blindml, as in Concrete ML's
client-server notebook: train, compile, save the artifacts, then the client and the server
exchange only bytes (evaluation keys, encrypted inputs, encrypted answers).

    PYTHONPATH=python:build/python /usr/bin/python3 examples/python/sklearn_client_server.py
    # or, with the package installed: python examples/python/sklearn_client_server.py

--url http://127.0.0.1:8000 talks to a running `blindml serve DIR/server.zip --client DIR/client.zip`
instead of an in-process server (the model must be the one saved in --dir).
"""

import argparse
import os
import tempfile
import time

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

import blindml
from blindml.deployment import FHEModelClient, FHEModelDev, FHEModelServer


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", help="where to write client.zip / server.zip / keys (default: a temporary directory)")
    p.add_argument("--rows", type=int, default=5, help="test rows to predict under FHE (default %(default)s)")
    p.add_argument("--url", help="a running `blindml serve` to use as the server")
    args = p.parse_args()
    work = args.dir or tempfile.mkdtemp(prefix="blindml-example-")

    # --- development machine: train, compile, save ---------------------------------------------
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=42, stratify=y)
    clf = DecisionTreeClassifier(max_depth=4, random_state=0).fit(X_train, y_train)
    model = blindml.compile(clf, X_train)
    print(model.report)
    model_dir = os.path.join(work, "model")
    if not os.path.exists(os.path.join(model_dir, "client.zip")):
        FHEModelDev(model_dir, model).save()

    # --- client: keys, encryption ----------------------------------------------------------------
    if args.url:
        from blindml.http import Client as HttpClient
        remote = HttpClient(args.url)
        fetched = os.path.join(work, "fetched")
        os.makedirs(fetched, exist_ok=True)
        with open(os.path.join(fetched, "client.zip"), "wb") as f:
            f.write(remote.get_client())
        client = FHEModelClient(fetched, key_dir=os.path.join(work, "keys"))
    else:
        client = FHEModelClient(model_dir, key_dir=os.path.join(work, "keys"))
    t0 = time.time()
    client.generate_private_and_evaluation_keys()
    evaluation_keys = client.get_serialized_evaluation_keys()
    print("keys: %.2f s, evaluation keys %.1f MB" % (time.time() - t0, len(evaluation_keys) / 1e6))
    rows = X_test[: args.rows]
    encrypted = client.quantize_encrypt_serialize(rows)

    # --- server: run on encrypted data -------------------------------------------------------------
    t0 = time.time()
    if args.url:
        remote.add_key(evaluation_keys)
        answer = remote.compute(encrypted)
    else:
        server = FHEModelServer(model_dir)
        answer = server.run(encrypted, evaluation_keys)
    print("server: %.2f s for %d rows (%d bytes in, %d bytes out)" % (time.time() - t0, len(rows), len(encrypted),
                                                                        len(answer)))

    # --- client: decrypt ---------------------------------------------------------------------------
    proba = client.deserialize_decrypt_dequantize(answer)
    labels = proba.argmax(axis=1)
    print("FHE labels:     ", labels.tolist())
    print("clear labels:   ", model.predict(rows).tolist())
    print("sklearn labels: ", clf.predict(rows).tolist())
    assert np.array_equal(proba, model.predict_proba(rows)), "FHE must equal the clear quantized model"
    print("ok: FHE answers equal the clear model's (artifacts in %s)" % work)


if __name__ == "__main__":
    main()
