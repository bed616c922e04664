"""Exporters from fitted models to the ONNX graphs blindml compiles.

    blindml.export.to_onnx(model, example_input=None) -> (onnx bytes, ExportInfo)

scikit-learn estimators and Pipelines (sklearn.py), XGBoost (xgboost.py), torch modules
(torch.py). skl2onnx / onnxmltools are used instead when they are importable and
BLINDML_USE_SKL2ONNX=1 is set; Debian packages neither, so by default the package's own exporters
run (they write the same standard ONNX-ML operators; see docs/python.md).
"""

from .sklearn import ExportInfo, UnsupportedModelError

__all__ = ["to_onnx", "ExportInfo", "UnsupportedModelError"]


def _is_torch_module(model):
    try:
        import torch
    except ImportError:
        return False
    return isinstance(model, torch.nn.Module)


def _is_xgboost(model):
    return type(model).__module__.split(".")[0] == "xgboost"


def _is_sklearn(model):
    return type(model).__module__.split(".")[0] == "sklearn"


def _skl2onnx(model, n_features):
    import os
    if os.environ.get("BLINDML_USE_SKL2ONNX") != "1":
        return None
    try:
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType
    except ImportError:
        return None
    onx = convert_sklearn(model, initial_types=[("X", FloatTensorType([None, n_features]))],
                          target_opset={"": 13, "ai.onnx.ml": 1})
    return onx.SerializeToString()


def to_onnx(model, example_input=None, classifier=None):
    """The ONNX bytes of a fitted model and what the exporter knows about it."""
    if _is_torch_module(model):
        from . import torch as torch_export
        return torch_export.export(model, example_input, classifier)
    if _is_xgboost(model):
        from . import xgboost as xgb_export
        onx, info = xgb_export.export(model)
        return onx.SerializeToString(), info
    if _is_sklearn(model):
        from . import sklearn as skl_export
        onx, info = skl_export.export(model)
        other = _skl2onnx(model, info.n_features)
        return (other if other is not None else onx.SerializeToString()), info
    raise UnsupportedModelError(
        "blindml.compile takes an ONNX file path or bytes, a fitted scikit-learn estimator or Pipeline, an XGBoost "
        "model, or a torch.nn.Module with an example input; got %s" % type(model).__name__)
