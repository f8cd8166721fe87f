"""Synthetic demo data: rendered people written as a COCO-like and an AIC-like dataset."""

from posemix.demo.data_command import add_demo_data_parser
from posemix.demo.generate import (
    generate_demo_data,
    make_scene,
    read_manifest,
)

__all__ = ["add_demo_data_parser", "generate_demo_data", "make_scene", "read_manifest"]
