"""The per-sample top-down pipeline steps, registered in ``posemix.registry.TRANSFORMS``.

Config names and arguments are MMPose's: LoadImage, GetBBoxCenterScale, RandomFlip,
RandomHalfBody, RandomBBoxTransform, TopdownAffine, YOLOXHSVRandomAug, PhotometricDistortion,
Albumentation, GenerateTarget, PackPoseInputs.
Random steps draw only from ``results['rng']``, so one seed reproduces every sample.
"""

from posemix.transforms.affine import (
    TopdownAffine,
    get_udp_warp_matrix,
    get_warp_matrix,
    transform_points,
    warp_affine,
)
from posemix.transforms.albumentation import Albumentation
from posemix.transforms.bbox import GetBBoxCenterScale, bbox_xyxy2cs, fix_aspect_ratio
from posemix.transforms.bbox_transform import RandomBBoxTransform, truncnorm_ppf
from posemix.transforms.compose import BaseTransform, Compose
from posemix.transforms.crop_first import DeferredImage
from posemix.transforms.flip import (
    RandomFlip,
    flip_bbox,
    flip_image,
    flip_keypoints,
    flip_sample,
)
from posemix.transforms.formatting import PackPoseInputs, collate, image_to_tensor
from posemix.transforms.half_body import RandomHalfBody
from posemix.transforms.jpeg_header import jpeg_header, jpeg_is_truncated
from posemix.transforms.loading import LoadImage, decode_image, enable_crop_first
from posemix.transforms.photometric import PhotometricDistortion, YOLOXHSVRandomAug
from posemix.transforms.target import GenerateTarget

__all__ = [
    "Albumentation", "BaseTransform", "Compose", "DeferredImage", "GenerateTarget",
    "GetBBoxCenterScale", "LoadImage", "PackPoseInputs", "PhotometricDistortion",
    "RandomBBoxTransform", "RandomFlip", "RandomHalfBody", "TopdownAffine",
    "YOLOXHSVRandomAug", "bbox_xyxy2cs", "collate", "decode_image", "enable_crop_first",
    "fix_aspect_ratio", "flip_bbox", "flip_image", "flip_keypoints", "flip_sample",
    "get_udp_warp_matrix", "get_warp_matrix", "image_to_tensor", "jpeg_header",
    "jpeg_is_truncated",
    "transform_points", "truncnorm_ppf", "warp_affine",
]
