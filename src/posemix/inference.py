"""``posemix infer``: keypoints for new images from a trained checkpoint.

The checkpoint carries its config and keypoint schema as data; both are read without
executing anything (posemix.literal), so a checkpoint from a stranger cannot run code.
Boxes come from a file of detections, or each image is one box. Results are written as
COCO-style JSON and as overlay PNGs with the named skeleton.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from posemix.errors import PosemixError

FLOAT32_MAX = float(np.finfo(np.float32).max)

BATCH = 16


def load_predictor(path: str, config: str | None, device: str | None
                   ) -> tuple[Any, list[dict], Any]:
    """(model with ``predict(inputs, metas)``, test pipeline, (schema, output schema)) of a
    ``.pth`` checkpoint (PyTorch) or a ``.onnx`` export (onnxruntime); ``device`` None picks
    CUDA where the backend has it."""
    if Path(path).suffix.lower() == ".onnx":
        if config is not None:
            raise PosemixError(f"{path}: an exported model carries its own config; --config "
                               f"is for .pth checkpoints")
        from posemix.deploy.onnx_runtime import load_onnx_model

        return load_onnx_model(path, device)
    from posemix.api import inference_pipeline, load_model

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model, cfg, schemas = load_model(path, config, device)
    return model, inference_pipeline(cfg), schemas


def read_boxes(path: str | os.PathLike) -> dict[str, list[tuple[list[float], float]]]:
    """Detections per image name: a JSON list of {"image", "bbox": [x, y, w, h], "score"}."""
    try:
        records = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PosemixError(f"{path}: cannot read the boxes file: {exc}") from None
    if not isinstance(records, list):
        raise PosemixError(f"{path}: expected a list of detections, got "
                           f"{type(records).__name__}")
    boxes: dict[str, list[tuple[list[float], float]]] = {}
    for i, rec in enumerate(records):
        box = rec.get("bbox") if isinstance(rec, Mapping) else None
        if not isinstance(rec, Mapping) or not isinstance(rec.get("image"), str) \
                or not isinstance(box, list) or len(box) != 4 or not all(map(_finite, box)):
            raise PosemixError(f"{path}, record {i}: needs 'image' (a file name) and 'bbox': "
                               "[x, y, w, h] of 4 finite numbers (float32)")
        if box[2] <= 0 or box[3] <= 0:
            raise PosemixError(f"{path}, record {i}, field 'bbox': width and height must be "
                               f"positive, got {box}")
        score = rec.get("score", 1.0)
        if not _finite(score):
            raise PosemixError(f"{path}, record {i}, field 'score': must be a finite number, "
                               f"got {score!r}")
        boxes.setdefault(Path(rec["image"]).name, []).append(
            ([float(v) for v in box], float(score)))
    return boxes


def _finite(value: Any) -> bool:
    """A JSON number (not a bool) within float32's range: boxes become float32 arrays."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return abs(float(value)) <= FLOAT32_MAX
    except OverflowError:  # an int beyond float64
        return False


def _samples(image: Path, boxes: Sequence[tuple[list[float], float]], schema: Any) -> list[dict]:
    from posemix.data.readers.image_size import image_size

    if not boxes:
        width, height = image_size(image)
        boxes = [([0.0, 0.0, float(width), float(height)], 1.0)]
    k = schema.num_keypoints
    out = []
    for n, (xywh, score) in enumerate(boxes):
        x, y, w, h = xywh
        out.append({
            "img_path": str(image), "img_id": 0, "id": n,
            "bbox": np.array([[x, y, x + w, y + h]], np.float32),
            "bbox_score": np.array([score], np.float32),
            "keypoints": np.zeros((1, k, 2), np.float32),
            "keypoints_visible": np.ones((1, k), np.float32),
            "flip_indices": list(schema.flip_indices), "dataset_name": "infer",
            "upper_body_ids": schema.upper_body_ids, "lower_body_ids": schema.lower_body_ids,
        })
    return out


def infer(checkpoint: str, images: Sequence[str], out_dir: str, config: str | None = None,
          bboxes: str | None = None, device: str | None = None) -> Path:
    """Predict every box of every image; write results.json and one overlay PNG per image.
    ``checkpoint`` is a ``.pth`` checkpoint or a ``.onnx`` export."""
    from posemix.transforms import Compose, collate
    from posemix.visualization import draw_pose, write_png

    model, pipeline_cfg, (schema, outputs) = load_predictor(checkpoint, config, device)
    pipeline = Compose(pipeline_cfg)
    boxes = read_boxes(bboxes) if bboxes else {}
    out = Path(out_dir)
    results = []
    for image in tqdm([Path(p) for p in images], desc="infer", unit="image"):
        if not image.is_file():
            raise PosemixError(f"image not found: {image}")
        packed = [pipeline(s) for s in _samples(image, boxes.get(image.name, []), schema)]
        preds = []
        for start in range(0, len(packed), BATCH):
            batch = collate(packed[start:start + BATCH])
            with torch.no_grad():
                preds += model.predict(batch["inputs"], batch["meta"])  # moves them itself
        picture = pipeline.transforms[0]({"img_path": str(image)})["img"]
        for pred, sample in zip(preds, packed, strict=True):
            kpts, scores = pred["keypoints"][0], pred["keypoint_scores"][0]
            xyxy = np.asarray(sample["meta"]["bbox"], float).reshape(4)
            results.append({
                "image": image.name, "category_id": 1,
                "bbox": [float(xyxy[0]), float(xyxy[1]), float(xyxy[2] - xyxy[0]),
                         float(xyxy[3] - xyxy[1])],
                "keypoints": np.concatenate([kpts, scores[:, None]], 1).reshape(-1).tolist(),
                "score": float(np.mean(scores)),
            })
            picture = draw_pose(picture, kpts, outputs, labelled=scores > 0.2, names=True)
        write_png(out / f"{image.stem}_pose.png", picture)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"keypoint_names": list(outputs.keypoints), "results": results}
    target = out / "results.json"
    tmp = target.with_name(".results.json.tmp")
    tmp.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    os.replace(tmp, target)
    return target
