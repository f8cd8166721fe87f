"""Evaluate a model per source in that source's own layout, and pooled as MMPose does.

A model trained on the union of COCO and AIC outputs 19 keypoints. COCO val is scored
on the 17 COCO keypoints with COCO's sigmas, AIC val on AIC's 14 with AIC's sigmas and
no ``area``: the evaluator derives each source's subset of the model's outputs from the
keypoint names (no hand-written ``output_keypoint_indices``), routes each prediction by
its source index (never by a free-text name that can collide), and prefixes the results
with the source's name (``coco/AP``, ``aic/AP``).

A source is scored over the keypoints that both the model predicts and the samples carry
(mapped into the combined layout by the source's KeypointConverter). When that is not all
of the source's keypoints the source is *partial*: ``mpii/PCK`` over 12 of MPII's 16
keypoints, OKS AP over the shared keypoints with MPII's own sigmas; ``notes`` (also
warned at build time) name the missing keypoints. Only a source with no shared keypoint
is refused.

On a CombinedDataset the PCK-family metrics (PCKAccuracy, AUC, EPE) are also computed as
MMPose's body8 evaluator computes them: every source converted into the combined layout,
predictions and GT pooled, each source contributing the keypoints it labels; these keep
MMPose's unprefixed keys (``PCK``, ``AUC``, ``EPE``).

A model with per-source heads (MultiSourceHead) scores each source through its own head
(``coco/AP``) and through the union head where there is one (``union/coco/AP``).
"""

from __future__ import annotations

import copy
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from posemix.data.sources import is_combined, source_views
from posemix.errors import ConfigError
from posemix.evaluation.coco_gt import is_coco_layout, write_coco_gt
from posemix.keypoints import KeypointSchema, MappingEntry, mapping_by_name
from posemix.registry import METRICS

# Metrics that need no annotation file and so can pool every source (MMPose's body8 test).
POOLED_METRICS = ("PCKAccuracy", "AUC", "EPE")
POOLED = "pooled"  # the name of the pooled evaluation among ``sources``
NOTE_NAMES = 12  # keypoints named in a partial source's note (Halpe beside COCO lacks 119)


@dataclass
class SourceEvaluation:
    """One source scored through one head: its name, the schema it is scored in, the model
    outputs it reads, the GT keypoints of the samples it reads, its metrics and the
    keypoints it cannot score."""

    name: str
    schema: KeypointSchema
    output_index: np.ndarray  # (K_scored,) index into the model's output keypoints
    gt_index: np.ndarray  # (K_scored,) index into the GT keypoints the samples carry
    metrics: list[Any]
    missing: tuple[str, ...] = ()
    source: int = 0  # the samples' source_index
    head: str | None = None  # a MultiSourceHead's head whose outputs it reads (predict's
    # 'heads'); None: the model's main output

    @property
    def prefix(self) -> str:
        """What its results' keys start with: the source's name, after 'union/' when it is
        read through a union head."""
        return self.metrics[0].prefix if self.metrics else self.name

    @property
    def note(self) -> str:
        """'' when every keypoint of the source is scored; else what is left out."""
        if not self.missing:
            return ""
        total = self.schema.num_keypoints + len(self.missing)
        shown = list(self.missing[:NOTE_NAMES])
        more = (f" and {len(self.missing) - NOTE_NAMES} more"
                if len(self.missing) > NOTE_NAMES else "")
        return (f"{self.prefix}: partial, scored on {self.schema.num_keypoints} of {total} "
                f"keypoints; not scored: {shown}{more}")


def _index_by_name(source: KeypointSchema, target: KeypointSchema, label: str) -> np.ndarray:
    """For each keypoint of ``source``, the keypoint of ``target`` with its name, or -1."""
    return _index_of(mapping_by_name(source, target, label).entries, source.num_keypoints)


def _index_of(entries: Sequence[MappingEntry], num_source: int) -> np.ndarray:
    """For each source keypoint, the target slot it is copied to (-1: none)."""
    index = np.full(num_source, -1, np.int64)
    for entry in entries:
        if len(entry.sources) == 1:
            index[entry.sources[0]] = entry.target
    return index


def subset_schema(schema: KeypointSchema, idx: Sequence[int], note: str) -> KeypointSchema:
    """``schema`` restricted to keypoints ``idx`` (in that order); swaps and links whose
    partner is gone are dropped."""
    idx = list(idx)
    names = [schema.keypoints[i] for i in idx]
    swaps = [schema.swaps[i] if schema.swaps[i] in names else "" for i in idx]
    return KeypointSchema(
        name=schema.name, keypoints=tuple(names),
        types=tuple(schema.types[i] for i in idx), swaps=tuple(swaps),
        links=tuple(link for link in schema.links if set(link) <= set(names)),
        joint_weights=schema.joint_weights[idx], sigmas=schema.sigmas[idx],
        source=f"{schema.source} ({note})")


def output_schema(model_schema: KeypointSchema,
                  output_keypoint_indices: Sequence[int] | None) -> KeypointSchema:
    """The layout of what ``model.predict`` returns (after ``output_keypoint_indices``)."""
    if output_keypoint_indices is None:
        return model_schema
    return subset_schema(model_schema, output_keypoint_indices, "output_keypoint_indices")


def _sources(dataset: Any, model_schema: KeypointSchema) -> list[tuple[str, Any, np.ndarray]]:
    """(name, sub-dataset, carried) per source of a CombinedDataset, or of the dataset itself.

    ``carried[k]`` is the slot of the source's keypoint k in the GT the samples carry (the
    layout its KeypointConverter maps it into), -1 if the samples do not carry it.
    """
    views = source_views(dataset)
    if is_combined(dataset):
        return [(v.name, v.dataset, _index_of(v.mapping.entries, v.schema.num_keypoints))
                for v in views]
    (view,) = views
    converter = getattr(dataset, "converter", None)
    if converter is None:
        entries = view.mapping.entries  # the identity
    elif converter.mapping is not None:
        entries = converter.mapping.entries
    elif converter.by_name:  # it converts into the model's layout: bind it to that
        entries = converter.bind(view.schema, model_schema,
                                 f"{type(dataset).__name__} converter").entries
    else:
        entries = converter.entries
    return [(view.name, dataset, _index_of(entries, view.schema.num_keypoints))]


class PerSourceEvaluator:
    """Routes predictions to each source's metrics (in that source's layout, through each
    head that scores it) and, when ``pooled`` is set, to the pooled metrics (in the combined
    layout)."""

    def __init__(self, sources: list[SourceEvaluation], pooled: SourceEvaluation | None = None):
        self.sources = sources
        self.pooled = pooled
        self.workspace: tempfile.TemporaryDirectory | None = None

    @property
    def notes(self) -> list[str]:
        """One line per partial source naming the keypoints it is not scored on."""
        return [src.note for src in self.sources if src.note]

    @staticmethod
    def _record(src: SourceEvaluation, pred: Mapping, meta: Mapping) -> dict:
        """What a metric reads of one prediction, in the source's layout."""
        if src.head is not None:
            if src.head not in pred.get("heads", {}):
                raise ConfigError(
                    f"evaluation of source '{src.name}' through head '{src.head}': the model "
                    f"predicted only {sorted(pred.get('heads', {}))} for a sample whose "
                    f"dataset_name is '{meta.get('dataset_name')}'")
            pred = pred["heads"][src.head]
        scale = np.asarray(meta["input_scale"], np.float64).reshape(-1, 2)
        bbox = np.asarray(meta["bbox"], np.float64).reshape(-1, 4)
        return dict(
            id=meta["id"], img_id=meta["img_id"],
            keypoints=np.asarray(pred["keypoints"])[:, src.output_index],
            keypoint_scores=np.asarray(pred["keypoint_scores"])[:, src.output_index],
            bbox=bbox, bbox_score=np.asarray(meta.get("bbox_score", 1.0), np.float64).reshape(-1),
            area=np.prod(scale, axis=1),
            gt_keypoints=np.asarray(meta["keypoints"])[None, src.gt_index],
            gt_visible=np.asarray(meta["keypoints_visible"])[None, src.gt_index],
            gt_bbox=bbox)

    def process(self, predictions: Sequence[Mapping], metas: Sequence[Mapping]) -> None:
        """``predictions``: model.predict's dicts; ``metas``: the batch's meta dicts."""
        readers: dict[int, list[int]] = {}
        for i, src in enumerate(self.sources):
            readers.setdefault(src.source, []).append(i)
        by_reader: dict[int, list[dict]] = {}
        pooled = []
        for pred, meta in zip(predictions, metas, strict=True):
            for reader in readers.get(int(meta.get("source_index", 0)), []):
                by_reader.setdefault(reader, []).append(
                    self._record(self.sources[reader], pred, meta))
            if self.pooled is not None:
                pooled.append(self._record(self.pooled, pred, meta))
        for reader, samples in by_reader.items():
            for metric in self.sources[reader].metrics:
                metric.process(samples)
        if pooled:
            for metric in self.pooled.metrics:
                metric.process(pooled)

    def evaluate(self) -> dict[str, float]:
        """Every metric's results; a partial source's also say how many keypoints they
        cover (``mpii/scored_keypoints``; ``notes`` name the others)."""
        results: dict[str, float] = {}
        everything = self.sources + ([self.pooled] if self.pooled is not None else [])
        for src in everything:
            scored = [metric for metric in src.metrics if metric.results]
            for metric in scored:
                results.update(metric.evaluate())
            if scored and src.missing:
                results[f"{src.prefix}/scored_keypoints"] = float(src.schema.num_keypoints)
        return results


def _readers(name: str, outputs: KeypointSchema,
             heads: Mapping[str, KeypointSchema] | None) -> list[tuple[str | None, str, Any]]:
    """(head, head prefix, layout) for each way source ``name`` is scored: the model's
    output, or with per-source heads its own head and the union head ('union/' before the
    metric's prefix)."""
    if heads is None:
        return [(None, "", outputs)]
    readers = [(name, "", heads[name])] if name in heads and name != "union" else []
    if "union" in heads:
        readers.append(("union", "union/", heads["union"]))
    if not readers:
        raise ConfigError(f"evaluation of source '{name}': the model has no head for it "
                          f"(heads: {', '.join(heads)}) and no union head")
    return readers


def _scored(name: str, schema: KeypointSchema, carried: np.ndarray, outputs: KeypointSchema,
            carried_schema: KeypointSchema) -> tuple[KeypointSchema, np.ndarray, np.ndarray,
                                                      tuple[str, ...]]:
    """(schema of the scored keypoints, their model outputs, their GT slots, the names of the
    keypoints left out) of one source; a ConfigError if nothing can be scored."""
    label = f"evaluation of source '{name}'"
    output = _index_by_name(schema, outputs, label)
    keep = np.flatnonzero((output >= 0) & (carried >= 0))
    if not keep.size:
        raise ConfigError(
            f"{label}: none of its keypoints {list(schema.keypoints)} is both predicted by the "
            f"model (outputs: {list(outputs.keypoints)}) and carried by the samples (layout "
            f"'{carried_schema.name}'); there is nothing to score")
    missing = tuple(schema.keypoints[i] for i in range(schema.num_keypoints) if i not in keep)
    scored = schema if not missing else subset_schema(schema, keep, "scored keypoints")
    return scored, output[keep], carried[keep], missing


def _build_metrics(cfgs: Sequence[Any], schema: KeypointSchema, prefix: str,
                   ann_file: Any = None, keep_own: bool = False, head_prefix: str = ""
                   ) -> list[Any]:
    """``cfgs`` built with ``prefix`` (unless set; ``head_prefix`` before it) and ``schema``
    as their dataset_meta; a
    CocoMetric gets ``ann_file()`` (a callable, so a GT file is written only when needed)
    unless ``keep_own`` and its config names one."""
    metrics = []
    for cfg in cfgs:
        cfg = dict(copy.deepcopy(cfg))
        if cfg.get("type") == "CocoMetric" and ann_file is not None \
                and not (keep_own and cfg.get("ann_file") is not None):
            cfg["ann_file"] = ann_file()
        cfg["prefix"] = head_prefix + cfg.get("prefix", prefix)
        metric = METRICS.build(cfg)
        metric.dataset_meta = schema
        metrics.append(metric)
    return metrics


def build_evaluator(evaluator_cfg: Any, dataset: Any, model_schema: KeypointSchema,
                    output_keypoint_indices: Sequence[int] | None = None,
                    heads: Mapping[str, KeypointSchema] | None = None) -> PerSourceEvaluator:
    """One set of metrics per source of ``dataset`` (a dataset or a CombinedDataset), plus
    the pooled PCK-family metrics on a CombinedDataset.

    ``evaluator_cfg`` is MMPose's ``val_evaluator`` (one metric dict or a list). Per source,
    a metric without ``ann_file`` gets the source's annotation file (restricted to the
    scored keypoints for a partial source), the prefix is the source's name and the sigmas
    its own. A file without ``area`` (AIC, CrowdPose) is scored with 0.53·w·h, exactly what
    ``use_area=False`` does. ``heads`` (a MultiSourceHead's ``output_schemas()``): each
    source is scored with its own head (``coco/AP``) and with the union head where there is
    one (``union/coco/AP``).
    """
    cfgs = evaluator_cfg if isinstance(evaluator_cfg, (list, tuple)) else [evaluator_cfg]
    workspace = tempfile.TemporaryDirectory(prefix="posemix-gt-")
    outputs = output_schema(model_schema, output_keypoint_indices)
    sources = _sources(dataset, model_schema)
    combined = is_combined(dataset)
    carried_schema = dataset.schema if combined else model_schema
    evaluations = []
    for source, (name, sub, carried) in enumerate(sources):
        for head, head_prefix, layout in _readers(name, outputs, heads):
            scored, output, gt, missing = _scored(name, sub.schema, carried, layout,
                                                  carried_schema)

            def ann_file(sub=sub, name=name, scored=scored, missing=missing):
                return source_ann_file(sub, name, workspace, scored if missing else None)

            metrics = _build_metrics(cfgs, scored, name, ann_file,
                                     keep_own=len(sources) == 1 and not missing,
                                     head_prefix=head_prefix)
            evaluations.append(SourceEvaluation(name, scored, output, gt, metrics, missing,
                                                source, head))
            if missing:
                warnings.warn(evaluations[-1].note, stacklevel=2)
    pooled = None
    pooled_cfgs = [c for c in cfgs if isinstance(c, Mapping) and c.get("type") in POOLED_METRICS]
    pooled_head = None if heads is None else "union"
    if combined and pooled_cfgs and heads is not None and "union" not in heads:
        warnings.warn("pooled PCK/AUC/EPE need a union head: the per-source heads' layouts "
                      "differ, so only the per-source results are computed", stacklevel=2)
    elif combined and pooled_cfgs:
        layout = dataset.schema
        scored, output, gt, _ = _scored(POOLED, layout, np.arange(layout.num_keypoints),
                                        outputs if heads is None else heads["union"], layout)
        pooled = SourceEvaluation(POOLED, scored, output, gt, _build_metrics(
            [{"prefix": "", **c} for c in pooled_cfgs], scored, ""), head=pooled_head)
    evaluator = PerSourceEvaluator(evaluations, pooled)
    evaluator.workspace = workspace  # exported GT files live as long as the evaluator
    return evaluator


def source_ann_file(dataset: Any, name: str, workspace: tempfile.TemporaryDirectory,
                    scored: KeypointSchema | None = None) -> str:
    """The COCO GT file of a source: its own file, or one written from its table (in the
    ``scored`` keypoints only, with the file's areas, for a partial source)."""
    own_layout = is_coco_layout(dataset.ann_file)
    if scored is None and own_layout:
        return str(dataset.ann_file)
    if getattr(dataset, "bbox_file", None):
        raise ConfigError(f"source '{name}': evaluating detections needs the source's own "
                          f"COCO-layout annotation file with every keypoint the model "
                          f"predicts, but {dataset.ann_file} is "
                          f"{'partial' if scored is not None else 'not COCO-layout'}")
    table, schema = dataset.table, dataset.schema
    if scored is not None:
        keep = [schema.index(k) for k in scored.keypoints]
        table, schema = table.keypoint_subset(keep), scored
    path = Path(workspace.name) / f"{name}_gt.json"
    return str(write_coco_gt(table, schema, path, with_area=own_layout))
