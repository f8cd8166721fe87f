"""Synthetic demo data: rendered people written as a COCO-like and an AIC-like dataset."""

from posemix.demo.generate import (
    generate_demo_data,
    make_scene,
    read_manifest,
)

__all__ = ["generate_demo_data", "make_scene", "read_manifest"]
