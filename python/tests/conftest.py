"""Shared fixtures: the data sets (scikit-learn's own loaders, the same splits as tests/data),
the `blindml` binary from the build, a `blindml serve` process on 127.0.0.1."""

import os
import re
import shutil
import subprocess
import time

import numpy as np
import pytest


def _split(loader, classify):
    from sklearn.model_selection import train_test_split
    d = loader()
    X = np.asarray(d.data, dtype=np.float64)
    y = np.asarray(d.target)
    return train_test_split(X, y, test_size=0.25, random_state=42, stratify=y if classify else None)


@pytest.fixture(scope="session")
def breast_cancer():
    from sklearn.datasets import load_breast_cancer
    return _split(load_breast_cancer, True)


@pytest.fixture(scope="session")
def iris():
    from sklearn.datasets import load_iris
    return _split(load_iris, True)


@pytest.fixture(scope="session")
def diabetes():
    from sklearn.datasets import load_diabetes
    return _split(load_diabetes, False)


def blindml_binary():
    b = os.environ.get("BLINDML_BIN")
    if b and os.path.exists(b):
        return b
    here = os.path.dirname(os.path.abspath(__file__))
    cand = os.path.join(here, "..", "..", "build", "bin", "blindml")
    if os.path.exists(cand):
        return os.path.abspath(cand)
    return shutil.which("blindml")


class ServeProcess:
    def __init__(self, proc, url, log):
        self.proc, self.url, self.log = proc, url, log

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_serve(model_dir, key_dir, log_path, extra=()):
    """`blindml serve` on 127.0.0.1 and a free port; returns a ServeProcess once it listens."""
    binary = blindml_binary()
    if binary is None:
        pytest.skip("the blindml binary is not built (ninja -C build blindml)")
    log = open(log_path, "w+")
    proc = subprocess.Popen([binary, "serve", os.path.join(model_dir, "server.zip"), "--client",
                             os.path.join(model_dir, "client.zip"), "--host", "127.0.0.1", "--port", "0",
                             "--keys", key_dir, "--threads", "2", *extra], stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.time() + 30
    while time.time() < deadline:
        log.seek(0)
        m = re.search(r"on (http://127\.0\.0\.1:\d+)", log.read())
        if m:
            return ServeProcess(proc, m.group(1), log_path)
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    log.seek(0)
    raise RuntimeError("blindml serve did not start: " + log.read())
