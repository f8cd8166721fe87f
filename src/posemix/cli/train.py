"""``posemix train``: the mapping checks, the training run, and with ``--reference`` the
verdict on whether mixing helped each source."""

from __future__ import annotations

import argparse
import os

from posemix.cli.common import add_config_args


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train", help="train a model from a config")
    add_config_args(p)
    p.add_argument("--work-dir", help="where checkpoints and logs go (default work_dirs/NAME)")
    p.add_argument("--resume", nargs="?", const=True, default=None,
                   help="resume from CKPT, or from the newest checkpoint in the work dir")
    p.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    p.add_argument("--reference", action="append", metavar="SOURCE=SCORE|FILE",
                   help="a single-source reference score (coco=0.638, coco/PCK=0.9) or a "
                        "metrics JSON (e.g. demo_out/report/metrics.json); repeatable: the "
                        "run ends with a per-source verdict on whether mixing helped")
    p.add_argument("--force", action="store_true",
                   help="train even when the mapping checks find errors")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from posemix.api import build_dataset, load_config
    from posemix.checks import refuse_mapping_errors
    from posemix.engine import train
    from posemix.engine.build import resolve_work_dir
    from posemix.evaluation.verdict import (
        check_reference_sources,
        judge,
        parse_references,
        verdict_line,
        write_verdict,
    )

    cfg = load_config(args.config, args.cfg_options)
    dataset = build_dataset(cfg, "train")
    refuse_mapping_errors(dataset, args.force)
    references = parse_references(args.reference or [])  # bad values fail before training
    sources = getattr(dataset, "source_names", ())
    if references and len(sources) > 1:  # one source: the metric's own prefix names it
        check_reference_sources(references, sources)
    metrics = train(cfg, work_dir=args.work_dir, resume=args.resume, amp=args.amp,
                    device=args.device)
    if references and os.environ.get("RANK", "0") == "0":
        verdicts = judge(metrics, references)
        write_verdict(resolve_work_dir(cfg, args.work_dir) / "verdict.json", verdicts)
        print(verdict_line(verdicts), flush=True)
    return 0
