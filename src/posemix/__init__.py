"""posemix: train 2D keypoint models on several datasets at once."""

__version__ = "0.1.0"
