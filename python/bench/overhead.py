#!/usr/bin/python3
"""Python-side overhead per call of the deployment API, against the same C++ calls timed inside
C++ (the extension's _cpp_call_seconds: the C++ API call in a C++ timer, inputs already
converted): what the bindings and the Python classes add (argument conversion, bytes copies, GIL
release) to encrypt, run and decrypt, on 1 and on 100 rows.

    PYTHONPATH=python:build/python /usr/bin/python3 python/bench/overhead.py [--repeat N]

Two models: the linear one (a leveled circuit: encrypt/run/decrypt take microseconds to
milliseconds, so the overhead is visible) and a small tree (PBS: run takes seconds, the overhead
vanishes). For each call it times the Python path (FHEModelClient / FHEModelServer, the classes a
user calls, with a list of lists as input: checks, conversion to float64, bytes), the raw
binding (native.Client.encrypt on a prepared float64 array: the C++ call plus the conversion to
std::vector rows and the bytes copy out) and the C++ call alone, as medians of N repeats,
interleaved so that machine load hits all three alike.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np


def median_time(fn, repeat):
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=21)
    p.add_argument("--skip-tree", action="store_true", help="only the leveled (linear) model")
    args = p.parse_args()

    import blindml
    from blindml._native import native
    from blindml.deployment import FHEModelClient, FHEModelDev, FHEModelServer
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_breast_cancer(return_X_y=True)
    models = [("linear (leveled)", LogisticRegression(max_iter=10000).fit(X, y))]
    if not args.skip_tree:
        models.append(("tree depth 3 (PBS)", DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)))
    print("| model | rows | call | C++ API (ms) | raw binding (ms) | Python API (ms) | overhead (ms) | overhead % |")
    print("|---|---|---|---|---|---|---|---|")
    for name, est in models:
        work = tempfile.mkdtemp(prefix="blindml-bench-")
        model = blindml.compile(est, X)
        FHEModelDev(os.path.join(work, "m"), model).save()
        client = FHEModelClient(os.path.join(work, "m"))
        client.generate_private_and_evaluation_keys()
        ek = client.get_serialized_evaluation_keys()
        server = FHEModelServer(os.path.join(work, "m"))
        raw_client, raw_server = client.client, server.server
        raw_keys = raw_server.load_evaluation_keys(ek)
        server.run(client.quantize_encrypt_serialize(X[:1]), ek)  # expand and cache the keys
        for rows in ((1, 100) if "PBS" not in name else (1, 10)):
            Xr = np.ascontiguousarray(X[:rows])
            Xlist = X[:rows].tolist()  # what a user may pass: a list of lists
            enc = client.quantize_encrypt_serialize(Xr)
            out = server.run(enc, ek)
            repeat = args.repeat if "PBS" not in name else max(3, args.repeat // 7)
            calls = [
                ("encrypt", lambda: client.quantize_encrypt_serialize(Xlist), lambda: raw_client.encrypt(Xr)),
                ("run", lambda: server.run(enc, ek), lambda: raw_server.run(enc, raw_keys)),
                ("decrypt", lambda: client.deserialize_decrypt_dequantize(out), lambda: raw_client.decrypt(out)),
            ]
            for call, py_fn, raw_fn in calls:
                py_t, raw_t, cpp_t = [], [], []
                for _ in range(repeat):  # interleaved
                    py_t.append(median_time(py_fn, 1))
                    raw_t.append(median_time(raw_fn, 1))
                    cpp_t.append(native._cpp_call_seconds(raw_client, raw_server, raw_keys, call, Xr, enc, out, 1))
                a = statistics.median(py_t) * 1e3
                b = statistics.median(raw_t) * 1e3
                c = statistics.median(cpp_t) * 1e3
                print("| %s | %d | %s | %.3f | %.3f | %.3f | %.3f | %.1f |" % (
                    name, rows, call, c, b, a, a - c, 100.0 * (a - c) / c if c > 0 else 0.0))
                sys.stdout.flush()


if __name__ == "__main__":
    main()
