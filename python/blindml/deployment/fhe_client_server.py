"""FHEModelDev, FHEModelClient, FHEModelServer (Concrete ML's concrete.ml.deployment.fhe_client_server)."""

import hashlib
import os
import threading

import numpy as np

from .._arrays import as_bytes, as_rows, string_columns
from .._native import native
from ..errors import InvalidArgumentError

CLIENT_ZIP = "client.zip"
SERVER_ZIP = "server.zip"
SECRET_KEY = "secret.key"
EVALUATION_KEYS = "evaluation.keys"


class FHEModelDev:
    """Writes a compiled model's artifacts: path_dir/client.zip and path_dir/server.zip.

    model: what blindml.compile returned (an FHEModel)."""

    def __init__(self, path_dir, model=None):
        self.path_dir = os.fspath(path_dir)
        self.model = model

    def save(self, mode="inference", via_mlir=False):
        """Writes the artifacts. Like Concrete ML, refuses to overwrite: path_dir must not hold
        client.zip or server.zip already. mode and via_mlir are accepted for compatibility
        ("inference" only; blindml's artifacts are not MLIR)."""
        del via_mlir
        if mode != "inference":
            raise InvalidArgumentError("mode=%r: blindml saves inference artifacts only (mode=\"inference\")" % mode)
        if self.model is None:
            raise InvalidArgumentError("FHEModelDev needs a model: FHEModelDev(path_dir, blindml.compile(...))")
        if not hasattr(self.model, "save") or not hasattr(self.model, "client_zip"):
            raise TypeError("FHEModelDev takes the model blindml.compile returned, got %s" % type(self.model).__name__)
        for name in (CLIENT_ZIP, SERVER_ZIP):
            p = os.path.join(self.path_dir, name)
            if os.path.exists(p):
                raise FileExistsError("%s exists already: save into an empty directory (or delete it first)" % p)
        self.model.save(self.path_dir)


class FHEModelClient:
    """The client: loads path_dir/client.zip; keys live in key_dir (secret.key, mode 0600, and
    evaluation.keys) when given, else in memory only."""

    def __init__(self, path_dir, key_dir=None):
        self.path_dir = os.fspath(path_dir)
        self.key_dir = os.fspath(key_dir) if key_dir is not None else None
        self.client = None
        self._evaluation_keys = None
        self.load()

    def load(self):
        """(Re)loads client.zip."""
        self.client = native.Client.load(os.path.join(self.path_dir, CLIENT_ZIP))
        self._evaluation_keys = None
        proc = self.client.processing
        self.kind = proc["kind"]
        self.n_features = int(proc["n_features"])
        self._strings = string_columns(proc)  # string inputs: words map to the vocabulary's codes
        self.n_outputs = int(proc["n_outputs"])
        self.class_labels = list(proc["class_labels"])
        self.class_names = list(proc.get("class_names", []))  # string labels: labels index these

    def generate_private_and_evaluation_keys(self, force=False):
        """Generates the secret key and the evaluation keys, or with key_dir holding keys
        already and force False, loads them from there."""
        if self.key_dir is not None and not force:
            sk = os.path.join(self.key_dir, SECRET_KEY)
            ek = os.path.join(self.key_dir, EVALUATION_KEYS)
            if os.path.exists(sk) and os.path.exists(ek):
                self.client.load_secret_key(sk)
                with open(ek, "rb") as f:
                    self._evaluation_keys = f.read()
                return
        self.client.generate_keys()
        self._evaluation_keys = self.client.evaluation_keys()
        if self.key_dir is not None:
            os.makedirs(self.key_dir, mode=0o700, exist_ok=True)
            self.client.save_secret_key(os.path.join(self.key_dir, SECRET_KEY))
            tmp = os.path.join(self.key_dir, EVALUATION_KEYS + ".tmp-%d" % os.getpid())
            with open(tmp, "wb") as f:
                f.write(self._evaluation_keys)
            os.replace(tmp, os.path.join(self.key_dir, EVALUATION_KEYS))

    def get_serialized_evaluation_keys(self):
        """The evaluation keys to send to the server (bytes; public)."""
        if self._evaluation_keys is None:
            self.generate_private_and_evaluation_keys()
        return self._evaluation_keys

    def quantize_encrypt_serialize(self, x):
        """Quantizes and encrypts rows x [rows, features] (float64) into the bytes the server runs."""
        if self._evaluation_keys is None:
            self.generate_private_and_evaluation_keys()
        return self.client.encrypt(as_rows(x, self.n_features, what="x", strings=self._strings))

    def deserialize_decrypt(self, serialized_encrypted_quantized_result):
        """The model's dequantized scores before post-processing, [rows, outputs]. (Concrete ML
        returns the quantized integers here; blindml's client API gives the dequantized scores.)"""
        out = self.client.decrypt(as_bytes(serialized_encrypted_quantized_result, "the encrypted result"))
        return out["values"]

    def deserialize_decrypt_dequantize(self, serialized_encrypted_quantized_result):
        """The model's answer: classifiers predict_proba-shaped [rows, classes], regressors
        predict-shaped ([rows] for one output, else [rows, outputs])."""
        out = self.client.decrypt(as_bytes(serialized_encrypted_quantized_result, "the encrypted result"))
        if self.kind == "classifier":
            return out["proba"]
        v = out["values"]
        return v[:, 0] if v.shape[1] == 1 else v

    def deserialize_decrypt_predict(self, serialized_encrypted_quantized_result):
        """Classifiers: the class labels (argmax of the probabilities), as client.zip names them."""
        out = self.client.decrypt(as_bytes(serialized_encrypted_quantized_result, "the encrypted result"))
        if self.kind != "classifier":
            v = out["values"]
            return v[:, 0] if v.shape[1] == 1 else v
        if self.class_names:
            return np.asarray(self.class_names)[out["labels"]]
        return out["labels"]


class FHEModelServer:
    """The server: loads path_dir/server.zip and runs it on encrypted inputs. Thread-safe: run()
    may be called from several threads. The last evaluation keys used are kept expanded, so a
    client's second request does not pay for their expansion again."""

    def __init__(self, path_dir, threads=0):
        self.path_dir = os.fspath(path_dir)
        self.threads = int(threads)
        self.server = None
        self._cache = (None, None, None)
        self._lock = threading.Lock()
        self.load()

    def load(self):
        """(Re)loads server.zip."""
        self.server = native.Server.load(os.path.join(self.path_dir, SERVER_ZIP), self.threads)
        self._cache = (None, None, None)

    def _keys(self, evaluation_keys):
        # The same bytes object again (the usual loop): no hashing. Other bytes: by SHA-256
        # (about 50 ms for 40 MB of keys), so equal keys read from a file again still hit.
        with self._lock:
            cached_obj, cached_digest, keys = self._cache
        if evaluation_keys is cached_obj:
            return keys
        digest = hashlib.sha256(evaluation_keys).digest()
        if digest != cached_digest:
            keys = self.server.load_evaluation_keys(evaluation_keys)
        with self._lock:
            self._cache = (evaluation_keys, digest, keys)
        return keys

    def run(self, serialized_encrypted_quantized_data, serialized_evaluation_keys):
        """The encrypted answer (bytes) to an encrypted input, with the client's evaluation keys."""
        data = as_bytes(serialized_encrypted_quantized_data, "the encrypted input")
        keys = self._keys(as_bytes(serialized_evaluation_keys, "the evaluation keys"))
        return self.server.run(data, keys)


__all__ = ["FHEModelDev", "FHEModelClient", "FHEModelServer"]
