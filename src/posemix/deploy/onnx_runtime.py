"""An exported model on onnxruntime, with TopdownPoseEstimator's ``predict`` contract.

The graph gives the head's raw outputs; flip test, decoding, image-space conversion and the
output subset are posemix.models.postprocess, the code the PyTorch path runs. The flip test
sends the horizontally flipped uint8 batch through the same graph.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from posemix.deploy import require
from posemix.deploy.metadata import INPUT_NAME, DeployInfo
from posemix.errors import PosemixError
from posemix.evaluation.per_source import output_schema
from posemix.models.postprocess import Outputs, check_metas, predictions
from posemix.registry import CODECS, MODELS

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


def providers(device: str | None) -> list[str]:
    """onnxruntime providers for ``device``: None picks CUDA where onnxruntime has it and a
    GPU is present, else the CPU."""
    ort = require("onnxruntime", "running an ONNX model")
    has_cuda = CUDA in ort.get_available_providers()
    if device is None:
        return [CUDA, CPU] if has_cuda and torch.cuda.is_available() else [CPU]
    if device == "cpu":
        return [CPU]
    if device.startswith("cuda"):
        if not has_cuda:
            raise PosemixError(f"--device {device}: this onnxruntime has no CUDA provider "
                               f"(it has {ort.get_available_providers()}); install "
                               f"onnxruntime-gpu, or use --device cpu")
        return [CUDA, CPU]
    raise PosemixError(f"--device {device}: an ONNX model runs on 'cpu' or 'cuda'")


class OnnxPoseModel:
    """A posemix ONNX export, ready to predict."""

    def __init__(self, path: str | os.PathLike, device: str | None = None,
                 threads: int | None = None):
        ort = require("onnxruntime", "running an ONNX model")
        self.path = path = Path(path)
        if not path.is_file():
            raise PosemixError(f"model file not found: {path}")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        state = ort.capi.onnxruntime_pybind11_state
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers(device))
        except (state.Fail, state.InvalidProtobuf, state.InvalidGraph, state.InvalidArgument,
                state.NotImplemented) as exc:
            raise PosemixError(f"{path}: not a readable ONNX model: {exc}") from None
        self.info = DeployInfo.from_props(self.session.get_modelmeta().custom_metadata_map,
                                          str(path))
        names = {o.name for o in self.session.get_outputs()}
        if [i.name for i in self.session.get_inputs()] != [INPUT_NAME] or \
                not set(self.info.output_names) <= names:
            raise PosemixError(f"{path}: the graph's inputs/outputs do not match its metadata "
                               f"(expects input '{INPUT_NAME}' and outputs "
                               f"{list(self.info.output_names)}, has {sorted(names)})")
        self.schema = self.info.schema(f"{path} (metadata)")
        head_type = self.info.head.get("type")
        if head_type not in MODELS or not hasattr(MODELS.get(head_type), "flip"):
            raise PosemixError(f"{path}: metadata names head type '{head_type}', which this "
                               f"posemix cannot post-process")
        self.head_type = MODELS.get(head_type)
        try:
            self.decoder = CODECS.build(self.info.codec)
        except PosemixError as exc:
            raise PosemixError(f"{path}: metadata 'posemix.codec': {exc}") from None
        self.test_cfg = self.info.test_cfg

    def run(self, inputs: np.ndarray) -> Outputs:
        """The graph's raw outputs for a uint8 BGR batch (B, 3, H, W)."""
        arrays = self.session.run(list(self.info.output_names), {INPUT_NAME: inputs})
        return tuple(torch.from_numpy(a) for a in arrays)

    def predict(self, inputs: torch.Tensor | np.ndarray, metas: Sequence[Mapping[str, Any]]
                ) -> list[dict[str, np.ndarray]]:
        """As TopdownPoseEstimator.predict: per sample ``keypoints`` (1, K', 2) in image space
        and ``keypoint_scores`` (1, K')."""
        x = inputs.cpu().numpy() if isinstance(inputs, torch.Tensor) else np.asarray(inputs)
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1] != 3:
            raise PosemixError(f"an ONNX pose model takes a uint8 (B, 3, H, W) BGR batch, got "
                               f"{x.dtype} {x.shape}")
        check_metas(metas, len(x))
        if not self.test_cfg.get("flip_test", False):
            return predictions(self.run(x), None, self.head_type, self.decoder, metas,
                               self.test_cfg, None)
        both = self.run(np.concatenate([x, x[..., ::-1]]))  # one run: plain, then flipped
        outputs = tuple(o[:len(x)] for o in both)
        flipped = tuple(o[len(x):] for o in both)
        return predictions(outputs, flipped, self.head_type, self.decoder, metas,
                           self.test_cfg, self.schema.flip_indices)


def load_onnx_model(path: str | os.PathLike, device: str | None = None
                    ) -> tuple[OnnxPoseModel, list[dict], Any]:
    """(model, test pipeline, (schema, output schema)), as inference.load_predictor gives."""
    model = OnnxPoseModel(path, device)
    indices = model.test_cfg.get("output_keypoint_indices")
    return model, model.info.pipeline, (model.schema, output_schema(model.schema, indices))
