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

from posemix.errors import ImageError, PosemixError

FLOAT32_MAX = float(np.finfo(np.float32).max)

BATCH = 16
# what a folder given as an image stands for
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def load_predictor(path: str, config: str | None, device: str | None
                   ) -> tuple[Any, list[dict], Any]:
    """(model with ``predict(inputs, metas)``, test pipeline, (schema, output schema)) of a
    ``.pth`` checkpoint (PyTorch) or an ONNX export (onnxruntime); ``device`` None picks
    CUDA where the backend has it."""
    from posemix.engine.checkpoint import is_onnx_file

    if is_onnx_file(path):
        if config is not None:
            raise PosemixError(f"{path}: an exported model carries its own config; --config "
                               f"is for .pth checkpoints")
        from posemix.deploy.onnx_runtime import load_onnx_model

        return load_onnx_model(path, device)
    from posemix.api import inference_pipeline, load_model

    model, cfg, schemas = load_model(path, config, device)
    return model, inference_pipeline(cfg), schemas


def input_images(paths: Sequence[str | os.PathLike]) -> list[str]:
    """The images to run on, as the user named them, a folder standing for its image files
    (sorted). Each is checked up front (its header read) so that a bad one stops the run
    before anything is loaded or written, every bad one named in one error."""
    from posemix.data.readers.image_size import image_size

    images: list[str] = []
    for given in map(os.fspath, paths):
        if not Path(given).is_dir():
            images.append(given)
            continue
        found = sorted(p.name for p in Path(given).iterdir() if p.is_file()
                       and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise ImageError(f"{given}: a folder with no images ({', '.join(IMAGE_SUFFIXES)})")
        images += [os.path.join(given, name) for name in found]
    problems = []
    for image in images:
        try:
            image_size(image)
        except ImageError as exc:
            problems.append(str(exc))
    if problems:
        raise ImageError(f"{len(problems)} of {len(images)} images cannot be read: "
                         + "; ".join(problems))
    return images


def overlay_names(images: Sequence[str]) -> list[str]:
    """``{stem}_pose.png`` per image, numbered (``{stem}_2_pose.png``, ...) where stems
    repeat (``a/1.jpg b/1.jpg``), so that no overlay overwrites another."""
    names: list[str] = []
    taken: set[str] = set()
    for image in images:
        stem = Path(image).stem
        name, n = f"{stem}_pose.png", 1
        while name in taken:
            n += 1
            name = f"{stem}_{n}_pose.png"
        taken.add(name)
        names.append(name)
    return names


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


def infer(checkpoint: str, images: Sequence[str | os.PathLike], out_dir: str,
          config: str | None = None, bboxes: str | None = None, device: str | None = None
          ) -> Path:
    """Predict every box of every image (a folder stands for its images); write
    results.json, whose entries name each image as given and its overlay, and one overlay
    PNG per image. ``checkpoint`` is a ``.pth`` checkpoint or an ONNX export. Bad inputs
    fail before the model is loaded."""
    from posemix.api import output_folder
    from posemix.transforms import Compose, collate
    from posemix.visualization import draw_pose, write_png

    out = output_folder(out_dir, "output folder")
    images = input_images(images)
    boxes = read_boxes(bboxes) if bboxes else {}
    model, pipeline_cfg, (schema, outputs) = load_predictor(checkpoint, config, device)
    pipeline = Compose(pipeline_cfg)
    results = []
    for given, overlay in tqdm(list(zip(images, overlay_names(images), strict=True)),
                               desc="infer", unit="image"):
        image = Path(given)
        packed = [pipeline(s) for s in _samples(image, boxes.get(image.name, []), schema)]
        preds = []
        for start in range(0, len(packed), BATCH):
            batch = collate(packed[start:start + BATCH])
            with torch.no_grad():
                preds += model.predict(batch["inputs"], batch["meta"])  # moves them itself
        picture = pipeline.transforms[0]({"img_path": given})["img"]
        for pred, sample in zip(preds, packed, strict=True):
            kpts, scores = pred["keypoints"][0], pred["keypoint_scores"][0]
            xyxy = np.asarray(sample["meta"]["bbox"], float).reshape(4)
            results.append({
                "image": given, "overlay": overlay, "category_id": 1,
                "bbox": [float(xyxy[0]), float(xyxy[1]), float(xyxy[2] - xyxy[0]),
                         float(xyxy[3] - xyxy[1])],
                "keypoints": np.concatenate([kpts, scores[:, None]], 1).reshape(-1).tolist(),
                "score": float(np.mean(scores)),
            })
            picture = draw_pose(picture, kpts, outputs, labelled=scores > 0.2, names=True)
        write_png(out / overlay, picture)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"keypoint_names": list(outputs.keypoints), "results": results}
    target = out / "results.json"
    tmp = target.with_name(".results.json.tmp")
    tmp.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    os.replace(tmp, target)
    return target
