"""The ``posemix`` command: train, test, infer, export, browse, inspect, union, names, demo, ...

User errors (bad files, configs, mappings) print one clear message and exit with
status 2; only bugs show a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from posemix.errors import PosemixError

SPLITS = ("train", "val", "test")


def load_config(path: str, options: Sequence[str] | None) -> Any:
    """A config file with ``--cfg-options`` applied."""
    from posemix.config import Config, parse_cfg_options

    cfg = Config.fromfile(path)
    if options:
        cfg.merge_from_dict(parse_cfg_options(options))
    return cfg


def build_split_dataset(cfg: Any, split: str) -> Any:
    """The dataset of ``{split}_dataloader`` (val/test fall back to each other)."""
    import posemix  # noqa: F401 - registers every type
    from posemix.engine.runner import import_custom_modules
    from posemix.registry import DATASETS

    import_custom_modules(cfg)
    order = [split] + [s for s in ("val", "test") if s != split and split != "train"]
    for name in order:
        loader = cfg.get(f"{name}_dataloader")
        if loader:
            return DATASETS.build(loader["dataset"])
    raise PosemixError(f"the config has no {split}_dataloader")


def cmd_inspect(args: argparse.Namespace) -> int:
    from posemix.inspection import composing_sampler, format_summary, summarize

    cfg = load_config(args.config, args.cfg_options)
    dataset = build_split_dataset(cfg, args.split)
    sampler = composing_sampler(cfg.get(f"{args.split}_dataloader"), dataset)
    summary = summarize(dataset, dump=args.dump, sampler=sampler)
    print(json.dumps(summary, indent=1) if args.json else format_summary(summary))
    if args.report:
        from posemix.report import write_report

        path = write_report(dataset, args.report)
        print(f"mapping report: {path}", file=sys.stderr)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from posemix.checks import run_checks
    from posemix.engine import train
    from posemix.engine.runner import resolve_work_dir
    from posemix.evaluation.verdict import judge, parse_references, verdict_line, write_verdict

    cfg = load_config(args.config, args.cfg_options)
    dataset = build_split_dataset(cfg, "train")
    checkable = hasattr(dataset, "schema") and hasattr(dataset, "table") or hasattr(
        dataset, "tables")
    errors = [f for f in run_checks(dataset) if f.level == "error"] if checkable else []
    if errors:
        report = "\n".join(str(f) for f in errors)
        if not args.force:
            raise PosemixError(f"the mapping checks found {len(errors)} error(s); fix them, "
                               f"or train anyway with --force:\n{report}")
        warnings.warn(f"training despite {len(errors)} mapping error(s) (--force):\n{report}",
                      stacklevel=1)
    references = parse_references(args.reference or [])  # bad values fail before training
    metrics = train(cfg, work_dir=args.work_dir, resume=args.resume, amp=args.amp,
                    device=args.device)
    if references and os.environ.get("RANK", "0") == "0":
        verdicts = judge(metrics, references)
        write_verdict(resolve_work_dir(cfg, args.work_dir) / "verdict.json", verdicts)
        print(verdict_line(verdicts), flush=True)
    return 0


def cmd_union(args: argparse.Namespace) -> int:
    from posemix.keypoints import write_metainfo_file
    from posemix.keypoints.union import union_from_spec

    schema, notes = union_from_spec(args.schemas, args.target, args.name)
    for note in notes:
        print(f"posemix union: note: {note}", file=sys.stderr)
    write_metainfo_file(schema, args.output)
    print(f"{args.output}: '{schema.name}', {schema.num_keypoints} keypoints: "
          f"{', '.join(schema.keypoints)}")
    return 0


def cmd_names(args: argparse.Namespace) -> int:
    from posemix.keypoints.naming_report import names_command

    aliases = {}
    for item in args.alias or []:
        name, sep, canon = item.partition("=")
        if not sep or not name or not canon:
            raise PosemixError(f"--alias takes NAME=CANONICAL (e.g. Hand=wrist), got '{item}'")
        aliases[name] = canon
    print(names_command(args.schema, args.to, aliases, args.json))
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    from posemix.engine import test

    cfg = load_config(args.config, args.cfg_options)
    metrics = test(cfg, args.checkpoint, work_dir=args.work_dir)
    print(json.dumps(metrics, indent=1))
    return 0


def add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="config file (Python, JSON or YAML)")
    parser.add_argument("--cfg-options", nargs="+", metavar="KEY=VALUE",
                        help="override config keys, e.g. train_dataloader.batch_size=8")


def make_parser() -> argparse.ArgumentParser:
    from posemix import __version__

    parser = argparse.ArgumentParser(prog="posemix", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model from a config")
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
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("test", help="evaluate a checkpoint")
    add_config_args(p)
    p.add_argument("checkpoint")
    p.add_argument("--work-dir")
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("inspect", help="show what each source brings, before training")
    add_config_args(p)
    p.add_argument("--split", choices=SPLITS, default="train")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--dump", type=int, default=0, metavar="N",
                   help="add each source's first N converted instances")
    p.add_argument("--report", metavar="DIR", help="also write the HTML mapping report")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("union", help="write the union (or a merge target) of keypoint schemas "
                                     "as an MMPose metainfo file")
    p.add_argument("schemas", nargs="+", help="built-in names (coco, aic, ...) or metainfo files")
    p.add_argument("--target", help="merge into this schema instead of building the union")
    p.add_argument("--name", help="dataset_name of the result (default: names joined by _)")
    p.add_argument("-o", "--output", required=True, help="the metainfo file to write")
    p.set_defaults(func=cmd_union)

    p = sub.add_parser("names", help="show how posemix reads a schema's keypoint names, and "
                                     "what mapping='by_name' maps them to")
    p.add_argument("schema", help="a built-in name (coco, aic, ...) or a metainfo file")
    p.add_argument("--to", metavar="TARGET", help="the target schema of mapping='by_name'")
    p.add_argument("--alias", nargs="+", metavar="NAME=CANONICAL",
                   help="user aliases, as KeypointConverter(aliases=...) takes them")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_names)

    from posemix.browse import add_browse_parser
    from posemix.demo import add_demo_data_parser
    from posemix.demo.run import add_demo_parser
    from posemix.deploy.export import add_export_parser
    from posemix.inference import add_infer_parser

    add_browse_parser(sub)
    add_demo_data_parser(sub)
    add_demo_parser(sub)
    add_export_parser(sub)
    add_infer_parser(sub)
    return parser


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"posemix: warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    warnings.formatwarning = _one_line_warning
    try:
        return args.func(args)
    except PosemixError as exc:
        print(f"posemix {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
