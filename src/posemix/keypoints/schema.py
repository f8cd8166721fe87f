"""A keypoint schema: what MMPose calls a dataset's metainfo, validated when built."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from posemix.errors import MetainfoError

KEYPOINT_TYPES = ("upper", "lower", "")
DEFAULT_KEYPOINT_COLOR = (255, 128, 0)
DEFAULT_LINK_COLOR = (96, 96, 255)


@dataclass(frozen=True, eq=False)
class KeypointSchema:
    """Names, flip partners, body parts, skeleton, loss weights and OKS sigmas of one layout.

    ``swaps[i]`` is the mirror keypoint's name ('' for a self-symmetric keypoint).
    ``source`` says where the schema came from, so every error can name it. ``aliases``
    are the user's name aliases it was built with (a union's): mappings by name into it
    read source names with them.
    """

    name: str
    keypoints: tuple[str, ...]
    types: tuple[str, ...]
    swaps: tuple[str, ...]
    links: tuple[tuple[str, str], ...]
    joint_weights: np.ndarray
    sigmas: np.ndarray
    colors: np.ndarray | None = None
    link_colors: np.ndarray | None = None
    source: str = "<built in code>"
    paper_info: object = field(default=None, repr=False)
    aliases: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        k = len(self.keypoints)
        set_ = object.__setattr__
        set_(self, "keypoints", tuple(self.keypoints))
        set_(self, "types", tuple(self.types))
        set_(self, "swaps", tuple(s or "" for s in self.swaps))
        set_(self, "links", tuple((str(a), str(b)) for a, b in self.links))
        set_(self, "joint_weights", self._weights(self.joint_weights, k))
        set_(self, "sigmas", self._float_field("sigmas", self.sigmas, k))
        colors = self.colors if self.colors is not None else [DEFAULT_KEYPOINT_COLOR] * k
        set_(self, "colors", self._colors("keypoint colors", colors, k))
        link_colors = (
            self.link_colors if self.link_colors is not None
            else [DEFAULT_LINK_COLOR] * len(self.links)
        )
        set_(self, "link_colors", self._colors("link colors", link_colors, len(self.links)))
        self._validate()

    # -- construction checks -------------------------------------------------------------
    def _fail(self, field_name: str, message: str) -> MetainfoError:
        return MetainfoError(
            f"{self.source}: schema '{self.name}', field '{field_name}': {message}")

    def _float_field(self, name: str, values: Sequence[float], k: int) -> np.ndarray:
        arr = np.asarray(values, dtype=np.float32).reshape(-1)
        if len(arr) != k:
            raise self._fail(name, f"has {len(arr)} values for {k} keypoints")
        if not np.all(np.isfinite(arr)):
            raise self._fail(name, "contains NaN or infinite values")
        return arr

    def _weights(self, values: Sequence[float], k: int) -> np.ndarray:
        arr = np.asarray(values, dtype=np.float32).reshape(-1)
        if len(arr) < k:
            # MMPose's own coco_aic.py ships 18 joint weights for 19 keypoints.
            missing = list(self.keypoints[len(arr):])
            warnings.warn(
                f"{self.source}: schema '{self.name}' has {len(arr)} joint_weights for {k} "
                f"keypoints; the missing weights of {missing} are set to 1.0",
                stacklevel=4,
            )
            arr = np.concatenate([arr, np.ones(k - len(arr), np.float32)])
        return self._float_field("joint_weights", arr, k)

    def _colors(self, name: str, values: object, n: int) -> np.ndarray:
        try:
            arr = np.asarray(values, dtype=np.float64).reshape(n, 3)
        except ValueError as exc:
            raise self._fail(name, f"expected {n} colours of 3 values each") from exc
        return np.clip(arr, 0, 255).astype(np.uint8)

    def _validate(self) -> None:
        k = len(self.keypoints)
        if k == 0:
            raise self._fail("keypoint_info", "defines no keypoints")
        seen: dict[str, int] = {}
        for i, name in enumerate(self.keypoints):
            if not isinstance(name, str) or not name:
                raise self._fail("keypoint_info", f"keypoint {i} has no name")
            if name in seen:
                raise self._fail("keypoint_info", f"duplicate keypoint name '{name}' "
                                 f"(ids {seen[name]} and {i})")
            seen[name] = i
        for label, values in (("types", self.types), ("swaps", self.swaps)):
            if len(values) != k:
                raise self._fail(label, f"has {len(values)} entries for {k} keypoints")
        for i, t in enumerate(self.types):
            if t not in KEYPOINT_TYPES:
                raise self._fail("keypoint_info", f"keypoint '{self.keypoints[i]}' has type "
                                 f"'{t}'; expected 'upper', 'lower' or ''")
        for i, s in enumerate(self.swaps):
            if s and s not in seen:
                raise self._fail("keypoint_info", f"keypoint '{self.keypoints[i]}' swaps with "
                                 f"unknown keypoint '{s}'")
            if s and s != self.keypoints[i]:
                back = self.swaps[seen[s]]
                if back != self.keypoints[i]:
                    raise self._fail("keypoint_info", f"swap is not symmetric: "
                                     f"'{self.keypoints[i]}' swaps with '{s}', but '{s}' swaps "
                                     f"with '{back or 'itself'}'")
        for a, b in self.links:
            for end in (a, b):
                if end not in seen:
                    raise self._fail("skeleton_info", f"link ({a}, {b}) names unknown "
                                     f"keypoint '{end}'")

    # -- derived -------------------------------------------------------------------------
    @property
    def num_keypoints(self) -> int:
        return len(self.keypoints)

    @cached_property
    def name_to_index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.keypoints)}

    def index(self, name: str) -> int:
        """Index of keypoint ``name``; a MetainfoError lists the valid names otherwise."""
        try:
            return self.name_to_index[name]
        except KeyError:
            raise self._fail("keypoint_info", f"no keypoint named '{name}'; "
                             f"keypoints are {list(self.keypoints)}") from None

    @cached_property
    def flip_indices(self) -> list[int]:
        """For each keypoint, the index of its mirror (itself when self-symmetric)."""
        return [self.name_to_index[s] if s else i for i, s in enumerate(self.swaps)]

    @cached_property
    def upper_body_ids(self) -> list[int]:
        return [i for i, t in enumerate(self.types) if t == "upper"]

    @cached_property
    def lower_body_ids(self) -> list[int]:
        return [i for i, t in enumerate(self.types) if t == "lower"]

    @cached_property
    def skeleton(self) -> list[tuple[int, int]]:
        """Skeleton links as index pairs."""
        return [(self.name_to_index[a], self.name_to_index[b]) for a, b in self.links]

    def __repr__(self) -> str:
        return f"KeypointSchema('{self.name}', {self.num_keypoints} keypoints, from {self.source})"
