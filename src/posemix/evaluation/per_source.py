"""Evaluate a model on every source in that source's own keypoint layout.

A model trained on the union of COCO and AIC outputs 19 keypoints. COCO val is scored
on the 17 COCO keypoints with COCO's sigmas, AIC val on AIC's 14 with AIC's sigmas and
no ``area``: the evaluator derives each source's subset of the model's outputs from the
keypoint names (no hand-written ``output_keypoint_indices``), routes each prediction by
its source index (never by a free-text name that can collide), and prefixes the results
with the source's name (``coco/AP``, ``aic/AP``).
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from posemix.errors import ConfigError
from posemix.evaluation.coco_gt import is_coco_layout, write_coco_gt
from posemix.keypoints import KeypointSchema
from posemix.keypoints.mapping import output_indices_for
from posemix.registry import METRICS


@dataclass
class SourceEvaluation:
    """One source scored through one head: its name, schema, the model outputs it reads,
    and its metrics."""

    name: str
    schema: KeypointSchema
    output_index: np.ndarray  # (K_source,) index into the model's output keypoints
    gt_index: np.ndarray  # (K_source,) index into the GT keypoints the samples carry
    metrics: list[Any]
    source: int = 0  # the samples' source_index
    head: str | None = None  # a MultiSourceHead's head whose outputs it reads (predict's
    # 'heads'); None: the model's main output


def output_schema(model_schema: KeypointSchema,
                  output_keypoint_indices: Sequence[int] | None) -> KeypointSchema:
    """The layout of what ``model.predict`` returns (after ``output_keypoint_indices``)."""
    if output_keypoint_indices is None:
        return model_schema
    idx = list(output_keypoint_indices)
    names = [model_schema.keypoints[i] for i in idx]
    swaps = [model_schema.swaps[i] if model_schema.swaps[i] in names else "" for i in idx]
    return KeypointSchema(
        name=model_schema.name, keypoints=tuple(names),
        types=tuple(model_schema.types[i] for i in idx), swaps=tuple(swaps),
        links=tuple(link for link in model_schema.links if set(link) <= set(names)),
        joint_weights=model_schema.joint_weights[idx], sigmas=model_schema.sigmas[idx],
        source=f"{model_schema.source} (output_keypoint_indices)")


def _sources(dataset: Any) -> list[tuple[str, Any]]:
    """(name, sub-dataset) for a CombinedDataset, or the dataset itself."""
    if hasattr(dataset, "datasets") and hasattr(dataset, "source_names"):
        return list(zip(dataset.source_names, dataset.datasets, strict=True))
    return [(dataset.schema.name, dataset)]


class PerSourceEvaluator:
    """Routes predictions to each source's metrics, in that source's layout (through each
    head that scores it, for a model with per-source heads)."""

    def __init__(self, sources: list[SourceEvaluation]):
        self.sources = sources
        self.workspace: tempfile.TemporaryDirectory | None = None

    def process(self, predictions: Sequence[Mapping], metas: Sequence[Mapping]) -> None:
        """``predictions``: model.predict's dicts; ``metas``: the batch's meta dicts."""
        readers: dict[int, list[int]] = {}
        for i, src in enumerate(self.sources):
            readers.setdefault(src.source, []).append(i)
        by_reader: dict[int, list[dict]] = {}
        for pred, meta in zip(predictions, metas, strict=True):
            for reader in readers.get(int(meta.get("source_index", 0)), []):
                src = self.sources[reader]
                by_reader.setdefault(reader, []).append(self._sample(src, pred, meta))
        for reader, samples in by_reader.items():
            for metric in self.sources[reader].metrics:
                metric.process(samples)

    @staticmethod
    def _sample(src: SourceEvaluation, pred: Mapping, meta: Mapping) -> dict:
        """What a metric reads of one prediction, in the source's layout."""
        if src.head is not None:
            if src.head not in pred.get("heads", {}):
                raise ConfigError(
                    f"evaluation of source '{src.name}' through head '{src.head}': the model "
                    f"predicted only {sorted(pred.get('heads', {}))} for a sample whose "
                    f"dataset_name is '{meta.get('dataset_name')}'")
            pred = pred["heads"][src.head]
        keypoints = np.asarray(pred["keypoints"])[:, src.output_index]
        scores = np.asarray(pred["keypoint_scores"])[:, src.output_index]
        scale = np.asarray(meta["input_scale"], np.float64).reshape(-1, 2)
        return dict(
                id=meta["id"], img_id=meta["img_id"], keypoints=keypoints,
            keypoint_scores=scores,
            bbox=np.asarray(meta["bbox"], np.float64).reshape(-1, 4),
            bbox_score=np.asarray(meta.get("bbox_score", 1.0), np.float64).reshape(-1),
            area=np.prod(scale, axis=1),
            gt_keypoints=np.asarray(meta["keypoints"])[None, src.gt_index],
            gt_visible=np.asarray(meta["keypoints_visible"])[None, src.gt_index],
            gt_bbox=np.asarray(meta["bbox"], np.float64).reshape(-1, 4),
        )

    def evaluate(self) -> dict[str, float]:
        results: dict[str, float] = {}
        for src in self.sources:
            for metric in src.metrics:
                if metric.results:
                    results.update(metric.evaluate())
        return results


def _readers(name: str, outputs: KeypointSchema,
             heads: Mapping[str, KeypointSchema] | None) -> list[tuple[str | None, str, Any]]:
    """(head, prefix template, layout) for each way source ``name`` is scored: the model's
    output, or with per-source heads its own head and the union head ('union/{prefix}')."""
    if heads is None:
        return [(None, "{}", outputs)]
    readers = [(name, "{}", heads[name])] if name in heads and name != "union" else []
    if "union" in heads:
        readers.append(("union", "union/{}", heads["union"]))
    if not readers:
        raise ConfigError(f"evaluation of source '{name}': the model has no head for it "
                          f"(heads: {', '.join(heads)}) and no union head")
    return readers


def build_evaluator(evaluator_cfg: Any, dataset: Any, model_schema: KeypointSchema,
                    output_keypoint_indices: Sequence[int] | None = None,
                    heads: Mapping[str, KeypointSchema] | None = None) -> PerSourceEvaluator:
    """One set of metrics per source of ``dataset`` (a dataset or a CombinedDataset).

    ``evaluator_cfg`` is MMPose's ``val_evaluator`` (one metric dict or a list). Per source,
    a metric without ``ann_file`` gets the source's annotation file, the prefix is the
    source's name and the sigmas its own. A file without ``area`` (AIC, CrowdPose) is scored
    with 0.53·w·h, exactly what ``use_area=False`` does. ``heads`` (a MultiSourceHead's
    ``output_schemas()``): each source is scored with its own head (``coco/AP``) and with
    the union head where there is one (``union/coco/AP``).
    """
    cfgs = evaluator_cfg if isinstance(evaluator_cfg, (list, tuple)) else [evaluator_cfg]
    workspace = tempfile.TemporaryDirectory(prefix="posemix-gt-")
    outputs = output_schema(model_schema, output_keypoint_indices)
    sources = _sources(dataset)
    evaluations = []
    for source, (name, sub) in enumerate(sources):
        label = f"evaluation of source '{name}'"
        # A source converted to the combined layout is scored in its own layout again.
        gt_index = output_indices_for(sub.schema, dataset.schema, label)
        for head, prefix, layout in _readers(name, outputs, heads):
            where = label if head is None else f"{label} through head '{head}'"
            index = output_indices_for(sub.schema, layout, where)
            metrics = []
            for cfg in cfgs:
                cfg = dict(copy.deepcopy(cfg))
                if cfg.get("type") == "CocoMetric":
                    if cfg.get("ann_file") is None or len(sources) > 1:
                        cfg["ann_file"] = source_ann_file(sub, name, workspace)
                cfg["prefix"] = prefix.format(cfg.get("prefix", name))
                metric = METRICS.build(cfg)
                metric.dataset_meta = sub.schema
                metrics.append(metric)
            evaluations.append(SourceEvaluation(name, sub.schema, index, gt_index, metrics,
                                                source, head))
    evaluator = PerSourceEvaluator(evaluations)
    evaluator.workspace = workspace  # exported GT files live as long as the evaluator
    return evaluator


def source_ann_file(dataset: Any, name: str, workspace: tempfile.TemporaryDirectory) -> str:
    """The COCO GT file of a source: its own file, or one written from its table."""
    if is_coco_layout(dataset.ann_file):
        return str(dataset.ann_file)
    if getattr(dataset, "bbox_file", None):
        raise ConfigError(f"source '{name}': evaluating detections needs a COCO-layout "
                          f"annotation file, but {dataset.ann_file} is not one")
    path = Path(workspace.name) / f"{name}_gt.json"
    return str(write_coco_gt(dataset.table, dataset.schema, path))
