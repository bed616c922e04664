"""blindml.compile(model, X_calibration, **options) and the compiled model it returns."""

import os
import threading

import numpy as np

from ._arrays import as_rows, string_columns
from ._native import native
from .errors import InvalidArgumentError

_FHE_MODES = ("disable", "simulate", "execute")

# Concrete ML's option names mapped to ours.
_ALIASES = {"rounding_threshold_bits": "rounding_bits"}
_OPTIONS = ("n_bits", "rounding_bits", "exact_rounding", "leaf_bits", "p_error", "global_p_error",
            "tree_comparisons")


class FHEModel:
    """A compiled model: predict / predict_proba in the clear ("disable"), simulated or under FHE
    ("execute"), its compile report, and save(dir) for the deployment classes.

    Thread safety: predict may be called from several threads; the first "execute" call
    generates keys once (under a lock) and later calls share them.
    """

    def __init__(self, dev, info=None, onnx=None):
        self._dev = dev
        self._info = info
        self.onnx = onnx  # the ONNX bytes that were compiled
        proc = dev.processing
        self.kind = proc["kind"]
        self.family = proc["family"]
        self.n_features = int(proc["n_features"])
        self._strings = string_columns(proc)  # string inputs: the columns holding words, the vocabulary
        self.n_outputs = int(proc["n_outputs"])
        self.class_labels = list(proc["class_labels"])
        self.class_names = list(proc.get("class_names", []))  # string labels
        self.classes_ = None
        if self.kind == "classifier":
            classes = getattr(info, "classes", None) if info is not None else None
            if classes is not None:
                self.classes_ = np.asarray(classes)
            else:
                self.classes_ = np.asarray(self.class_names if self.class_names else self.class_labels)
        self.notes = list(getattr(info, "notes", []) or []) if info is not None else []
        self._lock = threading.Lock()
        self._fhe = None  # (Client, Server, EvaluationKeys), made by the first execute
        self._rng = np.random.default_rng()

    # -- the compile report -------------------------------------------------------------------

    @property
    def report(self):
        """The compile report as text (what `blindml compile` prints)."""
        return self._dev.report

    @property
    def compile_report(self):
        """The report's figures: bits, PBS count, parameters, key sizes, error probabilities."""
        c = dict(self._dev.compiled)
        c.update(kind=self.kind, family=self.family, n_features=self.n_features, n_outputs=self.n_outputs)
        return c

    @property
    def model_id(self):
        return self._dev.model_id

    def client_zip(self):
        return self._dev.client_zip()

    def server_zip(self):
        return self._dev.server_zip()

    def save(self, path_dir):
        """Writes path_dir/client.zip and path_dir/server.zip (the directory is created)."""
        self._dev.save(os.fspath(path_dir))

    # -- predictions --------------------------------------------------------------------------

    def _run(self, X, fhe, seed=None):
        if fhe not in _FHE_MODES:
            raise InvalidArgumentError("fhe=%r: expected one of %s" % (fhe, ", ".join(repr(m) for m in _FHE_MODES)))
        rows = as_rows(X, self.n_features, strings=self._strings)
        if fhe == "disable":
            return self._dev.predict_clear(rows)
        if fhe == "simulate":
            if seed is None:
                seed = int(self._rng.integers(0, 2**63))
            return self._dev.predict_simulated(rows, int(seed))
        client, server, keys = self._fhe_state()
        return client.decrypt(server.run(client.encrypt(rows), keys))

    def _fhe_state(self):
        with self._lock:
            if self._fhe is None:
                client = native.Client.load_bytes(self._dev.client_zip())
                server = native.Server.load_bytes(self._dev.server_zip())
                client.generate_keys()
                keys = server.load_evaluation_keys(client.evaluation_keys())
                self._fhe = (client, server, keys)
            return self._fhe

    def _labels(self, out):
        if self.classes_ is not None and len(self.classes_) == out["proba"].shape[1]:
            return self.classes_[np.argmax(out["proba"], axis=1)]
        return out["labels"]

    def predict(self, X, fhe="disable", seed=None):
        """Regressors: the predictions ([rows] for one output, else [rows, outputs]).
        Classifiers: the class labels [rows].

        fhe: "disable" (the quantized model in the clear, the exact reference), "simulate" (the
        clear model with table-lookup errors drawn at the compiled probability; seed fixes them),
        "execute" (keygen once, then encrypt, run under FHE, decrypt)."""
        out = self._run(X, fhe, seed)
        if self.kind == "classifier":
            return self._labels(out)
        v = out["values"]
        return v[:, 0] if v.shape[1] == 1 else v

    def predict_proba(self, X, fhe="disable", seed=None):
        """Classifiers: [rows, classes] as scikit-learn's predict_proba (estimators without
        predict_proba: their decision scores)."""
        if self.kind != "classifier":
            raise InvalidArgumentError("predict_proba: this model is a regressor; use predict")
        return self._run(X, fhe, seed)["proba"]

    def decision_function(self, X, fhe="disable", seed=None):
        """The dequantized scores before the post transform (sigmoid / softmax), [rows, outputs]."""
        return self._run(X, fhe, seed)["values"]

    def __repr__(self):
        c = self._dev.compiled
        return "<blindml.FHEModel %s %s, %d features, %s PBS per row, P = %d bits>" % (
            self.family, self.kind, self.n_features, c.get("pbs_count", "?"), c["carrier_bits"])


def _load_onnx_arg(model):
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model)
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        with open(path, "rb") as f:
            return f.read()
    if type(model).__name__ == "ModelProto" and hasattr(model, "SerializeToString"):
        return model.SerializeToString()
    return None


def compile(model, X_calibration, **options):  # noqa: A001 - the public name, as in Concrete ML
    """Compile a model for FHE inference.

    model: an ONNX file path, ONNX bytes or onnx.ModelProto; a fitted scikit-learn estimator or
    Pipeline (linear models, linear SVMs, trees, forests, gradient boosting, MLPs); a fitted
    XGBClassifier / XGBRegressor; or a torch.nn.Module (exported with torch.onnx.export on
    example_input, default X_calibration[:1]).
    X_calibration: [rows, features] float rows (the training set, or a representative sample).
    options: n_bits, rounding_bits (alias rounding_threshold_bits), exact_rounding, leaf_bits,
    p_error, global_p_error, tree_comparisons ("client", the default, or "server"), classifier
    (True/False: for graphs that end in logits, e.g. torch
    classifiers), example_input (torch).
    """
    for old, new in _ALIASES.items():
        if old in options:
            options.setdefault(new, options.pop(old))
    example_input = options.pop("example_input", None)
    classifier = options.pop("classifier", None)
    unknown = set(options) - set(_OPTIONS)
    if unknown:
        raise TypeError("compile() got unknown options %s; known: %s" % (sorted(unknown), ", ".join(_OPTIONS)))
    onnx = _load_onnx_arg(model)
    strings = None
    if onnx is not None:  # an ONNX file with string inputs: their words map to vocabulary codes
        try:
            s = native.string_columns(onnx)
        except Exception:  # noqa: BLE001 - Dev.compile below reports what is wrong with the file
            s = {"columns": []}
        if any(s["columns"]):
            strings = (list(s["columns"]), list(s["vocabulary"]))
    X = as_rows(X_calibration, what="X_calibration", strings=strings)
    info = None
    if onnx is None:
        from .export import to_onnx
        if example_input is None:
            example_input = X[:1]
        onnx, info = to_onnx(model, example_input=example_input, classifier=classifier)
        if info.n_features is not None and X.shape[1] != info.n_features:
            raise InvalidArgumentError("X_calibration has %d features per row, the model takes %d"
                                       % (X.shape[1], info.n_features))
        if classifier is None and info.kind is not None:
            classifier = info.kind == "classifier"
    kind = None if classifier is None else ("classifier" if classifier else "regressor")
    dev = native.Dev.compile(onnx, X, kind=kind, **{k: v for k, v in options.items() if v is not None})
    return FHEModel(dev, info, onnx)
