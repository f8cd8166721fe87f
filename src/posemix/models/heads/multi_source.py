"""MultiSourceHead: one output head per source on a shared backbone, beside an optional
union head (ViTPose+'s design), so that a source is learned in its own keypoint layout.

One union head for all sources makes them compete for the same output channels; a head
per source lets each keep its own definition of a keypoint (AIC's and COCO's hips are not
the same point) while the backbone is shared. Every sample trains its own source's head
(and the union head); its targets in the source's layout are the union targets read at
the union positions of the source's keypoints, so the pipeline stays one and the same.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from posemix.errors import CheckpointError, ConfigError, PosemixError
from posemix.keypoints import KeypointSchema, load_schema, schema_from_metainfo, schema_to_metainfo
from posemix.keypoints.mapping import output_indices_for
from posemix.models.heads.common import predict_outputs
from posemix.registry import MODELS

UNION = "union"
# targets with one entry per keypoint on axis 1: a source's are the union's at its positions
KEYPOINT_TARGETS = frozenset({"heatmaps", "keypoint_weights", "keypoints_defined",
                              "keypoint_x_labels", "keypoint_y_labels", "keypoint_labels",
                              "keypoints_visible_weights"})


def _encode(record: Mapping[str, Any]) -> torch.Tensor:
    return torch.tensor(list(json.dumps(record).encode()), dtype=torch.uint8)


def _int_keys(pairs: list[tuple[str, Any]]) -> dict:
    """JSON made metainfo's integer ids (keypoint_info, skeleton_info) strings: undo it."""
    return {int(k) if k.isdigit() else k: v for k, v in pairs}


def layouts_from_state_dict(state_dict: Mapping[str, Any], prefix: str = "head."
                            ) -> dict[str, KeypointSchema]:
    """The heads and their schemas a MultiSourceHead checkpoint records (``union`` among
    them when it has a union head), read without building the model."""
    record = state_dict.get(f"{prefix}layouts")
    if record is None:
        raise CheckpointError(f"the state dict has no '{prefix}layouts': not a "
                              f"MultiSourceHead checkpoint")
    data = json.loads(bytes(record.tolist()).decode(), object_pairs_hook=_int_keys)
    return {name: schema_from_metainfo(info, source=f"checkpoint head '{name}'")
            for name, info in data.items()}


def per_source_head_cfg(head: Mapping[str, Any], sources: Sequence[str], union: bool = True,
                        loss_weights: Mapping[str, float] | None = None) -> dict[str, Any]:
    """A MultiSourceHead config with a copy of ``head`` (a one-head config, whose size comes
    from the schema) per source and, with ``union``, for the union: turns a combined
    model's config into its per-source-heads variant without writing the head out again."""
    cfg: dict[str, Any] = dict(type="MultiSourceHead",
                               heads={name: copy.deepcopy(dict(head)) for name in sources},
                               union=copy.deepcopy(dict(head)) if union else None)
    if loss_weights is not None:
        cfg["loss_weights"] = dict(loss_weights)
    return cfg


@MODELS.register()
class MultiSourceHead(nn.Module):
    """``heads``: source name → head config (any head of heads/common.py's interface);
    ``union``: the head over the model's schema, or None; ``metainfo``: source name →
    schema spec, for a source whose name is not a built-in schema; ``loss_weights``: head
    name → weight (default 1 each). The source of a sample is its meta's ``dataset_name``
    (CombinedDataset's source names). Sub-heads size themselves from their schemas.
    """

    def __init__(self, heads: Mapping[str, Mapping[str, Any] | nn.Module],
                 union: Mapping[str, Any] | nn.Module | None = None,
                 metainfo: Mapping[str, Any] | None = None,
                 loss_weights: Mapping[str, float] | None = None):
        super().__init__()
        if not isinstance(heads, Mapping) or not heads:
            raise ConfigError("MultiSourceHead heads must be a non-empty dict: source name → "
                              "head config, e.g. heads=dict(coco=dict(type='HeatmapHead', ...))")
        bad = [n for n in heads if not isinstance(n, str) or not n or "." in n or n == UNION]
        if bad:
            raise ConfigError(f"MultiSourceHead head names {bad} are not usable: a source name "
                              f"without '.', and '{UNION}' is the union head's")
        metainfo = dict(metainfo or {})
        stray = sorted(set(metainfo) - set(heads))
        if stray:
            raise ConfigError(f"MultiSourceHead metainfo names {stray}, which have no head "
                              f"(heads: {list(heads)})")
        self.schemas = {name: self._schema(name, metainfo.get(name, name)) for name in heads}
        self.heads = nn.ModuleDict({name: MODELS.build(cfg) for name, cfg in heads.items()})
        for name, head in self.heads.items():
            schema = self.schemas[name]
            head.set_out_channels(schema.num_keypoints, f"the schema '{schema.name}' of "
                                                        f"MultiSourceHead head '{name}'")
        self.union = MODELS.build(union) if union is not None else None
        self.loss_weights = self._weights(loss_weights)
        self.out_channels: int | None = None
        self.union_schema: KeypointSchema | None = None
        self.union_index: dict[str, np.ndarray] = {}
        self.output_head = UNION if self.union is not None else next(iter(self.heads))
        self.register_buffer("layouts", self._record(), persistent=True)

    # -- construction -------------------------------------------------------------------
    @staticmethod
    def _schema(name: str, spec: Any) -> KeypointSchema:
        try:
            return load_schema(spec)
        except PosemixError as exc:
            raise ConfigError(f"MultiSourceHead head '{name}': no keypoint schema ({exc}); "
                              f"give it one with metainfo=dict({name}=...)") from exc

    def _weights(self, given: Mapping[str, float] | None) -> dict[str, float]:
        names = list(self.heads) + ([UNION] if self.union is not None else [])
        weights = dict.fromkeys(names, 1.0)
        for name, value in (given or {}).items():
            if name not in weights:
                raise ConfigError(f"MultiSourceHead loss_weights names '{name}', which is not "
                                  f"one of its heads {names}")
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value < 0:
                raise ConfigError(f"MultiSourceHead loss_weights['{name}'] must be a finite "
                                  f"number >= 0, got {value!r}")
            weights[name] = float(value)
        return weights

    def _record(self) -> torch.Tensor:
        """What the checkpoint records of the heads: each one's schema (as metainfo)."""
        record = {name: schema_to_metainfo(s) for name, s in self.output_schemas().items()}
        return _encode(record)

    def set_out_channels(self, num_keypoints: int, source: str) -> None:
        """The model's schema size: the union head's output, the layout of the targets."""
        if self.out_channels is not None and self.out_channels != num_keypoints:
            raise ConfigError(f"MultiSourceHead's union has {self.out_channels} keypoints but "
                              f"{source} says {num_keypoints}")
        if self.union is not None:
            self.union.set_out_channels(num_keypoints, source)
        self.out_channels = num_keypoints

    def bind_union(self, schema: KeypointSchema) -> None:
        """Learn where each source's keypoints lie in the model's schema (by name)."""
        self.set_out_channels(schema.num_keypoints, f"the model's metainfo '{schema.name}'")
        self.union_schema = schema
        self.union_index = {
            name: output_indices_for(s, schema, f"MultiSourceHead head '{name}' in the model's "
                                                f"schema")
            for name, s in self.schemas.items()}
        self.layouts = self._record()

    def check_output_head(self, name: str | None) -> None:
        """``test_cfg.output_head``: which head's keypoints ``predict`` returns."""
        if name is None:
            return
        if name not in self.output_schemas():
            raise ConfigError(f"test_cfg output_head='{name}' is not a head of the model "
                              f"({', '.join(self.output_schemas())})")
        self.output_head = name

    def output_schemas(self) -> dict[str, KeypointSchema]:
        """Head name → the layout it predicts in (the union head's once bound)."""
        out = dict(self.schemas)
        if self.union is not None and self.union_schema is not None:
            out[UNION] = self.union_schema
        return out

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: Any) -> None:
        saved = state_dict.get(f"{prefix}layouts")
        if saved is not None and not torch.equal(saved.to(self.layouts.device), self.layouts):
            theirs = layouts_from_state_dict(state_dict, prefix)
            raise CheckpointError(
                f"the checkpoint's MultiSourceHead heads "
                f"{ {n: s.num_keypoints for n, s in theirs.items()} } differ from the "
                f"config's { {n: s.num_keypoints for n, s in self.output_schemas().items()} } "
                f"(names, keypoints or schemas)")
        super()._load_from_state_dict(state_dict, prefix, *args)

    # -- training -----------------------------------------------------------------------
    def _sources_of(self, metas: Sequence[Mapping[str, Any]] | None) -> list[str]:
        if metas is None:
            raise PosemixError("MultiSourceHead routes samples by their metas' dataset_name; "
                               "the model got no metas")
        names = [str(m.get("dataset_name")) for m in metas]
        unknown = sorted(set(names) - set(self.heads))
        if unknown:
            raise PosemixError(f"samples of source(s) {unknown} have no head in the "
                               f"MultiSourceHead (heads: {list(self.heads)}); add "
                               f"heads=dict({unknown[0]}=dict(type=...))")
        return names

    def source_targets(self, targets: Mapping[str, Any], rows: torch.Tensor, name: str
                       ) -> dict[str, Any]:
        """The targets of samples ``rows`` in head ``name``'s layout: per-keypoint targets at
        the union positions of its keypoints, the others as they are."""
        if self.union_schema is None:
            raise ConfigError("MultiSourceHead is not bound to the model's schema (build it "
                              "inside a TopdownPoseEstimator with a metainfo)")

        def pick(value: Any, per_keypoint: bool) -> Any:
            if isinstance(value, (list, tuple)):
                return [pick(v, per_keypoint) for v in value]
            value = value.to(rows.device)[rows]
            if not per_keypoint:
                return value
            return value[:, torch.as_tensor(self.union_index[name], device=rows.device)]

        return {key: pick(value, key in KEYPOINT_TARGETS) for key, value in targets.items()}

    def loss(self, feats: Sequence[torch.Tensor], targets: Mapping[str, Any],
             train_cfg: Mapping[str, Any] | None = None,
             metas: Sequence[Mapping[str, Any]] | None = None) -> dict[str, torch.Tensor]:
        """Each head's losses as ``{key}/{head}``. A source head's loss is its samples' mean,
        weighted by their share of the batch (so the sum is a per-sample mean) and by its
        loss weight; a head without a sample this batch adds an exact zero that keeps its
        parameters in the graph (DistributedDataParallel expects a gradient for each)."""
        names = self._sources_of(metas)
        device = feats[-1].device
        losses: dict[str, torch.Tensor] = {}
        for name, head in self.heads.items():
            rows = [i for i, n in enumerate(names) if n == name]
            if not rows:
                losses[f"loss_kpt/{name}"] = sum(p.sum() for p in head.parameters()) * 0.0
                continue
            index = torch.as_tensor(rows, device=device)
            sub = head.loss([f[index] for f in feats], self.source_targets(targets, index, name),
                            train_cfg, [metas[i] for i in rows])
            scale = self.loss_weights[name] * len(rows) / len(names)
            losses.update(self._named(sub, name, scale))
        if self.union is not None:
            sub = self.union.loss(feats, targets, train_cfg, metas)
            losses.update(self._named(sub, UNION, self.loss_weights[UNION]))
        return losses

    @staticmethod
    def _named(losses: Mapping[str, torch.Tensor], name: str, scale: float
               ) -> dict[str, torch.Tensor]:
        return {f"{key}/{name}": value * scale if key.startswith("loss") else value
                for key, value in losses.items()}

    # -- prediction ---------------------------------------------------------------------
    def forward(self, feats: Sequence[torch.Tensor]) -> Any:
        """The output head's raw outputs (what export traces)."""
        return self.sub_head(self.output_head)(feats)

    def sub_head(self, name: str) -> nn.Module:
        """Head ``name`` (a source's, or ``union``): what ``posemix export --head`` exports."""
        return self.union if name == UNION else self.heads[name]

    def predict_sources(self, feats: Sequence[torch.Tensor],
                        flip_feats: Sequence[torch.Tensor] | None,
                        metas: Sequence[Mapping[str, Any]], test_cfg: Mapping[str, Any]
                        ) -> list[dict[str, tuple[np.ndarray, np.ndarray]]]:
        """Per sample, head name → (keypoints (K, 2) in input-crop pixels, scores (K,)) for the
        output head, the union head and the sample's own source's head. Each head runs on
        the samples that need it and flips with its own schema's flip partners."""
        everyone = list(range(len(metas)))
        wanted: dict[str, list[int]] = {self.output_head: everyone}
        if self.union is not None:
            wanted[UNION] = everyone
        names = [m.get("dataset_name") for m in metas]
        for name in self.heads:
            if name not in wanted:
                rows = [i for i, n in enumerate(names) if n == name]
                if rows:
                    wanted[name] = rows
        schemas = self.output_schemas()
        results: list[dict[str, tuple[np.ndarray, np.ndarray]]] = [{} for _ in metas]
        for name, rows in wanted.items():
            index = torch.as_tensor(rows, device=feats[-1].device)
            outputs = predict_outputs(
                self.sub_head(name), [f[index] for f in feats],
                None if flip_feats is None else [f[index] for f in flip_feats],
                schemas[name].flip_indices, test_cfg)
            keypoints, scores = self.sub_head(name).decode(outputs)
            for j, i in enumerate(rows):
                results[i][name] = (keypoints[j], scores[j])
        return results
