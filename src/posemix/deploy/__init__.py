"""Deployment: export a checkpoint to ONNX (``posemix export``) and run the exported graph
on onnxruntime (``posemix infer MODEL.onnx``), decoding in the same numpy code as PyTorch.

onnx, onnxscript and onnxruntime are the optional ``deploy`` extra; nothing here imports
them until it is used.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from posemix.errors import PosemixError

EXTRA = "pip install 'posemix[deploy]'"


def require(module: str, command: str) -> ModuleType:
    """Import an optional dependency of the deploy extra, or say which extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise PosemixError(f"{command} needs the optional package '{module.split('.')[0]}' "
                           f"({exc}); install the deploy extra: {EXTRA}") from None
