"""Keypoint codecs: heatmap (MSRA, UDP) and SimCC targets for training, and decoding."""

from posemix.codecs.heatmap_decoding import get_heatmap_maximum
from posemix.codecs.msra_heatmap import MSRAHeatmap
from posemix.codecs.simcc_label import SimCCLabel, get_simcc_maximum
from posemix.codecs.udp_heatmap import UDPHeatmap

__all__ = ["MSRAHeatmap", "SimCCLabel", "UDPHeatmap", "get_heatmap_maximum", "get_simcc_maximum"]
