"""ONNX export and the onnxruntime backend: parity with PyTorch per model family (raw
outputs, decoded keypoints and scores, with and without flip test, batch 1 and 8), the
same results.json through both backends, the stored metadata, and clear errors."""

from __future__ import annotations

import json
import sys
import warnings

import numpy as np
import pytest
import torch
from test_cli_tools import demo_checkpoint  # noqa: F401 - the demo model's checkpoint fixture
from test_models import TEST_CFG, TINY_EXTRA
from test_rtmpose import rtmpose_cfg as tiny_rtmpose_cfg
from torch import nn

from posemix.api import load_model
from posemix.cli import main
from posemix.config import Config
from posemix.deploy.export import ExportGraph, export_onnx
from posemix.deploy.onnx_runtime import CPU, CUDA, OnnxPoseModel, providers
from posemix.engine.checkpoint import save_checkpoint
from posemix.errors import PosemixError
from posemix.inference import infer
from posemix.models.heads import per_source_head_cfg
from posemix.models.postprocess import predictions
from posemix.registry import MODELS

PREPROCESSOR = dict(type="PoseDataPreprocessor", mean=[123.675, 116.28, 103.53],
                    std=[58.395, 57.12, 57.375], bgr_to_rgb=True)
UNION = dict(from_file="configs/_base_/datasets/coco_aic.py")
SIZES = dict(input_size=(192, 256), heatmap_size=(48, 64))
PIPELINE = [dict(type="LoadImage"), dict(type="GetBBoxCenterScale"),
            dict(type="TopdownAffine", input_size=(192, 256)), dict(type="PackPoseInputs")]


def hrnet_cfg(codec):
    return dict(type="TopdownPoseEstimator", data_preprocessor=PREPROCESSOR, metainfo=UNION,
                backbone=dict(type="HRNet", in_channels=3, extra=TINY_EXTRA),
                head=dict(type="HeatmapHead", in_channels=8, deconv_out_channels=None,
                          decoder=codec),
                test_cfg=TEST_CFG)


def resnet_cfg(codec):
    return dict(type="TopdownPoseEstimator", data_preprocessor=PREPROCESSOR, metainfo=UNION,
                backbone=dict(type="ResNet", depth=18, stem_channels=16, base_channels=16,
                              zero_init_residual=False),
                head=dict(type="HeatmapHead", in_channels=128, deconv_out_channels=(32, 32, 32),
                          deconv_kernel_sizes=(4, 4, 4), decoder=codec),
                test_cfg=dict(flip_test=True, shift_heatmap=False))


def rtmpose_cfg():
    """The tiny golden RTMPose (tests/test_rtmpose.py) with the COCO schema it predicts."""
    return dict(tiny_rtmpose_cfg(0.167, 0.125, 128, norm="BN"),
                metainfo=dict(from_file="configs/_base_/datasets/coco.py"))


def per_source_cfg(output_head=None):
    """A union head and one HeatmapHead per source (coco, aic) on the tiny ResNet, as
    tests/test_multi_source_head.py builds it, but from a config a checkpoint can store."""
    cfg = resnet_cfg(dict(type="MSRAHeatmap", sigma=2, **SIZES))
    cfg["head"] = per_source_head_cfg(cfg["head"], ["coco", "aic"])
    if output_head is not None:
        cfg["test_cfg"] = dict(cfg["test_cfg"], output_head=output_head)
    return cfg


def randomise(model: nn.Module, seed: int) -> None:
    """Random weights with BatchNorm statistics and affine parameters randomised (as the
    golden models were made); every head's final layer drawn wider than HeatmapHead's std
    0.001 init, so heatmaps vary across the map (~1) and decoding sees peaks, not a flat
    map."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.kaiming_normal_(m.weight, generator=g)
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.2)
        for name, final in model.named_modules():
            if name.endswith("final_layer"):
                final.weight.copy_(torch.randn(final.weight.shape, generator=g) * 0.01)


def write_checkpoint(path, model_cfg, state_dict):
    cfg = Config(dict(model=model_cfg, val_pipeline=PIPELINE))
    save_checkpoint(path, {"state_dict": state_dict, "config": cfg.pretty_text})
    return path


@pytest.fixture(scope="module")
def golden(golden_dir):
    """Golden weights (HRNet, RTMPose) and fixture crops (the HRNet's, the RTMPose's, the
    UDP pipeline's)."""
    def weights(name):
        state = np.load(golden_dir / f"{name}_state_dict.npz")
        return {k: torch.from_numpy(state[k]) for k in state.files}

    def crops(name):
        io = np.load(golden_dir / f"{name}_io.npz")
        return dict(inputs=io["inputs_uint8"], center=io["input_center"],
                    scale=io["input_scale"])

    pipe = np.load(golden_dir / "combine_val_pipeline.npz")
    return (weights("tiny_hrnet_combine"), crops("tiny_hrnet_combine"),
            weights("tiny_rtmpose_body8"), crops("tiny_rtmpose_body8"),
            dict(inputs=np.ascontiguousarray(pipe["udp_img"].transpose(0, 3, 1, 2)),
                 center=pipe["udp_input_center"], scale=pipe["udp_input_scale"]))


@pytest.fixture(scope="module")
def one_thread():
    """Parity runs PyTorch on one thread: its own decodes of an ill-conditioned (DARK)
    keypoint then agree across batch shapes, so that the tolerance measures the backends."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def exported(golden, tmp_path_factory, one_thread):
    """Per family (PyTorch model predicting with the exported head, ONNX model, fixture
    crops, the exported head's name or None), exported once."""
    hrnet, hrnet_crops, rtmpose, rtmpose_crops, udp_crops = golden
    folder = tmp_path_factory.mktemp("deploy")
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # coco_aic.py's 18 joint weights
        resnet = MODELS.build(resnet_cfg(dict(type="UDPHeatmap", **SIZES)))
        per_source = MODELS.build(per_source_cfg())
    randomise(resnet, seed=0)
    randomise(per_source, seed=0)
    families = {  # checkpoint's model config, weights, crops, --head
        "hrnet-msra": (hrnet_cfg(dict(type="MSRAHeatmap", sigma=2, **SIZES)), hrnet,
                       hrnet_crops, None),
        "hrnet-dark": (hrnet_cfg(dict(type="MSRAHeatmap", sigma=2, unbiased=True, **SIZES)),
                       hrnet, hrnet_crops, None),
        "resnet-udp": (resnet_cfg(dict(type="UDPHeatmap", **SIZES)), resnet.state_dict(),
                       udp_crops, None),
        "rtmpose": (rtmpose_cfg(), rtmpose, rtmpose_crops, None),
        # --head names a source's head of a model whose output head is the union
        "per-source-aic": (per_source_cfg(), per_source.state_dict(), hrnet_crops, "aic"),
        # no --head: test_cfg.output_head's
        "per-source-output-head": (per_source_cfg("coco"), per_source.state_dict(),
                                   hrnet_crops, None),
    }
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, (cfg, weights, crops, head) in families.items():
            ckpt = write_checkpoint(folder / f"{name}.pth", cfg, weights)
            onnx_path = export_onnx(ckpt, folder / f"{name}.onnx", head=head)
            model = load_model(ckpt)[0]
            if head is not None:  # PyTorch predicts with the exported head too
                model.head.check_output_head(head)
            out[name] = model, OnnxPoseModel(onnx_path, device="cpu"), crops, head
    return out


def torch_head(model, head):
    """The PyTorch module and flip partners of what was exported."""
    if not hasattr(model.head, "sub_head"):
        return model.head, model.schema.flip_indices
    name = model.head.output_head if head is None else head
    return model.head.sub_head(name), model.head.output_schemas()[name].flip_indices


def metas(crops, index):
    return [dict(input_size=(192, 256), input_center=crops["center"][i],
                 input_scale=crops["scale"][i]) for i in index]


def ill_conditioned(model, head, inputs, metas_, flip, amplitude):
    """Keypoints whose PyTorch decoding itself moves more than 0.001 px when the raw outputs
    change by ``amplitude`` (the round-off measured between the backends, ~3e-7 to 1e-6
    with the thread count), or when PyTorch runs the plain and flipped images in one batch
    (as ONNX does) instead of two: DARK's and DARK-UDP's Newton step on the log of a flat or
    near-zero map of a random model amplifies round-off that is correlated across the map
    far more than random noise."""
    module, flip_indices = torch_head(model, head)
    graph = ExportGraph(model, module).eval()
    with torch.no_grad():
        outputs = graph(inputs)
        flipped = graph(inputs.flip(-1)) if flip else None
        both = graph(torch.cat([inputs, inputs.flip(-1)]))
    gen = torch.Generator().manual_seed(1)

    def nudge(raw):
        return None if raw is None else tuple(
            r + (torch.rand(r.shape, generator=gen) - 0.5) * 2 * amplitude for r in raw)

    args = (type(module), module.decoder, metas_, model.test_cfg, flip_indices)
    base = predictions(outputs, flipped, *args)
    moved = predictions(nudge(outputs), nudge(flipped), *args)
    batched = predictions(tuple(b[:len(inputs)] for b in both),
                          tuple(b[len(inputs):] for b in both) if flip else None, *args)
    return [(np.abs(a["keypoints"] - b["keypoints"]).max(-1) > 0.001)
            | (np.abs(a["keypoints"] - c["keypoints"]).max(-1) > 0.001)
            for a, b, c in zip(base, moved, batched, strict=True)]


FAMILIES = ["hrnet-msra", "hrnet-dark", "resnet-udp", "rtmpose", "per-source-aic",
            "per-source-output-head"]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("batch", [1, 8])
def test_onnx_matches_pytorch(exported, family, batch):
    model, onnx_model, crops, head = exported[family]
    graph = ExportGraph(model, torch_head(model, head)[0]).eval()
    index = range(batch)
    inputs = torch.from_numpy(crops["inputs"][:batch])
    with torch.no_grad():
        raw = graph(inputs)
    raw_onnx = onnx_model.run(inputs.numpy())
    assert len(raw) == len(raw_onnx) == len(onnx_model.info.output_names)
    for r, o in zip(raw, raw_onnx, strict=True):
        assert o.shape == r.shape and o.shape[0] == batch
        assert float(r.flatten(2).std(-1).mean()) > 0.005  # outputs vary, not flat
        np.testing.assert_allclose(o.numpy(), r.numpy(), atol=1e-4)
    # the round-off between the backends on the batch the flip test runs (plain + flipped)
    both = torch.cat([inputs, inputs.flip(-1)])
    with torch.no_grad():
        raw_both = graph(both)
    round_off = max(1e-6, *(float((o - r).abs().max()) for r, o in
                            zip(raw_both, onnx_model.run(both.numpy()), strict=True)))
    for flip in (True, False):
        model.test_cfg["flip_test"] = flip
        onnx_model.test_cfg = dict(onnx_model.test_cfg, flip_test=flip)
        expected = model.predict(inputs, metas(crops, index))
        got = onnx_model.predict(inputs, metas(crops, index))
        unstable = ill_conditioned(model, head, inputs, metas(crops, index), flip, round_off)
        assert np.mean(np.concatenate(unstable)) <= 0.5  # most keypoints held to 0.01 px
        for e, g, bad in zip(expected, got, unstable, strict=True):
            assert g["keypoints"].shape == e["keypoints"].shape
            gap = np.abs(g["keypoints"] - e["keypoints"]).max(-1)
            assert gap[~bad].max(initial=0) <= 0.01 and gap[bad].max(initial=0) <= 0.5
            # 1e-5 plus 1e-6 relative: a SimCC score is the maximum logit (~9 here, where
            # float32 steps by 1e-6), a heatmap score the map's maximum (<= ~1)
            np.testing.assert_allclose(g["keypoint_scores"], e["keypoint_scores"], atol=1e-5,
                                       rtol=1e-6)
    model.test_cfg["flip_test"] = True


@pytest.mark.parametrize("family, golden_io", [("hrnet-msra", "tiny_hrnet_combine_io"),
                                               ("rtmpose", "tiny_rtmpose_body8_io")])
def test_onnx_reproduces_the_golden_mmpose_predictions(exported, golden_dir, family, golden_io):
    """The exported tiny HRNet and RTMPose, decoded outside the graph, give MMPose's own
    predictions (flip test; MSRA decoding and the 17-keypoint subset, or SimCC decoding;
    image space)."""
    _, onnx_model, crops, _ = exported[family]
    io = np.load(golden_dir / f"{golden_io}.npz")
    onnx_model.test_cfg = dict(onnx_model.test_cfg, flip_test=True)
    got = onnx_model.predict(crops["inputs"], metas(crops, range(12)))
    np.testing.assert_allclose(np.concatenate([g["keypoints"] for g in got]),
                               io["pred_keypoints"], atol=1e-3)
    np.testing.assert_allclose(np.concatenate([g["keypoint_scores"] for g in got]),
                               io["pred_scores"], atol=1e-5)


def test_demo_export_gives_the_same_results_json(demo_checkpoint, fixtures_dir,  # noqa: F811
                                                 tmp_path, capsys):
    path, _ = demo_checkpoint
    onnx_path = tmp_path / "demo.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # the config is stored in the checkpoint: no config file needed
        assert main(["export", str(path), "--out", str(onnx_path), "--opset", "17"]) == 0
    assert capsys.readouterr().out.strip() == str(onnx_path)
    import onnx

    assert [(o.domain, o.version) for o in onnx.load(str(onnx_path)).opset_import] == [("", 17)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        props = OnnxPoseModel(onnx_path).session.get_modelmeta().custom_metadata_map
    names = json.loads(props["posemix.keypoint_names"])
    assert len(names) == 19 and names[17] == "head_top" and names[18] == "neck"
    assert json.loads(props["posemix.flip_indices"])[:5] == [0, 2, 1, 4, 3]
    assert json.loads(props["posemix.input_size"]) == [96, 128]
    assert json.loads(props["posemix.codec"]) == dict(
        type="MSRAHeatmap", input_size=[96, 128], heatmap_size=[48, 64], sigma=2.0,
        unbiased=True, blur_kernel_size=5)
    assert json.loads(props["posemix.head"]) == {"type": "HeatmapHead", "name": None}
    assert json.loads(props["posemix.output_names"]) == ["heatmaps"]
    assert json.loads(props["posemix.test_cfg"])["flip_test"] is True

    assert_same_results(path, onnx_path, fixtures_dir, tmp_path)


def assert_same_results(checkpoint, onnx_path, fixtures_dir, tmp_path):
    """``posemix infer`` gives the same results.json (and overlays) through both backends."""
    images = [str(fixtures_dir / "coco" / "000000000785.jpg"),
              str(fixtures_dir / "aic" / "054d9ce9201beffc76e5ff2169d2af2f027002ca.jpg")]
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps([
        {"image": "000000000785.jpg", "bbox": [280, 44, 218, 346], "score": 0.9},
        {"image": "000000000785.jpg", "bbox": [10, 10, 100, 200], "score": 0.5}]))
    docs = []
    for model, out in ((checkpoint, tmp_path / "torch"), (onnx_path, tmp_path / "onnx")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            docs.append(json.loads(infer(str(model), images, str(out), bboxes=str(boxes),
                                         device="cpu").read_text()))
        assert (out / "000000000785_pose.png").is_file()
    torch_doc, onnx_doc = docs
    assert onnx_doc["keypoint_names"] == torch_doc["keypoint_names"]
    assert len(onnx_doc["results"]) == len(torch_doc["results"]) == 3
    for t, o in zip(torch_doc["results"], onnx_doc["results"], strict=True):
        assert (o["image"], o["bbox"]) == (t["image"], t["bbox"])
        kt, ko = np.reshape(t["keypoints"], (-1, 3)), np.reshape(o["keypoints"], (-1, 3))
        assert len(kt) == len(torch_doc["keypoint_names"])
        np.testing.assert_allclose(ko[:, :2], kt[:, :2], atol=0.01)
        np.testing.assert_allclose(ko[:, 2], kt[:, 2], atol=1e-5)
        assert o["score"] == pytest.approx(t["score"], abs=1e-5)
    return torch_doc


# ---------------------------------------------------------------- per-source heads


def test_per_source_export_holds_that_head_and_its_schema(exported):
    model, onnx_model, _, _ = exported["per-source-aic"]
    aic = model.head.output_schemas()["aic"]
    props = onnx_model.session.get_modelmeta().custom_metadata_map
    assert json.loads(props["posemix.keypoint_names"]) == list(aic.keypoints)
    assert len(aic.keypoints) == 14 and aic.keypoints[:2] == ("right_shoulder", "right_elbow")
    assert json.loads(props["posemix.flip_indices"]) == list(aic.flip_indices)
    assert list(aic.flip_indices[:6]) == [3, 4, 5, 0, 1, 2]  # AIC: right arm <-> left arm
    assert json.loads(props["posemix.head"]) == {"type": "HeatmapHead", "name": "aic"}
    assert json.loads(props["posemix.codec"]) == dict(
        type="MSRAHeatmap", sigma=2, input_size=[192, 256], heatmap_size=[48, 64])
    assert json.loads(props["posemix.output_names"]) == ["heatmaps"]
    test_cfg = json.loads(props["posemix.test_cfg"])
    assert test_cfg["output_head"] == "aic" and test_cfg.get("output_keypoint_indices") is None
    # the graph's weights: the backbone's and the aic head's, no other head's
    import onnx
    from onnx import numpy_helper

    weights = {i.name: numpy_helper.to_array(i)
               for i in onnx.load(str(onnx_model.path)).graph.initializer}
    head_weights = {k for k in weights if k.startswith("head.")}
    assert head_weights and not [k for k in weights if "heads." in k or "union" in k]
    final = model.head.sub_head("aic").final_layer.weight.detach().numpy()
    np.testing.assert_array_equal(weights["head.final_layer.weight"], final)


def test_per_source_infer_gives_pytorchs_results_json(exported, fixtures_dir, tmp_path):
    """A checkpoint whose test_cfg.output_head is 'coco', exported without --head: infer on
    the .onnx gives what infer on the .pth gives, in that head's 17 keypoints."""
    _, onnx_model, _, _ = exported["per-source-output-head"]
    checkpoint = onnx_model.path.with_suffix(".pth")
    doc = assert_same_results(checkpoint, onnx_model.path, fixtures_dir, tmp_path)
    assert doc["keypoint_names"][:3] == ["nose", "left_eye", "right_eye"]
    assert len(doc["keypoint_names"]) == 17
    assert json.loads(onnx_model.session.get_modelmeta().custom_metadata_map[
        "posemix.head"]) == {"type": "HeatmapHead", "name": "coco"}


def test_export_of_a_sub_head_that_does_not_exist_lists_the_heads(exported, tmp_path, capsys):
    checkpoint = exported["per-source-aic"][1].path.with_suffix(".pth")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["export", str(checkpoint), "--out", str(tmp_path / "m.onnx"),
                     "--head", "mpii"])
    assert code == 2
    assert (f"{checkpoint}: head 'mpii' does not exist: the model's MultiSourceHead has the "
            f"heads coco, aic, union") in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


# ---------------------------------------------------------------- errors


def test_export_of_a_foreign_checkpoint_names_the_file(tmp_path, capsys):
    foreign = tmp_path / "foreign.pth"
    torch.save({"model": {"w": torch.zeros(2)}}, foreign)
    assert main(["export", str(foreign), "--out", str(tmp_path / "m.onnx")]) == 2
    assert f"{foreign}: holds no config" in capsys.readouterr().err
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    assert main(["export", str(garbage), "--out", str(tmp_path / "m.onnx")]) == 2
    assert f"{garbage}: not a readable PyTorch checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_export_refuses_an_out_that_is_not_an_onnx_file(tmp_path, capsys):
    """Checked before the checkpoint is read: a typo must not put ONNX bytes over a file."""
    checkpoint = tmp_path / "never_read.pth"
    victim = tmp_path / "v3.py"
    victim.write_text("keep = True\n")
    assert main(["export", str(checkpoint), "--out", str(victim)]) == 2
    assert capsys.readouterr().err == (
        f"posemix export: error: --out {victim}: is an existing file that does not end in "
        f".onnx; refusing to overwrite it with an ONNX model: give e.g. --out "
        f"{tmp_path / 'v3.onnx'}\n")
    assert victim.read_text() == "keep = True\n"
    assert main(["export", str(checkpoint), "--out", str(tmp_path / "model")]) == 2
    assert capsys.readouterr().err == (
        f"posemix export: error: --out {tmp_path / 'model'}: does not end in .onnx; posemix "
        f"export writes an ONNX model: give e.g. --out {tmp_path / 'model.onnx'}\n")
    folder = tmp_path / "models.onnx"
    folder.mkdir()
    assert main(["export", str(checkpoint), "--out", str(folder)]) == 2
    assert f"--out {folder}: is a folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models.onnx", "v3.py"]


def test_export_of_a_head_that_does_not_exist(demo_checkpoint, tmp_path,  # noqa: F811
                                              capsys):
    path, _ = demo_checkpoint
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["export", str(path), "--out", str(tmp_path / "m.onnx"), "--head", "aic"])
    assert code == 2
    err = capsys.readouterr().err
    assert f"{path}: head 'aic' does not exist" in err and "single HeatmapHead" in err


def test_export_without_the_deploy_extra_names_it(demo_checkpoint, tmp_path,  # noqa: F811
                                                  monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # import fails as if not installed
    with pytest.raises(PosemixError, match=r"onnxscript.*pip install 'posemix\[deploy\]'"):
        export_onnx(demo_checkpoint[0], tmp_path / "m.onnx")


def test_onnx_without_posemix_metadata_is_refused(tmp_path, fixtures_dir):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["heatmaps"])], "plain",
        [helper.make_tensor_value_info("input", TensorProto.UINT8, ["n", 3, 256, 192])],
        [helper.make_tensor_value_info("heatmaps", TensorProto.UINT8, ["n", 3, 256, 192])])
    plain = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), plain)
    image = str(fixtures_dir / "coco" / "000000000785.jpg")
    with pytest.raises(PosemixError, match=rf"{plain}: an ONNX model without posemix's "
                                           rf"metadata"):
        infer(str(plain), [image], str(tmp_path / "out"))
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00" * 64)
    with pytest.raises(PosemixError, match=rf"{garbage}: not a readable ONNX model"):
        infer(str(garbage), [image], str(tmp_path / "out"))



@pytest.mark.parametrize("field, value, message", [
    ("posemix.codec", '{"type": "NoSuchCodec"}', "metadata 'posemix.codec': .*NoSuchCodec"),
    ("posemix.head", '"HeatmapHead"', "metadata 'posemix.head' must be a JSON object"),
    ("posemix.test_cfg", "{flip", "metadata 'posemix.test_cfg' is not JSON"),
])
def test_damaged_metadata_names_file_and_field(exported, tmp_path, field, value, message):
    import onnx

    proto = onnx.load(str(exported["hrnet-msra"][1].path))
    (prop,) = [p for p in proto.metadata_props if p.key == field]
    prop.value = value
    damaged = tmp_path / "damaged.onnx"
    onnx.save(proto, str(damaged))
    with pytest.raises(PosemixError, match=rf"{damaged}: {message}"):
        OnnxPoseModel(damaged)


@pytest.mark.parametrize("has_provider,has_gpu", [(False, False), (True, False), (True, True)])
def test_onnx_runtime_picks_cuda_only_where_it_runs(monkeypatch, has_provider, has_gpu):
    """No device given: CUDA where onnxruntime has the provider and a GPU is present, else
    the CPU; asking for CUDA without the provider names the package that has it."""
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers",
                        lambda: [CUDA, CPU] if has_provider else [CPU])
    monkeypatch.setattr(torch.cuda, "is_available", lambda: has_gpu)
    assert providers(None) == ([CUDA, CPU] if has_provider and has_gpu else [CPU])
    assert providers("cpu") == [CPU]
    if has_provider:
        assert providers("cuda:0") == [CUDA, CPU]
    else:
        with pytest.raises(PosemixError, match="onnxruntime-gpu"):
            providers("cuda")
    with pytest.raises(PosemixError, match="runs on 'cpu' or 'cuda'"):
        providers("mps")
