"""blindml: machine-learning inference on encrypted data (TFHE), from Python.

    import blindml
    model = blindml.compile(fitted_sklearn_model, X_train)      # or an ONNX file, XGBoost, torch
    model.predict(X_test, fhe="execute")                        # encrypt, run under FHE, decrypt

The deployment classes (client / server split, as in Concrete ML) are in blindml.deployment,
the client of `blindml serve` in blindml.http. See docs/python.md.
"""

from ._native import native as _native
from .errors import *  # noqa: F401,F403
from .errors import BlindmlError, InvalidArgumentError  # noqa: F401
from .model import FHEModel, compile  # noqa: F401

__version__ = _native.__version__

__all__ = ["compile", "FHEModel", "deployment", "http", "export", "BlindmlError", "InvalidArgumentError"]


def __getattr__(name):
    # blindml.deployment / blindml.http / blindml.export on first use (the exporters import
    # scikit-learn and onnx, which take a second).
    if name in ("deployment", "http", "export"):
        import importlib
        return importlib.import_module("." + name, __name__)
    raise AttributeError("module 'blindml' has no attribute %r" % name)
