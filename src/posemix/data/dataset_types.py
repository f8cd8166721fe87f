"""The dataset types of MMPose's configs (CocoDataset, AicDataset, MpiiDataset, ...): each
is the base dataset with its source's metainfo and, where the file format differs, its
reader."""

from __future__ import annotations

import os
import warnings
from typing import Any

from posemix.data.datasets import BaseCocoStyleDataset
from posemix.data.readers import read_aic, read_coco, read_coco_wholebody, read_mpii
from posemix.data.table import InstanceTable
from posemix.registry import DATASETS


@DATASETS.register()
class CocoDataset(BaseCocoStyleDataset):
    """COCO person keypoints (17)."""

    METAINFO = {"from_file": "configs/_base_/datasets/coco.py"}


@DATASETS.register()
class AicDataset(BaseCocoStyleDataset):
    """AI Challenger (14 keypoints), from MMPose's COCO-layout file or the original release.

    For the original format the image sizes (needed to clip boxes) are read from the image
    headers under ``data_prefix['img']``; if that is not a directory, boxes stay unclipped.
    """

    METAINFO = {"from_file": "configs/_base_/datasets/aic.py"}

    def _img_dir(self) -> str | None:
        return self.img_prefix if os.path.isdir(self.img_prefix) else None

    def read_annotations(self) -> InstanceTable:
        return read_aic(self.ann_file, img_dir=self._img_dir())

    def reader_options(self) -> dict[str, Any]:
        img_dir = self._img_dir()
        return {**super().reader_options(),
                "img_dir": os.path.abspath(img_dir) if img_dir is not None else None}

    def check_annotations(self, table: InstanceTable) -> None:
        if self._img_dir() is None and len(table) and not table.width.any():
            warnings.warn(f"{self.label}: native AI Challenger file without an image directory "
                          f"(data_prefix img='{self.img_prefix}'): boxes are not clipped to "
                          "the images", stacklevel=3)


@DATASETS.register()
class MpiiDataset(BaseCocoStyleDataset):
    """MPII Human Pose (16 keypoints), from MMPose's MPII json (centre / scale boxes)."""

    METAINFO = {"from_file": "configs/_base_/datasets/mpii.py"}

    def read_annotations(self) -> InstanceTable:
        return read_mpii(self.ann_file, num_keypoints=self.schema.num_keypoints)


@DATASETS.register()
class CrowdPoseDataset(BaseCocoStyleDataset):
    """CrowdPose (14 keypoints; images carry ``crowdIndex``)."""

    METAINFO = {"from_file": "configs/_base_/datasets/crowdpose.py"}


@DATASETS.register()
class HalpeDataset(BaseCocoStyleDataset):
    """Halpe full body (136 keypoints)."""

    METAINFO = {"from_file": "configs/_base_/datasets/halpe.py"}


@DATASETS.register()
class OCHumanDataset(BaseCocoStyleDataset):
    """OCHuman (COCO's 17 keypoints, heavily occluded people)."""

    METAINFO = {"from_file": "configs/_base_/datasets/ochuman.py"}


@DATASETS.register()
class PoseTrack18Dataset(BaseCocoStyleDataset):
    """PoseTrack18 frames as single images (17 keypoints)."""

    METAINFO = {"from_file": "configs/_base_/datasets/posetrack18.py"}


@DATASETS.register()
class JhmdbDataset(BaseCocoStyleDataset):
    """Sub-JHMDB (15 keypoints): MATLAB 1-based coordinates, shifted to 0-based."""

    METAINFO = {"from_file": "configs/_base_/datasets/jhmdb.py"}

    def read_annotations(self) -> InstanceTable:
        return read_coco(self.ann_file, num_keypoints=self.schema.num_keypoints, one_based=True)


@DATASETS.register()
class CocoWholeBodyDataset(BaseCocoStyleDataset):
    """COCO-WholeBody (133 keypoints: body, feet, face, hands), e.g. for the feet of
    RTMPose's halpe26 recipe. Visibility is ``v > 0`` as for every COCO-style set."""

    METAINFO = {"from_file": "configs/_base_/datasets/coco_wholebody.py"}

    def read_annotations(self) -> InstanceTable:
        return read_coco_wholebody(self.ann_file)


@DATASETS.register()
class CustomCocoDataset(BaseCocoStyleDataset):
    """Any COCO-layout keypoint set; ``metainfo`` (its schema) is required."""
