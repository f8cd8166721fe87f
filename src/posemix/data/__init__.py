"""Annotations as columnar tables, per-source datasets, their combination and samplers.

Importing this package registers every dataset and sampler type.
"""

from posemix.data.combined import CombinedDataset
from posemix.data.dataset_types import (
    AicDataset,
    CocoDataset,
    CrowdPoseDataset,
    CustomCocoDataset,
    HalpeDataset,
    JhmdbDataset,
    MpiiDataset,
    OCHumanDataset,
    PoseTrack18Dataset,
)
from posemix.data.datasets import BaseCocoStyleDataset
from posemix.data.readers import (
    read_aic,
    read_aic_native,
    read_coco,
    read_detections,
    read_mpii,
)
from posemix.data.rng import sample_rng
from posemix.data.sample import sample_from_table
from posemix.data.samplers import DefaultSampler, MultiSourceSampler
from posemix.data.table import InstanceTable, StringColumn

__all__ = [
    "AicDataset", "BaseCocoStyleDataset", "CocoDataset", "CombinedDataset", "CrowdPoseDataset",
    "CustomCocoDataset", "DefaultSampler", "HalpeDataset", "InstanceTable", "JhmdbDataset",
    "MpiiDataset", "MultiSourceSampler", "OCHumanDataset", "PoseTrack18Dataset", "StringColumn",
    "read_aic", "read_aic_native", "read_coco", "read_detections", "read_mpii",
    "sample_from_table", "sample_rng",
]
