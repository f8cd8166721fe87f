"""What an exported graph carries in its ``metadata_props`` so that inference stands alone:
the keypoint schema (names, flip partners, skeleton), the input size and test pipeline, the
codec and its parameters, the head type and its output names, and the test_cfg (flip test,
output subset). Every value is JSON under a ``posemix.`` key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from posemix.errors import PosemixError
from posemix.keypoints import KeypointSchema, schema_from_metainfo

FORMAT = 1
PREFIX = "posemix."
INPUT_NAME = "input"  # uint8 BGR (N, 3, H, W), as the data pipeline packs images
# read back by posemix; keypoint_names and flip_indices are written for other consumers
_FIELDS = {"metainfo": dict, "input_size": list, "pipeline": list, "codec": dict, "head": dict,
           "output_names": list, "test_cfg": dict}
# metainfo dicts keyed by id, which JSON turns into strings
_ID_KEYED = ("keypoint_info", "skeleton_info")


@dataclass(frozen=True)
class DeployInfo:
    """Everything inference needs beside the graph."""

    metainfo: dict[str, Any]  # MMPose metainfo of the model's outputs (before the subset)
    input_size: tuple[int, int]  # (w, h) of the model input
    pipeline: list[dict[str, Any]]  # the test pipeline: image + box -> input crop
    codec: dict[str, Any]  # the decoder's config, e.g. dict(type='MSRAHeatmap', ...)
    head: dict[str, Any]  # {"type": registered head type, "name": sub-head name or None}
    output_names: tuple[str, ...]  # graph outputs, in the head's order
    test_cfg: dict[str, Any]  # flip_test, shift_heatmap, output_keypoint_indices, ...

    def schema(self, source: str) -> KeypointSchema:
        return schema_from_metainfo(self.metainfo, source=source)

    def to_props(self) -> dict[str, str]:
        schema = self.schema("the model's metainfo")
        props = {f"{PREFIX}format": str(FORMAT), f"{PREFIX}input": f"{INPUT_NAME}: uint8 BGR "
                 f"(N, 3, {self.input_size[1]}, {self.input_size[0]})",
                 f"{PREFIX}keypoint_names": json.dumps(list(schema.keypoints)),
                 f"{PREFIX}flip_indices": json.dumps(list(schema.flip_indices))}
        for field in _FIELDS:
            props[PREFIX + field] = json.dumps(getattr(self, field))
        return props

    @classmethod
    def from_props(cls, props: Mapping[str, str], source: str) -> DeployInfo:
        """Parse and check; ``source`` (the file) is named in every error."""
        if f"{PREFIX}format" not in props:
            raise PosemixError(f"{source}: an ONNX model without posemix's metadata (no "
                               f"'{PREFIX}format' in metadata_props); export it with "
                               f"'posemix export'")
        if props[f"{PREFIX}format"] != str(FORMAT):
            raise PosemixError(f"{source}: posemix metadata format {props[f'{PREFIX}format']}"
                               f" is not supported (this posemix reads format {FORMAT})")
        values: dict[str, Any] = {}
        for field in _FIELDS:
            try:
                values[field] = json.loads(props[PREFIX + field])
            except KeyError:
                raise PosemixError(f"{source}: metadata lacks '{PREFIX}{field}'") from None
            except ValueError as exc:
                raise PosemixError(f"{source}: metadata '{PREFIX}{field}' is not JSON: "
                                   f"{exc}") from None
            kind = _FIELDS[field]
            if not isinstance(values[field], kind):
                raise PosemixError(f"{source}: metadata '{PREFIX}{field}' must be a JSON "
                                   f"{'object' if kind is dict else 'array'}, got "
                                   f"{props[PREFIX + field][:80]}")
        metainfo = values["metainfo"]
        for key in _ID_KEYED:
            if isinstance(metainfo.get(key), dict):
                metainfo[key] = {int(i) if str(i).isdigit() else i: v
                                 for i, v in metainfo[key].items()}
        values["input_size"] = tuple(values["input_size"])
        values["output_names"] = tuple(values["output_names"])
        return cls(**values)

