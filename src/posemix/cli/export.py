"""``posemix export``: a checkpoint as an ONNX model (the deploy extra)."""

from __future__ import annotations

import argparse

from posemix.deploy import EXTRA
from posemix.deploy.export import DEFAULT_OPSET, MIN_OPSET


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("export", help="export a checkpoint as an ONNX model "
                                             f"(needs {EXTRA})")
    p.add_argument("checkpoint")
    p.add_argument("--out", required=True, metavar="MODEL.onnx", help="the ONNX file to write")
    p.add_argument("--head", metavar="NAME", help="the head to export, for a model with "
                                                  "per-source heads: a source's name or "
                                                  "'union' (default: test_cfg.output_head)")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                   help=f"ONNX opset (default {DEFAULT_OPSET}; at least {MIN_OPSET})")
    p.add_argument("--config", help="config file (default: the one stored in the checkpoint)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from posemix.deploy.export import export_onnx

    print(export_onnx(args.checkpoint, args.out, args.head, args.opset, args.config))
    return 0
