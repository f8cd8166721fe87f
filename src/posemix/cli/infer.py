"""``posemix infer``: keypoints for new images from a trained checkpoint or an ONNX export."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("infer", help="predict keypoints on images with a checkpoint "
                                            "or an exported ONNX model")
    p.add_argument("checkpoint", metavar="MODEL", help="a .pth checkpoint or a .onnx export")
    p.add_argument("images", nargs="+", metavar="IMAGE",
                   help="image files, or folders standing for the images in them")
    p.add_argument("--config", help="config file (default: the one stored in the checkpoint)")
    p.add_argument("--bboxes", help="JSON list of {image, bbox [x, y, w, h], score}; default: "
                                    "the whole image is one person")
    p.add_argument("--out", default="infer_out", help="output folder (default infer_out)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from posemix.inference import infer

    print(infer(args.checkpoint, args.images, args.out, args.config, args.bboxes, args.device))
    return 0
