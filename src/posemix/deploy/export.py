"""``posemix export``: a checkpoint → one ONNX graph (preprocessing, backbone, head; dynamic
batch) whose metadata carries what inference needs (posemix.deploy.metadata). A model with
per-source heads (MultiSourceHead) is exported one head at a time: the graph holds that
head, the metadata its keypoint layout and codec.

Decoding stays outside the graph: the runtime decodes with the same numpy codecs as the
PyTorch path. The graph is made by torch's default exporter (``torch.onnx.export`` with
``dynamo=True``, which needs onnxscript).
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from posemix.api import inference_pipeline, load_model
from posemix.deploy import require
from posemix.deploy.metadata import INPUT_NAME, DeployInfo
from posemix.errors import ConfigError, PosemixError
from posemix.keypoints import KeypointSchema, schema_to_metainfo
from posemix.models.heads.multi_source import UNION
from posemix.models.postprocess import as_outputs

# the exporter's own opset: lower ones go through a version conversion
DEFAULT_OPSET = 18
MIN_OPSET = 17


class ExportGraph(nn.Module):
    """uint8 BGR batch → the head's raw outputs, as a tuple. It holds the preprocessor, the
    backbone and the one exported head, so that the graph carries no other head's weights."""

    def __init__(self, model: nn.Module, head: nn.Module):
        super().__init__()
        self.data_preprocessor = model.data_preprocessor
        self.backbone = model.backbone
        self.head = head

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return as_outputs(self.head(self.backbone(self.data_preprocessor(inputs))))


@dataclass(frozen=True)
class ExportedHead:
    """The head an export holds, with what its metadata says of it."""

    module: nn.Module
    name: str | None  # a MultiSourceHead's sub-head, or None for a single head
    schema: KeypointSchema  # the layout it predicts in
    codec: Any  # its decoder's config, as the config gives it


def export_head(model: nn.Module, head: str | None, cfg: Mapping[str, Any],
                schema: KeypointSchema, checkpoint: str | os.PathLike) -> ExportedHead:
    """The head to export. A model with one head exports it; a MultiSourceHead exports the
    sub-head ``head`` names (default: ``test_cfg.output_head``), one head per graph."""
    head_cfg = cfg["model"].get("head") or {}
    if hasattr(model.head, "output_schemas"):  # a MultiSourceHead
        layouts = model.head.output_schemas()
        name = model.head.output_head if head is None else head
        if name not in layouts:
            raise PosemixError(f"{checkpoint}: head '{name}' does not exist: the model's "
                               f"{type(model.head).__name__} has the heads "
                               f"{', '.join(layouts)}")
        sub_cfg = head_cfg.get("union") if name == UNION else head_cfg.get("heads", {})[name]
        exported = ExportedHead(model.head.sub_head(name), name, layouts[name],
                                sub_cfg.get("decoder") if isinstance(sub_cfg, Mapping) else None)
    elif head is not None:
        raise PosemixError(f"{checkpoint}: head '{head}' does not exist: the model has a "
                           f"single {type(model.head).__name__} (leave out --head)")
    else:
        exported = ExportedHead(model.head, None, schema, head_cfg.get("decoder"))
    head_type = type(exported.module)
    if not hasattr(head_type, "output_names") or not hasattr(head_type, "flip"):
        raise ConfigError(f"{checkpoint}: a {head_type.__name__} cannot be exported: it does "
                          f"not name its outputs (output_names) nor say how to flip them "
                          f"(flip)")
    if exported.module.decoder is None or not isinstance(exported.codec, Mapping):
        where = "model.head" if exported.name is None else f"the head '{exported.name}'"
        raise ConfigError(f"{checkpoint}: {where} has no decoder config ({where}.decoder); "
                          f"the exported model needs it to decode")
    return exported


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


def _check_out(out: str | os.PathLike) -> None:
    """Refuse an output that is not an ``.onnx`` path before the slow export: a typo like
    ``--out model.py`` would otherwise put ONNX bytes over a source file."""
    path = Path(out)
    if path.suffix.lower() != ".onnx":
        why = ("is an existing file that does not end in .onnx; refusing to overwrite it with "
               "an ONNX model" if path.is_file() else
               "does not end in .onnx; posemix export writes an ONNX model")
        raise PosemixError(f"--out {out}: {why}: give e.g. --out {path.with_suffix('.onnx')}")
    if path.is_dir():
        raise PosemixError(f"--out {out}: is a folder; give the ONNX file to write, e.g. "
                           f"--out {path / 'model.onnx'}")


def export_onnx(checkpoint: str | os.PathLike, out: str | os.PathLike, head: str | None = None,
                opset: int = DEFAULT_OPSET, config: str | None = None) -> Path:
    """Write the checkpoint's model as an ONNX graph with posemix's metadata; returns the
    path. ``config`` overrides the config stored in the checkpoint."""
    _check_out(out)
    onnx = require("onnx", "posemix export")
    require("onnxscript", "posemix export")
    if opset < MIN_OPSET:
        raise PosemixError(f"--opset {opset}: posemix exports opset {MIN_OPSET} or newer")
    model, cfg, (schema, _) = load_model(checkpoint, config, "cpu")
    exported = export_head(model, head, cfg, schema, checkpoint)
    module = exported.module
    input_size = tuple(int(v) for v in module.decoder.input_size)
    _check_flip_through_graph(model, input_size, checkpoint)
    test_cfg = dict(model.test_cfg)
    if exported.name is not None:  # the graph's outputs are that head's
        test_cfg["output_head"] = exported.name
    info = DeployInfo(metainfo=schema_to_metainfo(exported.schema), input_size=input_size,
                      pipeline=inference_pipeline(cfg), codec=dict(exported.codec),
                      head={"type": type(module).__name__, "name": exported.name},
                      output_names=tuple(module.output_names), test_cfg=test_cfg)
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

