"""``KeypointConverter``: MMPose's config name for a keypoint mapping.

In a sub-dataset's pipeline it is not run per sample: the dataset hands it to the
CombinedDataset, which binds it to the source and combined schemas (all checks run
then) and converts the whole instance table once. It still works as a per-sample
pipeline step for configs that put it elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from posemix.errors import MappingError
from posemix.keypoints.mapping import KeypointMapping, mapping_by_name, parse_pairs
from posemix.keypoints.schema import KeypointSchema
from posemix.registry import TRANSFORMS


@TRANSFORMS.register()
class KeypointConverter:
    """Map a source layout onto ``num_keypoints`` target keypoints.

    ``mapping`` is a list of ``(s, t)`` / ``((s1, s2, ...), t)`` pairs, or ``'by_name'``
    (the pairs are derived from the keypoint names of the two schemas). ``aliases`` tell
    ``'by_name'`` what the vocabulary cannot know: ``{'Hand': 'wrist'}`` reads the source's
    'Hand' (and 'LHand', 'hand_right', ...) as the wrist; :meth:`bind` refuses an alias to
    a name that is no point and warns of one that names no source keypoint (a typo would
    otherwise just leave keypoints unmapped). Flip indices are never derived
    here: they always come from the target schema.
    """

    def __init__(self, num_keypoints: int | None = None, mapping: Sequence | str = "by_name",
                 aliases: Mapping[str, str] | None = None):
        if num_keypoints is not None and (not isinstance(num_keypoints, int)
                                          or num_keypoints <= 0):
            raise MappingError(f"KeypointConverter: num_keypoints must be a positive integer, "
                               f"got {num_keypoints!r}")
        self.num_keypoints = num_keypoints
        self.by_name = mapping == "by_name"
        if aliases is not None and not self.by_name:
            raise MappingError("KeypointConverter: aliases apply to mapping='by_name' only")
        if aliases is not None and (not isinstance(aliases, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in aliases.items())):
            raise MappingError(f"KeypointConverter: aliases must map names to names, e.g. "
                               f"{{'Hand': 'wrist'}}, got {aliases!r}")
        self.aliases = dict(aliases or {})
        self.entries = None if self.by_name else parse_pairs(mapping, "KeypointConverter")
        self.mapping: KeypointMapping | None = None

    def bind(self, source: KeypointSchema, target: KeypointSchema,
             label: str) -> KeypointMapping:
        """Check this converter against both schemas and return the validated mapping.

        ``label`` names the sub-dataset in every error (e.g. "AicDataset (aic_train.json)").
        """
        if self.num_keypoints is not None and self.num_keypoints != target.num_keypoints:
            raise MappingError(
                f"{label}: KeypointConverter(num_keypoints={self.num_keypoints}) does not match "
                f"the combined schema '{target.name}' with {target.num_keypoints} keypoints"
            )
        if self.by_name:
            self.mapping = mapping_by_name(source, target, label, self.aliases)
        else:
            self.mapping = KeypointMapping(self.entries, source.num_keypoints,
                                           target.num_keypoints, label, source, target)
        return self.mapping

    def _unbound_mapping(self, num_source: int) -> KeypointMapping:
        if self.by_name:
            raise MappingError("KeypointConverter(mapping='by_name') needs the source and "
                               "target schemas: use it inside a CombinedDataset sub-dataset")
        if self.num_keypoints is None:
            raise MappingError("KeypointConverter: num_keypoints is required outside a "
                               "CombinedDataset")
        return KeypointMapping(self.entries, num_source, self.num_keypoints, "KeypointConverter")

    def __call__(self, results: dict) -> dict:
        """Convert one sample dict (keys of docs/contracts.md) in place."""
        keypoints = np.asarray(results["keypoints"])
        n, k = keypoints.shape[:2]
        mapping = self.mapping if self.mapping is not None and self.mapping.num_source == k \
            else self._unbound_mapping(k)
        visible = np.asarray(results.get("keypoints_visible", np.ones((n, k))))
        if visible.ndim == 3:
            visible = visible[..., 0]
        occluded = np.asarray(results.get("keypoints_occluded", np.zeros((n, k), bool)))
        codes = np.where(visible > 0, np.where(occluded, 1, 2), 0).astype(np.uint8)
        new_k, new_codes = mapping.apply(keypoints, codes)
        results["keypoints"] = new_k.astype(np.float32)
        results["keypoints_visible"] = (new_codes > 0).astype(np.float32)
        results["keypoints_occluded"] = new_codes == 1
        src_defined = np.asarray(results.get("keypoints_defined", np.ones((n, k))))
        defined = mapping.convert_defined(src_defined.reshape(-1, k).min(axis=0) > 0)
        results["keypoints_defined"] = np.broadcast_to(
            defined.astype(np.float32), (n, mapping.num_target)).copy()
        return results
