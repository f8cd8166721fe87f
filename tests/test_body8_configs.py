"""The 13 shipped body8 configs: ``posemix inspect`` (data pointed at the fixtures) shows
the seven training sources and their mappings by name, and ``mapping='by_name'`` gives
the hand-written tables of MMPose (reference sections 8.1 and 8.4), except two documented
halpe26 rows, which user aliases reproduce."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from test_body8_recipe import BODY8, TRAIN_SOURCES, body8_options

from posemix.api import load_config
from posemix.cli import main
from posemix.keypoints import KeypointConverter, load_schema
from posemix.registry import DATASETS, registered_type

CONFIGS = sorted(p.name for p in (Path(__file__).resolve().parents[1] / BODY8).glob("*.py"))
TYPES = ["CocoDataset", "AicDataset", "CrowdPoseDataset", "MpiiDataset", "JhmdbDataset",
         "HalpeDataset", "PoseTrack18Dataset"]


def test_the_thirteen_configs_are_shipped():
    assert len(CONFIGS) == 13
    assert sum("halpe26" in c for c in CONFIGS) == 7


def _config(request, name: str, options: list[str] | None = None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_config(str(request.config.rootpath / BODY8 / name), options)


def hand_table(dataset_cfg: dict) -> set[tuple[int, int]]:
    """The config's KeypointConverter pairs (identity for a source without one)."""
    steps = [s for s in dataset_cfg["pipeline"] if s["type"] == "KeypointConverter"]
    if steps:
        return {tuple(pair) for pair in steps[0]["mapping"]}
    source = source_schema(dataset_cfg)
    return {(i, i) for i in range(source.num_keypoints)}


def source_schema(dataset_cfg: dict):
    return load_schema(registered_type(DATASETS, dataset_cfg).METAINFO)


def by_name(dataset_cfg: dict, target, aliases: dict | None = None) -> set[tuple[int, int]]:
    converter = KeypointConverter(mapping="by_name", aliases=aliases)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MPII's thorax -> neck is reported as a guess
        mapping = converter.bind(source_schema(dataset_cfg), target, dataset_cfg["type"])
    return {(e.sources[0], e.target) for e in mapping.entries}


@pytest.mark.parametrize("config", CONFIGS)
def test_inspect_shows_the_seven_training_sources_and_their_mappings(config, fixtures_dir,
                                                                    request, capsys):
    halpe26 = "halpe26" in config
    cfg = _config(request, config)
    path = str(request.config.rootpath / BODY8 / config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["inspect", path, "--json",
                     "--cfg-options", *body8_options(fixtures_dir, halpe26)]) == 0
    summary = json.loads(capsys.readouterr().out)
    target = summary["schema"]
    assert target["name"] == ("halpe26" if halpe26 else "coco")
    sources = summary["sources"]
    names = (["coco_wholebody"] if halpe26 else ["coco"]) + TRAIN_SOURCES[1:]
    assert [s["name"] for s in sources] == names
    assert [s["type"] for s in sources] == (
        ["CocoWholeBodyDataset"] if halpe26 else ["CocoDataset"]) + TYPES[1:]
    for source, dataset_cfg in zip(sources, cfg.train_dataloader.dataset.datasets, strict=True):
        pairs = {tuple(p) for p in source["mapping"]}
        assert pairs == hand_table(dataset_cfg), source["name"]
        rows = {(r["source"][0], r["target"]) for r in source["mapping_names"]}
        assert rows == {(source["keypoints"][s], target["keypoints"][t]) for s, t in pairs}


@pytest.mark.parametrize("config", CONFIGS)
def test_by_name_gives_the_hand_written_tables(config, request):
    """Every training and test source. COCO-17: by_name equals MMPose's tables. Halpe-26:
    equal too, except MPII, where by_name reads pelvis as Halpe's hip (an alias) and thorax
    as the neck (a guess) while MMPose maps upper_neck to the neck, and JHMDB, whose 'head'
    is the face: posemix's vocabulary will not map it to Halpe's head (the crown), MMPose
    does."""
    cfg = _config(request, config)
    target = load_schema(cfg.train_dataloader.dataset.metainfo)
    datasets = list(cfg.train_dataloader.dataset.datasets) \
        + list(cfg.test_dataloader.dataset.datasets)
    checked = set()
    for dataset_cfg in datasets:
        kind, hand, named = dataset_cfg["type"], hand_table(dataset_cfg), by_name(dataset_cfg,
                                                                                 target)
        checked.add(kind)
        if target.name == "halpe26" and kind == "MpiiDataset":
            assert named - hand == {(6, 19), (7, 18)}  # pelvis -> hip, thorax -> neck
            assert hand - named == {(8, 18)}  # upper_neck -> neck
            # an alias may only name a real point, so the pelvis stays Halpe's hip (the
            # same point; MMPose's table leaves it out)
            assert by_name(dataset_cfg, target, {"upper_neck": "neck"}) == hand | {(6, 19)}
        elif target.name == "halpe26" and kind == "JhmdbDataset":
            assert hand - named == {(2, 17)} and named <= hand  # head (face) -> head (crown)
            assert by_name(dataset_cfg, target, {"head": "head_top"}) == hand
        else:
            assert named == hand, kind
    assert len(checked) == 8  # the seven training types and OCHuman
