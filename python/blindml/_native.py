"""The extension module: blindml._blindml when installed, or _blindml from a build tree
(PYTHONPATH=python:build/python)."""

try:
    from . import _blindml as native  # noqa: F401
except ImportError:  # the build tree: build/python/_blindml*.so
    try:
        import _blindml as native  # noqa: F401
    except ImportError as e:
        raise ImportError(
            "blindml's extension module is missing: install the package (pip install --no-build-isolation ./python) "
            "or build it (ninja -C build _blindml) and put build/python on PYTHONPATH") from e
