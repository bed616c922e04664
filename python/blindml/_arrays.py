"""Input checks shared by the model object and the deployment classes."""

import numpy as np

from .errors import InvalidArgumentError


def as_rows(X, n_features=None, what="X", strings=None):
    """X as a C-contiguous float64 [rows, features] array, or a clear exception:
    TypeError for a non-numeric dtype, InvalidArgumentError for a wrong shape or feature count
    (non-finite values are reported by the C++ side, naming the row and feature).
    strings: (columns, vocabulary) of a model with string inputs: an object / str array's cells in
    those columns become their index in the sorted vocabulary (-1 for a word not in it)."""
    if hasattr(X, "detach") and hasattr(X, "numpy"):  # a torch tensor
        X = X.detach().cpu().numpy()
    if hasattr(X, "to_numpy"):  # a pandas DataFrame
        X = X.to_numpy()
    a = np.asarray(X)
    if strings is not None and a.dtype.kind in "OUS" and a.ndim == 2 and any(strings[0]):
        columns, vocabulary = strings
        if len(columns) != a.shape[1]:
            raise InvalidArgumentError("%s has %d features per row, the model takes %d" % (what, a.shape[1], len(columns)))
        code = {w: k for k, w in enumerate(vocabulary)}
        out = np.empty(a.shape, dtype=np.float64)
        for j, is_string in enumerate(columns):
            if is_string:
                out[:, j] = [code.get(str(v), -1) for v in a[:, j]]
            else:
                out[:, j] = a[:, j].astype(np.float64)
        a = out
    if a.dtype.kind not in "fiub":
        raise TypeError("%s must hold numbers (float64 preferred), got dtype %s" % (what, a.dtype))
    if a.ndim == 1:
        raise InvalidArgumentError("%s must be 2-D [rows, features], got shape %s; for one row use "
                                   "X.reshape(1, -1)" % (what, a.shape))
    if a.ndim != 2:
        raise InvalidArgumentError("%s must be 2-D [rows, features], got %d dimensions" % (what, a.ndim))
    if a.shape[0] == 0:
        raise InvalidArgumentError("%s has no rows" % what)
    if n_features is not None and a.shape[1] != n_features:
        raise InvalidArgumentError("%s has %d features per row, the model takes %d" % (what, a.shape[1], n_features))
    return np.ascontiguousarray(a, dtype=np.float64)


def string_columns(processing):
    """(columns, vocabulary) of a model with string inputs (processing["inputs"] /
    processing["vocabulary"]), for as_rows; None when it has none."""
    columns = []
    for i in processing.get("inputs", []):
        columns += [i["dtype"] == "string"] * int(i["columns"])
    return (columns, list(processing.get("vocabulary", []))) if any(columns) else None


def as_bytes(b, what):
    if isinstance(b, bytes):
        return b
    if isinstance(b, (bytearray, memoryview)):
        return bytes(b)
    raise TypeError("%s must be bytes, got %s" % (what, type(b).__name__))
