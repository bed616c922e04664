"""torch.nn.Module to ONNX with torch.onnx.export (Debian's python3-torch): opset 13, input "X"
[N, F] with a dynamic batch dimension, constant folding on, the module in eval mode. blindml's
MLP family takes Linear layers with ReLU / LeakyReLU / Sigmoid / Tanh / Hardtanh between them
(BatchNorm1d folds into the layer before) and a final Softmax / Sigmoid, or logits.
"""

import io

import numpy as np

from .sklearn import ExportInfo


def export(module, example_input, classifier=None):
    import torch
    if not isinstance(module, torch.nn.Module):
        raise TypeError("expected a torch.nn.Module, got %s" % type(module).__name__)
    if example_input is None:
        raise ValueError("a torch module needs an example input (a tensor or array of shape [1, n_features])")
    x = example_input
    if not isinstance(x, torch.Tensor):
        x = torch.tensor(np.asarray(x, dtype=np.float32))
    x = x.to(torch.float32)
    if x.dim() == 1:
        x = x.reshape(1, -1)
    was_training = module.training
    module.eval()
    buf = io.BytesIO()
    try:
        torch.onnx.export(module, x[:1], buf, input_names=["X"], output_names=["output"],
                          dynamic_axes={"X": {0: "N"}, "output": {0: "N"}}, opset_version=13,
                          do_constant_folding=True)
    finally:
        module.train(was_training)
    kind = None if classifier is None else ("classifier" if classifier else "regressor")
    return buf.getvalue(), ExportInfo(kind, int(x.shape[1]))
