"""The example scripts run and check themselves (each asserts FHE == clear)."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def run(script, *args):
    r = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "python", script), *args],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_five_lines():
    out = run("five_lines.py")
    assert out.strip().startswith("[")


def test_sklearn_client_server(tmp_path):
    out = run("sklearn_client_server.py", "--dir", str(tmp_path), "--rows", "3")
    assert "ok: FHE answers equal the clear model's" in out


def test_sklearn_client_server_over_http(tmp_path):
    from conftest import start_serve
    run("sklearn_client_server.py", "--dir", str(tmp_path), "--rows", "1")  # writes the model
    serve = start_serve(str(tmp_path / "model"), str(tmp_path / "server-keys"), str(tmp_path / "serve.log"))
    try:
        out = run("sklearn_client_server.py", "--dir", str(tmp_path), "--rows", "2", "--url", serve.url)
    finally:
        serve.stop()
    assert "ok: FHE answers equal" in out


def test_torch_mlp():
    pytest.importorskip("torch")
    out = run("torch_mlp.py", "--rows", "1", "--hidden", "4", "--n-bits", "4")
    assert "ok: FHE labels equal the clear model's" in out
