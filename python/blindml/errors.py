"""blindml's exceptions: one class per C++ status code, each carrying the C++ message.

    BlindmlError                     base (attribute `code`: the status code's name)
    InvalidArgumentError(ValueError) wrong feature count, NaN, wrong dtype, data of another model
    CorruptedError(ValueError)       bytes that fail their checks
    VersionMismatchError(ValueError) a file of another format version
    NonConformantError(ValueError)   well-formed bytes that break the format's rules
    ParameterMismatchError(ValueError) data made for another parameter set
    NotFoundError(LookupError)       a missing thing (an unknown uid on the server)
    ResourceExhaustedError(MemoryError) a size limit
    BlindmlIOError(OSError)          a file or connection could not be read or written
    UnimplementedError(NotImplementedError) an op or model family blindml does not support
    InternalError(RuntimeError)      a bug in blindml
"""

from ._native import native

BlindmlError = native.BlindmlError
InvalidArgumentError = native.InvalidArgumentError
CorruptedError = native.CorruptedError
VersionMismatchError = native.VersionMismatchError
NonConformantError = native.NonConformantError
ParameterMismatchError = native.ParameterMismatchError
NotFoundError = native.NotFoundError
ResourceExhaustedError = native.ResourceExhaustedError
BlindmlIOError = native.BlindmlIOError
UnimplementedError = native.UnimplementedError
InternalError = native.InternalError

_BY_CODE = {cls.code: cls for cls in (InvalidArgumentError, CorruptedError, VersionMismatchError, NonConformantError,
                                      ParameterMismatchError, NotFoundError, ResourceExhaustedError, BlindmlIOError,
                                      UnimplementedError, InternalError)}


def error_for_code(code):
    """The exception class of a status code name ("invalid_argument", ...)."""
    return _BY_CODE.get(code, BlindmlError)


__all__ = ["BlindmlError", "error_for_code"] + [c.__name__ for c in _BY_CODE.values()]
