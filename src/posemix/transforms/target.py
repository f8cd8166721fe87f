"""Training targets: encode the cropped keypoints with a codec, masked by what was labelled.

"Not annotated" is not "occluded": a keypoint's weight is zero when this instance does not
label it (``keypoints_visible == 0``), when its source does not define it at all
(``keypoints_defined == 0``, a mixed-dataset union keypoint) or when the codec finds its
target entirely off the map. The heatmap loss then ignores exactly those.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from posemix.errors import ConfigError
from posemix.registry import CODECS, TRANSFORMS
from posemix.transforms.compose import BaseTransform, describe_sample, require


@TRANSFORMS.register()
class GenerateTarget(BaseTransform):
    """Run ``encoder`` (a codec config or object, or a list of them) on the sample.

    Encodes ``transformed_keypoints`` (else ``keypoints``) with ``keypoints_visible`` and
    writes the codec's outputs (``heatmaps``, ``keypoint_weights``, SimCC labels, ...)
    into ``results``. A (N, K, 2) ``keypoints_visible`` (MMPose's converter layout) is
    split into ``keypoints_visible`` and ``keypoints_visible_weights`` first.
    With several encoders, ``multilevel=True`` turns every output into a per-encoder
    list; otherwise outputs are merged (names must not clash) and only
    ``keypoint_weights`` becomes a list. ``use_dataset_keypoint_weights`` multiplies the
    weights by ``results['dataset_keypoint_weights']`` (the schema's joint weights) for
    every encoder (MMPose skips this for lists, a bug).
    """

    def __init__(self, encoder: dict | Any | list, target_type: str | None = None,
                 multilevel: bool = False, use_dataset_keypoint_weights: bool = False):
        if target_type is not None:
            warnings.warn("GenerateTarget target_type is deprecated and ignored; the codec "
                          "decides the target", DeprecationWarning, stacklevel=2)
        if isinstance(encoder, (list, tuple)):
            if not encoder:
                raise ConfigError("GenerateTarget encoder list is empty")
            self.encoder: Any = [CODECS.build(cfg) for cfg in encoder]
        else:
            self.encoder = CODECS.build(encoder)
        self.multilevel = multilevel
        self.use_dataset_keypoint_weights = use_dataset_keypoint_weights

    def _weight_mask(self, results: dict, visible: np.ndarray) -> np.ndarray:
        """(N, K) float32: labelled × defined by the source [× dataset joint weights]."""
        mask = (visible > 0).astype(np.float32)
        defined = results.get("keypoints_defined")
        if defined is not None:
            mask *= defined
        if self.use_dataset_keypoint_weights:
            mask *= np.asarray(require(results, "dataset_keypoint_weights", "GenerateTarget"),
                               dtype=np.float32)
        return mask

    def _encode(self, codec: Any, results: dict, keypoints: np.ndarray,
                visible: np.ndarray, mask: np.ndarray) -> dict:
        aux = {key: results[key] for key in getattr(codec, "auxiliary_encode_keys", ())}
        encoded = dict(codec.encode(keypoints, visible, **aux))
        if "keypoint_weights" in encoded:
            encoded["keypoint_weights"] = (encoded["keypoint_weights"] * mask).astype(np.float32)
        return encoded

    def _merge(self, encoded: list[dict], results: dict) -> dict:
        """Combine several encoders' outputs as MMPose does (see the class docstring)."""
        if self.multilevel:
            keys = set(encoded[0])
            if any(set(e) != keys for e in encoded[1:]):
                raise ConfigError("GenerateTarget multilevel=True needs encoders that produce "
                                  f"the same outputs, got {[sorted(e) for e in encoded]}")
            return {key: [e[key] for e in encoded] for key in encoded[0]}
        merged: dict = {}
        for e in encoded:
            for key, value in e.items():
                if key == "keypoint_weights":
                    merged.setdefault(key, []).append(value)
                elif key in merged:
                    raise ConfigError(
                        f"GenerateTarget encoders both produce '{key}'; use multilevel=True "
                        f"or different codecs ({describe_sample(results)})"
                    )
                else:
                    merged[key] = value
        return merged

    def __call__(self, results: dict) -> dict:
        keypoints = results.get("transformed_keypoints")
        if keypoints is None:
            keypoints = require(results, "keypoints", "GenerateTarget")
        visible = results.get("keypoints_visible")
        if visible is None:
            visible = np.ones(keypoints.shape[:2], dtype=np.float32)
        elif visible.ndim == 3 and visible.shape[2] == 2:
            visible, results["keypoints_visible_weights"] = visible[..., 0], visible[..., 1]
            results["keypoints_visible"] = visible
        mask = self._weight_mask(results, visible)
        if isinstance(self.encoder, list):
            encoded = self._merge([self._encode(codec, results, keypoints, visible, mask)
                                   for codec in self.encoder], results)
        else:
            encoded = self._encode(self.encoder, results, keypoints, visible, mask)
        results.update(encoded)
        return results
