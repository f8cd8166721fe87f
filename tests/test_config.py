"""Config system (posemix.config) and the packaged config files (posemix/configs)."""

from __future__ import annotations

import ast
import copy
import json
import pickle
import re
import sys
import types
from pathlib import Path

import pytest

from posemix.config import (
    Config,
    ConfigDict,
    packaged_configs_dir,
    parse_cfg_options,
    resolve_config_path,
)
from posemix.errors import ConfigError

CONFIGS = packaged_configs_dir()
SEED_DIR = CONFIGS / "body_2d_keypoint" / "topdown_heatmap" / "coco"
HRNET_COCO = SEED_DIR / "td-hm_hrnet-w32_8xb64-210e_coco-256x192.py"
RES50_COCO = SEED_DIR / "td-hm_res50_8xb64-210e_coco-256x192.py"
MERGE = SEED_DIR / "td-hm_hrnet-w32_8xb64-210e_coco-aic-256x192-merge.py"
COMBINE = SEED_DIR / "td-hm_hrnet-w32_8xb64-210e_coco-aic-256x192-combine.py"

# AIC -> COCO pairs of the merge config (mmpose-mixed-datasets.md section 6.2).
AIC_TO_COCO = [(0, 6), (1, 8), (2, 10), (3, 5), (4, 7), (5, 9), (6, 12), (7, 14), (8, 16),
               (9, 11), (10, 13), (11, 15)]

BASE_PY = """
model = dict(type='A', backbone=dict(depth=50, style='pytorch'), neck=dict(x=1))
items = [1, 2, 3]
lr = 0.1
"""

CHILD_PY = """
_base_ = '../base.py'
model = dict(backbone=dict(depth=101), neck=dict(_delete_=True, y=2))
items = [4]
extra = 'e'
"""

MERGED = {
    "model": {"type": "A", "backbone": {"depth": 101, "style": "pytorch"}, "neck": {"y": 2}},
    "items": [4],
    "lr": 0.1,
    "extra": "e",
}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------
# Loading and _base_ inheritance
# ---------------------------------------------------------------------------------------

def test_base_merge_recurses_into_dicts_replaces_lists_and_honours_delete(tmp_path):
    write(tmp_path / "base.py", BASE_PY)
    child = write(tmp_path / "sub" / "child.py", CHILD_PY)
    cfg = Config.fromfile(child)
    assert cfg.to_dict() == MERGED
    assert list(cfg) == ["model", "items", "lr", "extra"]  # base keys first, then new ones
    assert cfg.filename == str(child.resolve())
    assert cfg.model.backbone.depth == 101 and cfg.model.neck == {"y": 2}


def test_base_list_chain_and_duplicate_keys(tmp_path):
    write(tmp_path / "a.py", "a = 1\nshared = dict(k=1)\n")
    write(tmp_path / "b.py", "_base_ = 'a.py'\nb = 2\nshared = dict(j=2)\n")
    write(tmp_path / "c.py", "c = 3\n")
    top = write(tmp_path / "top.py", "_base_ = ['b.py', 'c.py']\nshared = dict(i=3)\n")
    assert Config.fromfile(top).to_dict() == {
        "a": 1, "shared": {"k": 1, "j": 2, "i": 3}, "b": 2, "c": 3}

    write(tmp_path / "d.py", "c = 4\n")
    clash = write(tmp_path / "clash.py", "_base_ = ['c.py', 'd.py']\n")
    with pytest.raises(ConfigError, match="'c' is defined by two _base_ files"):
        Config.fromfile(clash)


def test_base_errors_name_the_files(tmp_path):
    missing = write(tmp_path / "m.py", "_base_ = 'nowhere.py'\n")
    with pytest.raises(ConfigError, match=r"m\.py: _base_ file not found: nowhere\.py"):
        Config.fromfile(missing)

    write(tmp_path / "x.py", "_base_ = 'y.py'\n")
    write(tmp_path / "y.py", "_base_ = 'x.py'\n")
    with pytest.raises(ConfigError, match="circular _base_ inheritance"):
        Config.fromfile(tmp_path / "x.py")

    bad = write(tmp_path / "bad_base.py", "_base_ = 3\n")
    with pytest.raises(ConfigError, match="_base_ must be a path or a list of paths"):
        Config.fromfile(bad)

    write(tmp_path / "scalar.py", "model = 5\n")
    into = write(tmp_path / "into.py", "_base_ = 'scalar.py'\nmodel = dict(a=1)\n")
    with pytest.raises(ConfigError, match="'model' is a dict here but a int.*_delete_=True"):
        Config.fromfile(into)
    replace = write(tmp_path / "replace.py",
                    "_base_ = 'scalar.py'\nmodel = dict(_delete_=True, a=1)\n")
    assert Config.fromfile(replace).to_dict() == {"model": {"a": 1}}


def test_mmpose_style_base_path_falls_back_to_packaged_runtime(tmp_path):
    text = "_base_ = ['../../../_base_/default_runtime.py']\nx = 1\n"
    lonely = write(tmp_path / "a" / "b" / "c" / "cfg.py", text)
    cfg = Config.fromfile(lonely)
    assert cfg.x == 1
    assert cfg.default_hooks.logger == {"type": "LoggerHook", "interval": 50}

    write(tmp_path / "_base_" / "default_runtime.py", "log_level = 'DEBUG'\n")
    assert Config.fromfile(lonely).to_dict() == {"log_level": "DEBUG", "x": 1}


def test_resolve_config_path_packaged_fallback(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    found = resolve_config_path("configs/_base_/datasets/coco_aic.py")
    assert found == (CONFIGS / "_base_" / "datasets" / "coco_aic.py").resolve()
    assert resolve_config_path("configs/_base_/datasets/nope.py") is None
    seed = "configs/body_2d_keypoint/topdown_heatmap/coco/" + COMBINE.name
    assert Config.fromfile(seed).filename == str(COMBINE.resolve())
    write(tmp_path / "configs" / "_base_" / "datasets" / "coco_aic.py", "x = 1\n")
    assert resolve_config_path("configs/_base_/datasets/coco_aic.py") == (
        tmp_path / "configs" / "_base_" / "datasets" / "coco_aic.py").resolve()


def test_python_config_keeps_only_public_data_names(tmp_path):
    cfg_file = write(tmp_path / "names.py", """
import math
from pathlib import Path

def helper():
    return 1

class Thing:
    pass

_private = 1
value = math.sqrt(4) + helper()
here = str(Path(__file__).parent)
indices = [target for _, target in [(0, 5), (1, 6)]]
""")
    cfg = Config.fromfile(cfg_file)
    assert cfg.to_dict() == {"value": 3.0, "here": str(tmp_path.resolve()), "indices": [5, 6]}


def test_json_config_equals_python_config(tmp_path):
    write(tmp_path / "base.py", BASE_PY)
    child_py = write(tmp_path / "sub" / "child.py", CHILD_PY)
    child_json = write(tmp_path / "sub" / "child.json", json.dumps({
        "_base_": "../base.py",
        "model": {"backbone": {"depth": 101}, "neck": {"_delete_": True, "y": 2}},
        "items": [4],
        "extra": "e",
    }))
    assert Config.fromfile(child_json).to_dict() == Config.fromfile(child_py).to_dict()

    write(tmp_path / "base.json", json.dumps({"lr": 0.5, "opt": {"type": "Adam"}}))
    from_json_base = write(tmp_path / "c.py", "_base_ = 'base.json'\nopt = dict(lr=1)\n")
    assert Config.fromfile(from_json_base).to_dict() == {
        "lr": 0.5, "opt": {"type": "Adam", "lr": 1}}


def test_yaml_without_pyyaml_suggests_json(tmp_path, monkeypatch):
    cfg_file = write(tmp_path / "c.yaml", "a: 1\n")
    monkeypatch.setitem(sys.modules, "yaml", None)  # makes `import yaml` fail
    with pytest.raises(ConfigError, match=r"c\.yaml: YAML configs need PyYAML.*JSON"):
        Config.fromfile(cfg_file)


def test_yaml_config_loads_through_safe_load(tmp_path, monkeypatch):
    fake = types.ModuleType("yaml")
    fake.YAMLError = ValueError
    fake.safe_load = json.loads  # JSON is YAML's flow style: enough to check the wiring
    fake.safe_dump = lambda data, sort_keys: json.dumps(data)
    monkeypatch.setitem(sys.modules, "yaml", fake)
    write(tmp_path / "base.py", BASE_PY)
    cfg_file = write(tmp_path / "sub" / "child.yml", json.dumps({
        "_base_": "../base.py", "model": {"backbone": {"depth": 101},
                                          "neck": {"_delete_": True, "y": 2}},
        "items": [4], "extra": "e"}))
    cfg = Config.fromfile(cfg_file)
    assert cfg.to_dict() == MERGED
    cfg.merge_from_dict({"size": (1, 2)})
    cfg.dump(tmp_path / "out.yaml")
    assert Config.fromfile(tmp_path / "out.yaml").to_dict() == {**MERGED, "size": [1, 2]}


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------

def test_missing_file_is_named(tmp_path):
    missing = tmp_path / "absent.py"
    with pytest.raises(ConfigError, match=re.escape(f"config file not found: {missing}")):
        Config.fromfile(missing)


def test_syntax_error_reports_file_line_and_column(tmp_path):
    bad = write(tmp_path / "bad.py", "a = 1\nmodel = dict(type=$Foo)\n")
    with pytest.raises(ConfigError) as info:
        Config.fromfile(bad)
    message = str(info.value)
    assert message.startswith(f"{bad.resolve()}:2:19: syntax error")  # '$' is column 19
    assert "model = dict(type=$Foo)" in message


def test_runtime_error_reports_line(tmp_path):
    bad = write(tmp_path / "boom.py", "a = 1\n\nb = undefined_name + 1\n")
    with pytest.raises(ConfigError, match=r"boom\.py:3: error while executing config: "
                                          r"NameError"):
        Config.fromfile(bad)


def test_invalid_json_and_non_mapping_and_unknown_format(tmp_path):
    bad_json = write(tmp_path / "bad.json", '{\n  "a": 1,\n  "b": \n}\n')
    with pytest.raises(ConfigError, match=r"bad\.json:4:1: invalid JSON"):
        Config.fromfile(bad_json)
    listed = write(tmp_path / "list.json", "[1, 2]")
    with pytest.raises(ConfigError, match="must hold a mapping of keys, got list"):
        Config.fromfile(listed)
    toml = write(tmp_path / "cfg.toml", "a = 1\n")
    with pytest.raises(ConfigError, match=r"cfg\.toml: unknown config format '\.toml'"):
        Config.fromfile(toml)


# ---------------------------------------------------------------------------------------
# --cfg-options
# ---------------------------------------------------------------------------------------

def test_parse_cfg_options_values():
    parsed = parse_cfg_options([
        "train_dataloader.batch_size=32", "optim_wrapper.optimizer.lr=1e-3",
        "default_hooks.checkpoint.save_best=coco/AP", "name='quoted'", "milestones=[1, 2]",
        "size=(288, 384)", "bare=1,2,3", "flag=true", "off=False", "seed=None",
        "load_from=work_dirs/epoch_10.pth", "mapping={'a': 1}", "empty=", "eq=a=b",
        "model.head.out_channels = 19",
    ])
    assert parsed == {
        "train_dataloader.batch_size": 32, "optim_wrapper.optimizer.lr": 0.001,
        "default_hooks.checkpoint.save_best": "coco/AP", "name": "quoted",
        "milestones": [1, 2], "size": (288, 384), "bare": [1, 2, 3], "flag": True,
        "off": False, "seed": None, "load_from": "work_dirs/epoch_10.pth",
        "mapping": {"a": 1}, "empty": "", "eq": "a=b", "model.head.out_channels": 19,
    }


@pytest.mark.parametrize("option", ["no_equals", "=1", "a..b=1", ".a=1", "a.=1", "a. b=1"])
def test_parse_cfg_options_rejects_malformed(option):
    with pytest.raises(ConfigError, match="malformed config option"):
        parse_cfg_options([option])


def test_merge_from_dict_nested_list_index_and_tuple():
    cfg = Config.fromfile(COMBINE)
    cfg.merge_from_dict(parse_cfg_options([
        "model.head.out_channels=21",
        "train_dataloader.dataset.pipeline.1.padding=1.5",
        "train_dataloader.dataset.datasets.-1.data_root=/data/aic/",
        "codec.input_size.0=288",
        "brand.new.key=[1,2]",
        "optim_wrapper.optimizer={'lr': 1e-3}",
    ]))
    assert cfg.model.head.out_channels == 21
    assert cfg.train_dataloader.dataset.pipeline[1] == {"type": "GetBBoxCenterScale",
                                                        "padding": 1.5}
    assert cfg.train_dataloader.dataset.datasets[1].data_root == "/data/aic/"
    assert cfg.codec.input_size == (288, 256)  # still a tuple
    assert cfg.brand.new.key == [1, 2]
    assert cfg.optim_wrapper.optimizer == {"type": "Adam", "lr": 0.001}  # merged, not replaced

    cfg.merge_from_dict({"optim_wrapper.optimizer": {"_delete_": True, "type": "SGD"}})
    assert cfg.optim_wrapper.optimizer == {"type": "SGD"}


def test_merge_from_dict_int_keyed_dicts_and_errors():
    cfg = Config({"info": {0: {"name": "nose"}}, "items": [1, 2], "n": 3})
    cfg.merge_from_dict({"info.0.name": "head"})
    assert cfg.info[0].name == "head"
    with pytest.raises(ConfigError, match="index 5 is out of range for a list of length 2"):
        cfg.merge_from_dict({"items.5": 1})
    with pytest.raises(ConfigError, match="'x' indexes a list, so it must be an integer"):
        cfg.merge_from_dict({"items.x": 1})
    with pytest.raises(ConfigError, match="cannot set 'k' inside a value of type int"):
        cfg.merge_from_dict({"n.k": 1})


# ---------------------------------------------------------------------------------------
# ConfigDict behaviour, dump
# ---------------------------------------------------------------------------------------

def test_attribute_access_and_plain_dict_export():
    cfg = Config({"model": {"head": {"out_channels": 17}}, "pipeline": [{"type": "A"}]})
    assert cfg.model.head.out_channels == 17
    assert cfg.pipeline[0].type == "A"
    cfg.model.head.out_channels = 19
    assert cfg["model"]["head"]["out_channels"] == 19
    cfg.extra = {"a": {"b": 1}}
    assert cfg.extra.a.b == 1
    with pytest.raises(AttributeError, match="no key 'modle'.*Did you mean: model"):
        _ = cfg.modle
    with pytest.raises(AttributeError, match="'keys' is a method or property"):
        cfg.keys = 1
    plain = cfg.to_dict()
    assert type(plain) is dict and type(plain["model"]["head"]) is dict
    assert type(plain["pipeline"][0]) is dict
    assert isinstance(cfg.copy(), ConfigDict)
    assert cfg.filename is None


def test_pickle_and_deepcopy_keep_filename_and_values():
    cfg = Config.fromfile(COMBINE)
    for clone in (pickle.loads(pickle.dumps(cfg)), copy.deepcopy(cfg)):
        assert clone == cfg and clone.filename == cfg.filename
        assert clone.model.head.out_channels == 19


def test_dump_round_trips_as_python_and_json(tmp_path):
    cfg = Config.fromfile(COMBINE)
    cfg.merge_from_dict({"odd": {"a-b": 1, 2: [float("inf"), (1,)]}})
    cfg.dump(tmp_path / "out" / "dumped.py")
    again = Config.fromfile(tmp_path / "out" / "dumped.py")
    assert again.to_dict() == cfg.to_dict()
    assert "_base_" not in again and cfg.pretty_text.startswith("default_scope = 'mmpose'\n")

    del cfg["odd"]
    cfg.dump(tmp_path / "dumped.json")
    as_json = Config.fromfile(tmp_path / "dumped.json")
    assert as_json.to_dict() == json.loads(json.dumps(cfg.to_dict()))  # tuples become lists


def test_pretty_text_rejects_non_literals():
    with pytest.raises(ConfigError, match="'model.type' .*cannot be written"):
        _ = Config({"model": {"type": ConfigDict}}).pretty_text
    with pytest.raises(ConfigError, match="top-level key 'a-b' is not a Python name"):
        _ = Config({"a-b": 1}).pretty_text


# ---------------------------------------------------------------------------------------
# The seed configs
# ---------------------------------------------------------------------------------------

def test_seed_configs_share_mmpose_runtime_and_schedule():
    for path in (HRNET_COCO, RES50_COCO, MERGE, COMBINE):
        cfg = Config.fromfile(path)
        assert cfg.train_cfg == {"by_epoch": True, "max_epochs": 210, "val_interval": 10}
        assert cfg.optim_wrapper == {"optimizer": {"type": "Adam", "lr": 5e-4}}
        assert cfg.param_scheduler == [
            {"type": "LinearLR", "begin": 0, "end": 500, "start_factor": 0.001,
             "by_epoch": False},
            {"type": "MultiStepLR", "begin": 0, "end": 210, "milestones": [170, 200],
             "gamma": 0.1, "by_epoch": True}]
        assert cfg.auto_scale_lr == {"base_batch_size": 512}
        hooks = cfg.default_hooks
        assert hooks.checkpoint.type == "CheckpointHook" and hooks.checkpoint.interval == 10
        assert hooks.checkpoint.save_best == "coco/AP" and hooks.checkpoint.rule == "greater"
        assert hooks.logger == {"type": "LoggerHook", "interval": 50}
        assert hooks.visualization == {"type": "PoseVisualizationHook", "enable": False}
        assert cfg.custom_hooks == [{"type": "SyncBuffersHook"}]
        assert cfg.env_cfg.dist_cfg == {"backend": "nccl"}
        assert "randomness" not in cfg
        assert cfg.codec == {"type": "MSRAHeatmap", "input_size": (192, 256),
                             "heatmap_size": (48, 64), "sigma": 2}
        assert cfg.model.type == "TopdownPoseEstimator"
        assert cfg.model.data_preprocessor == {
            "type": "PoseDataPreprocessor", "mean": [123.675, 116.28, 103.53],
            "std": [58.395, 57.12, 57.375], "bgr_to_rgb": True}
        assert cfg.model.head.loss == {"type": "KeypointMSELoss", "use_target_weight": True}
        assert cfg.model.head.decoder == cfg.codec
        assert [t.type for t in cfg.train_dataloader.dataset.pipeline] == [
            "LoadImage", "GetBBoxCenterScale", "RandomFlip", "RandomHalfBody",
            "RandomBBoxTransform", "TopdownAffine", "GenerateTarget", "PackPoseInputs"]
        val = cfg.val_dataloader
        assert (val.batch_size, val.drop_last) == (32, False)
        assert val.sampler == {"type": "DefaultSampler", "shuffle": False, "round_up": False}
        assert val.dataset.bbox_file == (
            "data/coco/person_detection_results/COCO_val2017_detections_AP_H_56_person.json")
        assert val.dataset.test_mode is True
        assert cfg.test_dataloader == val
        assert cfg.val_evaluator == cfg.test_evaluator == {
            "type": "CocoMetric",
            "ann_file": "data/coco/annotations/person_keypoints_val2017.json"}


def test_hrnet_w32_backbone_settings():
    backbone = Config.fromfile(HRNET_COCO).model.backbone
    assert backbone.type == "HRNet" and backbone.in_channels == 3
    stages = [backbone.extra[f"stage{i}"] for i in range(1, 5)]
    assert [(s.num_modules, s.num_branches, s.block) for s in stages] == [
        (1, 1, "BOTTLENECK"), (1, 2, "BASIC"), (4, 3, "BASIC"), (3, 4, "BASIC")]
    assert [s.num_channels for s in stages] == [(64,), (32, 64), (32, 64, 128),
                                                (32, 64, 128, 256)]
    assert backbone.init_cfg.checkpoint.endswith("pretrain_models/hrnet_w32-36af842e.pth")


def test_merge_config_differs_from_baseline_only_in_the_training_set():
    baseline, merge = Config.fromfile(HRNET_COCO), Config.fromfile(MERGE)
    train = merge.train_dataloader.dataset
    assert train.type == "CombinedDataset" and train.test_mode is False
    assert train.metainfo == {"from_file": "configs/_base_/datasets/coco.py"}
    coco, aic = train.datasets
    assert (coco.type, coco.pipeline) == ("CocoDataset", [])
    assert aic.type == "AicDataset" and aic.data_root == "data/aic/"
    (converter,) = aic.pipeline
    assert converter.type == "KeypointConverter" and converter.num_keypoints == 17
    assert [tuple(p) for p in converter.mapping] == AIC_TO_COCO  # 12 pairs
    assert merge.model.head.out_channels == 17
    assert "output_keypoint_indices" not in merge.model.test_cfg
    assert "max_keep_ckpts" not in merge.default_hooks.checkpoint

    rest = merge.to_dict()
    for key in ("dataset_coco", "dataset_aic"):
        del rest[key]
    del rest["train_dataloader"]["dataset"]
    expected = baseline.to_dict()
    del expected["train_dataloader"]["dataset"]
    assert rest == expected


def test_combine_config_values():
    cfg = Config.fromfile(COMBINE)
    assert cfg.model.head.out_channels == 19
    assert cfg.model.metainfo == {"from_file": "configs/_base_/datasets/coco_aic.py"}
    assert cfg.model.test_cfg == {"flip_test": True, "flip_mode": "heatmap",
                                  "shift_heatmap": True,
                                  "output_keypoint_indices": list(range(17))}
    train = cfg.train_dataloader.dataset
    assert train.metainfo == {"from_file": "configs/_base_/datasets/coco_aic.py"}
    coco, aic = (d.pipeline[0] for d in train.datasets)
    assert coco.num_keypoints == aic.num_keypoints == 19
    assert [tuple(p) for p in coco.mapping] == [(i, i) for i in range(17)]
    assert [tuple(p) for p in aic.mapping] == AIC_TO_COCO + [(12, 17), (13, 18)]  # 14 pairs
    assert cfg.default_hooks.checkpoint.max_keep_ckpts == 3
    for from_file in (train.metainfo.from_file, "configs/_base_/datasets/coco.py"):
        assert (CONFIGS / Path(from_file).relative_to("configs")).is_file()


def test_res50_config_is_hrnet_baseline_with_simplebaseline_model():
    res50, hrnet = Config.fromfile(RES50_COCO), Config.fromfile(HRNET_COCO)
    assert res50.model.backbone == {
        "type": "ResNet", "depth": 50,
        "init_cfg": {"type": "Pretrained", "checkpoint": "torchvision://resnet50"}}
    assert res50.model.head == {
        "type": "HeatmapHead", "in_channels": 2048, "out_channels": 17,
        "loss": {"type": "KeypointMSELoss", "use_target_weight": True},
        "decoder": res50.codec}  # default deconvs (256, 256, 256), kernels (4, 4, 4)
    a, b = res50.to_dict(), hrnet.to_dict()
    for cfg in (a, b):
        del cfg["model"]["backbone"], cfg["model"]["head"]
    assert a == b


# ---------------------------------------------------------------------------------------
# Metainfo files: read as data (ast), never executed, checked against the reference tables
# ---------------------------------------------------------------------------------------

def literal(node: ast.AST):
    """Value of a literal expression; ``dict(k=v)`` calls count as literals."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id == "dict" and not node.args:
        return {kw.arg: literal(kw.value) for kw in node.keywords}
    if isinstance(node, ast.Dict):
        return {literal(k): literal(v) for k, v in zip(node.keys, node.values, strict=True)}
    if isinstance(node, ast.List):
        return [literal(e) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(literal(e) for e in node.elts)
    if isinstance(node, ast.Constant):
        return node.value
    raise AssertionError(f"not a plain literal: {ast.dump(node)[:80]}")


def read_metainfo(name: str) -> dict:
    tree = ast.parse((CONFIGS / "_base_" / "datasets" / f"{name}.py").read_text())
    (statement,) = tree.body
    assert isinstance(statement, ast.Assign)
    assert [t.id for t in statement.targets] == ["dataset_info"]
    return literal(statement.value)


def derived(info: dict) -> dict:
    """What parse_pose_metainfo derives (mmpose-mixed-datasets.md section 4.2)."""
    kpts = info["keypoint_info"]
    ids = {k["name"]: i for i, k in kpts.items()}
    return dict(
        names=[k["name"] for k in kpts.values()],
        flip=[ids[k["swap"]] if k["swap"] else i for i, k in kpts.items()],
        upper=[i for i, k in kpts.items() if k["type"] == "upper"],
        lower=[i for i, k in kpts.items() if k["type"] == "lower"],
        skeleton=[(ids[s["link"][0]], ids[s["link"][1]])
                  for s in info["skeleton_info"].values()],
    )


COCO_NAMES = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
              "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
              "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"]
COCO_FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
COCO_JW = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.2, 1.2, 1.5, 1.5, 1.0, 1.0, 1.2, 1.2, 1.5, 1.5]
COCO_SIGMAS = [0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062,
               0.107, 0.107, 0.087, 0.087, 0.089, 0.089]
COCO_SKELETON = [(15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6),
                 (5, 7), (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5),
                 (4, 6)]
HALPE26_FLIP = COCO_FLIP + [17, 18, 19, 21, 20, 23, 22, 25, 24]
HALPE_FACE_FLIP = [42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28, 27, 26, 52, 51,
                   50, 49, 48, 47, 46, 45, 44, 43, 53, 54, 55, 56, 61, 60, 59, 58, 57, 71, 70,
                   69, 68, 73, 72, 65, 64, 63, 62, 67, 66, 80, 79, 78, 77, 76, 75, 74, 85, 84,
                   83, 82, 81, 90, 89, 88, 87, 86, 93, 92, 91]
HALPE26_SKELETON = [(15, 13), (13, 11), (11, 19), (16, 14), (14, 12), (12, 19), (17, 18),
                    (18, 19), (18, 5), (5, 7), (7, 9), (18, 6), (6, 8), (8, 10), (1, 2), (0, 1),
                    (0, 2), (1, 3), (2, 4), (3, 5), (4, 6), (15, 20), (15, 22), (15, 24),
                    (16, 21), (16, 23), (16, 25)]

# Values from mmpose-mixed-datasets.md section 4.4 (coco, aic, coco_aic, mpii, crowdpose,
# halpe26, halpe) and from MMPose's own files (posetrack18, jhmdb, ochuman).
EXPECTED = {
    "coco": dict(
        dataset_name="coco", names=COCO_NAMES, flip=COCO_FLIP, upper=list(range(11)),
        lower=list(range(11, 17)), joint_weights=COCO_JW, sigmas=COCO_SIGMAS,
        skeleton=COCO_SKELETON),
    "aic": dict(
        dataset_name="aic",
        names=["right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
               "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
               "left_ankle", "head_top", "neck"],
        flip=[3, 4, 5, 0, 1, 2, 9, 10, 11, 6, 7, 8, 12, 13],
        upper=[0, 1, 2, 3, 4, 5, 12, 13], lower=[6, 7, 8, 9, 10, 11],
        joint_weights=[1.0, 1.2, 1.5, 1.0, 1.2, 1.5, 1.0, 1.2, 1.5, 1.0, 1.2, 1.5, 1.0, 1.0],
        sigmas=[0.01388152, 0.01515228, 0.01057665, 0.01417709, 0.01497891, 0.01402144,
                0.03909642, 0.03686941, 0.01981803, 0.03843971, 0.03412318, 0.02415081,
                0.01291456, 0.01236173],
        skeleton=[(2, 1), (1, 0), (0, 13), (13, 3), (3, 4), (4, 5), (8, 7), (7, 6), (6, 9),
                  (9, 10), (10, 11), (12, 13), (0, 6), (3, 9)]),
    "coco_aic": dict(
        dataset_name="coco", names=COCO_NAMES + ["head_top", "neck"], flip=COCO_FLIP + [17, 18],
        upper=list(range(11)) + [17, 18], lower=list(range(11, 17)),
        joint_weights=COCO_JW + [1.5],  # 18 values for 19 keypoints, as MMPose ships it
        sigmas=COCO_SIGMAS + [0.026, 0.026], skeleton=COCO_SKELETON + [(17, 18)]),
    "mpii": dict(
        dataset_name="mpii",
        names=["right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
               "pelvis", "thorax", "upper_neck", "head_top", "right_wrist", "right_elbow",
               "right_shoulder", "left_shoulder", "left_elbow", "left_wrist"],
        flip=[5, 4, 3, 2, 1, 0, 6, 7, 8, 9, 15, 14, 13, 12, 11, 10],
        upper=[7, 8, 9, 10, 11, 12, 13, 14, 15], lower=[0, 1, 2, 3, 4, 5, 6],
        joint_weights=[1.5, 1.2, 1.0, 1.0, 1.2, 1.5, 1.0, 1.0, 1.0, 1.0, 1.5, 1.2, 1.0, 1.0,
                       1.2, 1.5],
        sigmas=[0.089, 0.083, 0.107, 0.107, 0.083, 0.089, 0.026, 0.026, 0.026, 0.026, 0.062,
                0.072, 0.179, 0.179, 0.072, 0.062],
        skeleton=[(0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9),
                  (8, 12), (12, 11), (11, 10), (8, 13), (13, 14), (14, 15)]),
    "crowdpose": dict(
        dataset_name="crowdpose",
        names=["left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
               "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
               "right_ankle", "top_head", "neck"],
        flip=[1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 12, 13],
        upper=[0, 1, 2, 3, 4, 5, 12, 13], lower=[6, 7, 8, 9, 10, 11],
        joint_weights=[0.2, 0.2, 0.2, 1.3, 1.5, 0.2, 1.3, 1.5, 0.2, 0.2, 0.5, 0.2, 0.2, 0.5],
        sigmas=[0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089,
                0.089, 0.079, 0.079],
        skeleton=[(10, 8), (8, 6), (11, 9), (9, 7), (6, 7), (0, 6), (1, 7), (0, 1), (0, 2),
                  (1, 3), (2, 4), (3, 5), (12, 13), (1, 13), (0, 13)]),
    "halpe26": dict(
        dataset_name="halpe26",
        names=COCO_NAMES + ["head", "neck", "hip", "left_big_toe", "right_big_toe",
                            "left_small_toe", "right_small_toe", "left_heel", "right_heel"],
        flip=HALPE26_FLIP, upper=list(range(11)) + [17, 18],
        lower=[11, 12, 13, 14, 15, 16, 19, 20, 21, 22, 23, 24, 25],
        joint_weights=COCO_JW + [1.0, 1.0, 1.2] + [1.5] * 6,
        sigmas=COCO_SIGMAS + [0.026, 0.026, 0.066] + [0.079] * 6,
        skeleton=HALPE26_SKELETON),
    "halpe": dict(
        dataset_name="halpe",
        flip=HALPE26_FLIP + HALPE_FACE_FLIP + list(range(115, 136)) + list(range(94, 115)),
        upper=list(range(11)) + [17, 18],
        lower=[11, 12, 13, 14, 15, 16, 19, 20, 21, 22, 23, 24, 25],
        joint_weights=[1.0] * 136,
        sigmas=COCO_SIGMAS + [0.08] * 3 + [0.089] * 6 + [0.015] * 110),
    "posetrack18": dict(
        dataset_name="posetrack18",
        names=["nose", "head_bottom", "head_top"] + COCO_NAMES[3:],
        flip=[0, 1, 2] + COCO_FLIP[3:], upper=list(range(11)), lower=list(range(11, 17)),
        joint_weights=COCO_JW, sigmas=COCO_SIGMAS,
        skeleton=COCO_SKELETON[:12] + [(0, 1), (0, 2), (1, 5), (1, 6)]),
    "jhmdb": dict(
        dataset_name="jhmdb",
        names=["neck", "belly", "head", "right_shoulder", "left_shoulder", "right_hip",
               "left_hip", "right_elbow", "left_elbow", "right_knee", "left_knee",
               "right_wrist", "left_wrist", "right_ankle", "left_ankle"],
        flip=[0, 1, 2, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13],
        upper=[0, 1, 2, 3, 4, 7, 8, 11, 12], lower=[5, 6, 9, 10, 13, 14],
        joint_weights=[1.0] * 7 + [1.2] * 4 + [1.5] * 4,
        sigmas=[0.025, 0.107, 0.025, 0.079, 0.079, 0.107, 0.107, 0.072, 0.072, 0.087, 0.087,
                0.062, 0.062, 0.089, 0.089],
        skeleton=[(13, 9), (9, 5), (5, 1), (1, 6), (6, 10), (10, 14), (1, 0), (0, 2), (0, 3),
                  (3, 7), (7, 11), (0, 4), (4, 8), (8, 12)]),
    "ochuman": dict(
        dataset_name="ochuman", names=COCO_NAMES, flip=COCO_FLIP, upper=list(range(11)),
        lower=list(range(11, 17)), joint_weights=COCO_JW, sigmas=COCO_SIGMAS,
        skeleton=COCO_SKELETON),
}

SIZES = {"coco": (17, 19), "aic": (14, 14), "coco_aic": (19, 20), "mpii": (16, 15),
         "crowdpose": (14, 15), "halpe26": (26, 27), "halpe": (136, 67),
         "posetrack18": (17, 16), "jhmdb": (15, 14), "ochuman": (17, 19)}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_metainfo_file_matches_reference(name):
    info = read_metainfo(name)
    want = EXPECTED[name]
    num_keypoints, num_links = SIZES[name]
    kpts = info["keypoint_info"]
    assert list(kpts) == list(range(num_keypoints))
    assert all(k["id"] == i for i, k in kpts.items())
    assert len(info["skeleton_info"]) == num_links
    assert all(len(v["color"]) == 3 for v in [*kpts.values(), *info["skeleton_info"].values()])
    assert info["dataset_name"] == want["dataset_name"]
    assert info["paper_info"]
    got = derived(info)
    for key in ("names", "flip", "upper", "lower", "skeleton"):
        if key in want:
            assert got[key] == want[key], key
    assert info["joint_weights"] == want["joint_weights"]
    assert info["sigmas"] == want["sigmas"]
    assert len(info["sigmas"]) == num_keypoints


def test_halpe_face_and_hand_names():
    names = derived(read_metainfo("halpe"))["names"]
    assert names[26:94] == [f"face-{i}" for i in range(68)]
    fingers = [f"{f}{j}" for f in ("thumb", "forefinger", "middle_finger", "ring_finger",
                                   "pinky_finger") for j in range(1, 5)]
    assert names[94:115] == ["left_hand_root"] + [f"left_{f}" for f in fingers]
    assert names[115:] == ["right_hand_root"] + [f"right_{f}" for f in fingers]
    # hand links start at the body wrists (9, 10), as in MMPose's halpe.py
    skeleton = derived(read_metainfo("halpe"))["skeleton"]
    assert skeleton[:27] == HALPE26_SKELETON
    assert skeleton[27:31] == [(9, 95), (95, 96), (96, 97), (97, 98)]
    assert skeleton[47] == (10, 116)
