"""posemix: train 2D keypoint models on several datasets at once."""

__version__ = "0.1.0"

# Importing the subpackages registers every config type (datasets, transforms, codecs,
# models, metrics, samplers) so that any config can be built after ``import posemix``.
from posemix import (  # noqa: E402,F401
    codecs,
    data,
    evaluation,
    keypoints,
    models,
    transforms,
)
