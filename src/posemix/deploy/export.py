"""``posemix export``: a checkpoint → one ONNX graph (preprocessing, backbone, head; dynamic
batch) whose metadata carries what inference needs (posemix.deploy.metadata).

Decoding stays outside the graph: the runtime decodes with the same numpy codecs as the
PyTorch path. The graph is made by torch's default exporter (``torch.onnx.export`` with
``dynamo=True``, which needs onnxscript).
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from posemix.api import inference_pipeline, load_model
from posemix.deploy import require
from posemix.deploy.metadata import INPUT_NAME, DeployInfo
from posemix.errors import ConfigError, PosemixError
from posemix.keypoints import schema_to_metainfo
from posemix.models.postprocess import as_outputs

# the exporter's own opset: lower ones go through a version conversion
DEFAULT_OPSET = 18
MIN_OPSET = 17


class ExportGraph(nn.Module):
    """uint8 BGR batch → the head's raw outputs, as a tuple."""

    def __init__(self, model: nn.Module, head: nn.Module):
        super().__init__()
        self.model = model
        self.head = head

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return as_outputs(self.head(self.model.extract_feat(self.model.data_preprocessor(inputs))))


def export_head(model: nn.Module, head: str | None, checkpoint: str | os.PathLike
                ) -> nn.Module:
    """The head to export. A model with one head exports it; ``head`` names a sub-head of a
    per-source head (one head per graph)."""
    if head is not None:
        raise PosemixError(f"{checkpoint}: head '{head}' does not exist: the model has a "
                           f"single {type(model.head).__name__} (leave out --head)")
    head_type = type(model.head)
    if not hasattr(head_type, "output_names") or not hasattr(head_type, "flip"):
        raise ConfigError(f"{checkpoint}: a {head_type.__name__} cannot be exported: it does "
                          f"not name its outputs (output_names) nor say how to flip them "
                          f"(flip)")
    return model.head


def _check_flip_through_graph(model: nn.Module, input_size: tuple[int, int],
                              checkpoint: str | os.PathLike) -> None:
    """The runtime flips the uint8 batch, PyTorch the preprocessed one: the same unless the
    preprocessor pads (bottom/right only, so a flip would move the padding)."""
    divisor = getattr(model.data_preprocessor, "pad_size_divisor", 1)
    if model.test_cfg.get("flip_test") and any(s % divisor for s in input_size):
        raise ConfigError(f"{checkpoint}: the preprocessor pads the {input_size} input to a "
                          f"multiple of {divisor}, so a flipped input would not match the "
                          f"PyTorch flip test; use an input size divisible by {divisor}")


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter logs notes (missing torchvision ops, opset conversion) a user cannot act
    on; errors still show."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def export_onnx(checkpoint: str | os.PathLike, out: str | os.PathLike, head: str | None = None,
                opset: int = DEFAULT_OPSET, config: str | None = None) -> Path:
    """Write the checkpoint's model as an ONNX graph with posemix's metadata; returns the
    path. ``config`` overrides the config stored in the checkpoint."""
    onnx = require("onnx", "posemix export")
    require("onnxscript", "posemix export")
    if opset < MIN_OPSET:
        raise PosemixError(f"--opset {opset}: posemix exports opset {MIN_OPSET} or newer")
    model, cfg, (schema, _) = load_model(checkpoint, config, "cpu")
    module = export_head(model, head, checkpoint)
    codec = (cfg["model"].get("head") or {}).get("decoder")
    if module.decoder is None or not isinstance(codec, dict):
        raise ConfigError(f"{checkpoint}: the model's head has no decoder config "
                          f"(model.head.decoder); the exported model needs it to decode")
    input_size = tuple(int(v) for v in module.decoder.input_size)
    _check_flip_through_graph(model, input_size, checkpoint)
    info = DeployInfo(metainfo=schema_to_metainfo(schema), input_size=input_size,
                      pipeline=inference_pipeline(cfg), codec=dict(codec),
                      head={"type": type(module).__name__, "name": head},
                      output_names=tuple(module.output_names), test_cfg=dict(model.test_cfg))
    props = info.to_props()  # checks that every value is JSON before the slow export
    example = torch.zeros((2, 3, input_size[1], input_size[0]), dtype=torch.uint8)
    with _quiet_exporter(), torch.no_grad():
        program = torch.onnx.export(
            ExportGraph(model, module).eval(), (example,), dynamo=True, opset_version=opset,
            input_names=[INPUT_NAME], output_names=list(info.output_names),
            dynamic_shapes=({0: torch.export.Dim("batch")},), external_data=False,
            verbose=False)
    program.model.metadata_props.update(props)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    program.save(str(tmp))
    onnx.checker.check_model(str(tmp))
    os.replace(tmp, out)
    return out

