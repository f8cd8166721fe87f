"""Annotation file readers: each turns one file format into an InstanceTable."""

from posemix.data.readers.aic import read_aic, read_aic_native
from posemix.data.readers.coco import read_coco
from posemix.data.readers.coco_wholebody import read_coco_wholebody
from posemix.data.readers.detections import read_detections
from posemix.data.readers.image_size import image_size
from posemix.data.readers.mpii import read_mpii

__all__ = ["image_size", "read_aic", "read_aic_native", "read_coco", "read_coco_wholebody",
           "read_detections", "read_mpii"]
