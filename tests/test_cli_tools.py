"""The CLI's mixing tools: union files, the mapping report, training refused on mapping
errors, and inference from a checkpoint whose stored config is never executed."""

from __future__ import annotations

import json
import warnings

import cv2
import numpy as np
import pytest
import torch
from test_checks import AIC_PAIRS, write_sources
from test_combined import COMBINE, fixture_options

from posemix.api import load_config
from posemix.cli import main
from posemix.config import Config, packaged_configs_dir
from posemix.engine.checkpoint import save_checkpoint
from posemix.errors import ConfigError
from posemix.inference import infer
from posemix.keypoints import load_schema, schema_to_metainfo
from posemix.models.builder import build_model


def test_union_command_writes_coco_aic(tmp_path, capsys):
    out = tmp_path / "coco_aic_union.py"
    assert main(["union", "coco", "aic", "-o", str(out)]) == 0
    assert "19 keypoints" in capsys.readouterr().out
    union = load_schema(str(out))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        builtin = load_schema("coco_aic")
    assert union.keypoints == builtin.keypoints
    assert union.flip_indices == builtin.flip_indices
    assert union.skeleton == builtin.skeleton
    assert main(["union", "coco", "aic", "--target", "coco", "-o", str(out)]) == 2
    assert capsys.readouterr().err == (f"posemix union: error: -o {out}: the file exists; give "
                                       f"--force to overwrite it\n")
    assert load_schema(str(out)).keypoints == builtin.keypoints  # left as it was
    assert main(["union", "coco", "aic", "--target", "coco", "-o", str(out), "--force"]) == 0
    assert load_schema(str(out)).keypoints == load_schema("coco").keypoints
    assert main(["union", "coco", "aic", "-o", str(tmp_path)]) == 2
    assert f"-o {tmp_path}: is a folder" in capsys.readouterr().err


def test_union_command_takes_user_aliases(tmp_path, capsys):
    """A lab skeleton's 'LHand'/'RHand' are new keypoints to the vocabulary (a hand is never
    the wrist by itself); the user's --alias Hand=wrist makes them COCO's wrists."""
    lab = tmp_path / "lab.py"
    lab.write_text(
        "dataset_info = dict(dataset_name='lab', keypoint_info={\n"
        " 0: dict(name='LHand', id=0, color=[0, 0, 0], type='upper', swap='RHand'),\n"
        " 1: dict(name='RHand', id=1, color=[0, 0, 0], type='upper', swap='LHand')},\n"
        " skeleton_info={}, joint_weights=[1.0, 1.0], sigmas=[0.05, 0.05])\n")
    out = tmp_path / "union.py"
    assert main(["union", "coco", str(lab), "-o", str(out)]) == 0
    assert load_schema(str(out)).keypoints[17:] == ("LHand", "RHand")
    assert main(["union", "coco", str(lab), "--alias", "Hand=wrist", "-o", str(out),
                 "--force"]) == 0
    assert load_schema(str(out)).keypoints == load_schema("coco").keypoints
    assert "17 keypoints" in capsys.readouterr().out
    assert main(["union", "coco", str(lab), "--alias", "Hand", "-o", str(out)]) == 2
    assert "--alias takes NAME=CANONICAL" in capsys.readouterr().err


def test_union_command_refuses_a_mistyped_alias_and_warns_of_an_unused_one(tmp_path, capsys):
    out = tmp_path / "union.py"
    assert main(["union", "coco", "aic", "--alias", "Hand=wirst", "-o", str(out)]) == 2
    assert capsys.readouterr().err == ("posemix union: error: alias 'Hand=wirst': 'wirst' is not "
                                       "a vocabulary name (did you mean 'wrist'?)\n")
    assert not out.exists()
    assert main(["union", "coco", "aic", "--alias", "Foo=wrist", "-o", str(out)]) == 0
    assert ("posemix union: note: alias 'Foo=wrist': no keypoint of 'coco' or 'aic' is named "
            "'Foo' (with or without a side), so the alias does nothing\n"
            ) in capsys.readouterr().err


def test_help_is_plain_text_and_every_argument_has_help():
    from posemix.cli import DESCRIPTION, make_parser

    parser = make_parser()
    top = parser.format_help()
    assert "``" not in top and DESCRIPTION.split()[0] in top
    commands = parser._subparsers._group_actions[0].choices
    for name, dests in {"test": ["checkpoint", "work_dir"], "infer": ["images", "device"],
                        "inspect": ["split"], "demo-data": ["seed"], "demo": ["seed"],
                        "union": ["output", "force"]}.items():
        helps = {a.dest: a.help for a in commands[name]._actions}
        assert all(helps[d] for d in dests), (name, {d: helps[d] for d in dests})
        assert "``" not in commands[name].format_help()


def test_inspect_writes_the_mapping_report(fixtures_dir, request, tmp_path, capsys):
    argv = ["inspect", str(request.config.rootpath / COMBINE), "--report", str(tmp_path),
            "--cfg-options", *fixture_options(fixtures_dir)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(argv) == 0
    html = (tmp_path / "index.html").read_text()
    assert "coco" in html and "aic" in html and "head_top" in html
    assert "checks:" in capsys.readouterr().out


def test_combine_config_with_no_index_pairs(fixtures_dir, request):
    """The seed's combine config written by names: union schema and by-name converters."""
    options = fixture_options(fixtures_dir) + [
        "train_dataloader.dataset.metainfo={'_delete_': True, 'union_of': ['coco', 'aic']}",
        "train_dataloader.dataset.datasets.0.pipeline.0.mapping=by_name",
        "train_dataloader.dataset.datasets.1.pipeline.0.mapping=by_name",
    ]
    cfg = load_config(str(request.config.rootpath / COMBINE), options)
    from posemix.api import build_dataset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = build_dataset(cfg, "train")
        pairs = build_dataset(load_config(str(request.config.rootpath / COMBINE),
                                                fixture_options(fixtures_dir)), "train")
    assert dataset.schema.keypoints == pairs.schema.keypoints
    for a, b in zip(dataset.tables, pairs.tables, strict=True):
        np.testing.assert_array_equal(a.keypoints, b.keypoints)
        np.testing.assert_array_equal(a.visibility, b.visibility)


def test_train_refuses_a_mapping_the_data_contradicts(tmp_path, fixtures_dir, capsys):
    files = write_sources(tmp_path, fixtures_dir)
    source = lambda key, kind, mapping: dict(  # noqa: E731
        type=kind, ann_file=str(files[key]), data_prefix=dict(img=""),
        pipeline=[dict(type="KeypointConverter", num_keypoints=19, mapping=mapping)])
    cfg = dict(train_dataloader=dict(batch_size=2, dataset=dict(
        type="CombinedDataset", metainfo="coco_aic",
        datasets=[source("coco", "CocoDataset", "by_name"),
                  source("aic_swapped", "AicDataset", AIC_PAIRS)])))
    path = tmp_path / "swapped.json"
    path.write_text(json.dumps(cfg))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err
    assert "mapping checks found 1 error" in err and "left-right-swap" in err
    assert "--force" in err


@pytest.fixture(scope="module")
def demo_checkpoint(tmp_path_factory):
    """A checkpoint as the engine writes it, of the demo's model (random weights)."""
    cfg = Config.fromfile(packaged_configs_dir() / "demo" / "combine.py")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schema = load_schema("coco_aic")
    torch.manual_seed(0)
    model = build_model(cfg["model"], 19)
    path = tmp_path_factory.mktemp("ckpt") / "epoch_1.pth"
    save_checkpoint(path, {"state_dict": model.state_dict(), "config": cfg.pretty_text,
                           "num_keypoints": 19, "metainfo": schema_to_metainfo(schema)})
    return path, cfg


def test_infer_writes_results_and_overlays(demo_checkpoint, fixtures_dir, tmp_path):
    path, _ = demo_checkpoint
    images = [str(fixtures_dir / "coco" / "000000000785.jpg"),
              str(fixtures_dir / "aic" / "054d9ce9201beffc76e5ff2169d2af2f027002ca.jpg")]
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps([
        {"image": "000000000785.jpg", "bbox": [280, 44, 218, 346], "score": 0.9},
        {"image": "000000000785.jpg", "bbox": [10, 10, 100, 200], "score": 0.5}]))
    result = infer(str(path), images, str(tmp_path / "out"), bboxes=str(boxes), device="cpu")
    doc = json.loads(result.read_text())
    assert len(doc["keypoint_names"]) == 19 and doc["keypoint_names"][17] == "head_top"
    assert [r["image"] for r in doc["results"]] == [images[0]] * 2 + [images[1]]  # as given
    assert doc["results"][0]["bbox"] == [280, 44, 218, 346]
    assert all(len(r["keypoints"]) == 19 * 3 for r in doc["results"])
    overlay = cv2.imread(str(tmp_path / "out" / "000000000785_pose.png"))
    assert overlay.shape == cv2.imread(images[0]).shape


def test_infer_never_executes_a_stored_config(demo_checkpoint, tmp_path, fixtures_dir):
    path, cfg = demo_checkpoint
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    saved = torch.load(path, weights_only=True)
    saved["config"] = f"__import__('os').system('touch {marker}')\n" + cfg.pretty_text
    save_checkpoint(evil, saved)
    with pytest.raises(ConfigError, match=r"evil.pth \(stored config\), line 1"):
        infer(str(evil), [str(fixtures_dir / "coco" / "000000000785.jpg")], str(tmp_path))
    assert not marker.exists()
