"""Bad input to ``test``, ``export``, ``train --resume``, ``infer`` and ``inspect`` fails up
front with one line naming the file: a file that is no checkpoint, an ONNX export passed
for a checkpoint, a device this torch does not have, unreadable images, an output folder
that is a file. And ``infer`` keeps apart images of the same name from different folders.
"""

from __future__ import annotations

import json
import shutil
import warnings

import cv2
import numpy as np
import pytest
import torch
from test_cli_tools import demo_checkpoint  # noqa: F401 - the demo model's checkpoint fixture

from posemix.cli import main
from posemix.config import packaged_configs_dir
from posemix.engine.checkpoint import (
    RefusedCheckpointError,
    is_onnx_file,
    load_checkpoint,
)
from posemix.errors import ImageError
from posemix.inference import infer

DEMO = str(packaged_configs_dir() / "demo" / "combine.py")
NOT_ONNX = ("this is an ONNX export, not a training checkpoint; pass the .pth it was exported "
            "from ('posemix infer' runs ONNX exports directly)")


def run(argv, capsys) -> tuple[int, str]:
    """The exit status and stderr of ``posemix ARGV`` (warnings silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


@pytest.fixture
def garbage(tmp_path):
    path = tmp_path / "garbage.pth"
    path.write_bytes(b"not a checkpoint")
    return path


@pytest.fixture
def onnx_model(tmp_path):
    """A valid ONNX graph (one Identity node) under a name that does not say so."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    value = helper.make_tensor_value_info
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [value("x", TensorProto.FLOAT, [1])],
                              [value("y", TensorProto.FLOAT, [1])])
    path = tmp_path / "model.bin"
    onnx.save(helper.make_model(graph), str(path))
    return path


@pytest.fixture
def demo_data_cwd(tmp_path, monkeypatch):
    """The demo config's relative data_root resolving to a tiny generated dataset."""
    from posemix.demo.generate import generate_demo_data

    generate_demo_data(tmp_path / "demo_data", num_images=2, num_val=1, workers=1,
                       progress=False)
    monkeypatch.chdir(tmp_path)


# ---------------------------------------------------------------- 1. no checkpoint at all

def test_test_names_a_file_that_is_no_checkpoint_as_every_command_does(garbage, tmp_path,
                                                                       capsys):
    expected = (f"{garbage}: not a readable PyTorch checkpoint (16 bytes; truncated or "
                f"corrupt?): UnpicklingError: Unsupported operand 110\n")
    assert run(["test", DEMO, garbage], capsys) == (2, f"posemix test: error: {expected}")
    assert run(["export", garbage, "--out", tmp_path / "m.onnx"], capsys) == (
        2, f"posemix export: error: {expected}")
    text = tmp_path / "text.pth"
    text.write_text("hello world\n")
    assert run(["test", DEMO, text], capsys) == (
        2, f"posemix test: error: {text}: not a readable PyTorch checkpoint (12 bytes; "
           f"truncated or corrupt?): KeyError: 101\n")
    assert run(["test", DEMO, tmp_path / "missing.pth"], capsys) == (
        2, f"posemix test: error: checkpoint file not found: {tmp_path / 'missing.pth'}\n")


def test_a_foreign_checkpoint_is_refused_not_called_unreadable(tmp_path):
    """MMPose 1.x checkpoints carry numpy metadata: refused by load_checkpoint, read by
    models.init_weights, so ``posemix test`` must not turn them away (tests/test_engine.py
    evaluates one)."""
    mmpose = tmp_path / "mmpose.pth"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "meta": {"sigmas": np.ones(3)}}, mmpose)
    with pytest.raises(RefusedCheckpointError, match="refused to load"):
        load_checkpoint(mmpose)


# ---------------------------------------------------------------- 2. an ONNX export

def test_an_onnx_export_passed_for_a_checkpoint_is_named_as_one(onnx_model, tmp_path, capsys,
                                                                demo_data_cwd):
    suffixed = tmp_path / "pose.onnx"  # judged by its name, whatever it holds
    suffixed.write_bytes(b"not a checkpoint")
    assert is_onnx_file(onnx_model) and is_onnx_file(suffixed)
    for path in (onnx_model, suffixed):
        assert run(["test", DEMO, path], capsys) == (
            2, f"posemix test: error: {path}: {NOT_ONNX}\n")
        assert run(["export", path, "--out", tmp_path / "m.onnx"], capsys) == (
            2, f"posemix export: error: {path}: {NOT_ONNX}\n")
        assert run(["train", DEMO, "--resume", path, "--work-dir", tmp_path / "wd"],
                   capsys) == (2, f"posemix train: error: {path}: {NOT_ONNX}\n")
    assert not (tmp_path / "m.onnx").exists() and not (tmp_path / "wd").exists()


def test_infer_runs_an_onnx_file_whatever_its_name(onnx_model, fixtures_dir, tmp_path,
                                                   capsys):
    pytest.importorskip("onnxruntime")
    image = fixtures_dir / "coco" / "000000000785.jpg"
    # reaches onnxruntime: the graph has no posemix metadata
    assert run(["infer", onnx_model, image, "--out", tmp_path / "out"], capsys) == (
        2, f"posemix infer: error: {onnx_model}: an ONNX model without posemix's metadata "
           f"(no 'posemix.format' in metadata_props); export it with 'posemix export'\n")


def test_a_checkpoint_is_not_taken_for_onnx(demo_checkpoint, garbage):  # noqa: F811
    assert not is_onnx_file(demo_checkpoint[0]) and not is_onnx_file(garbage)


# ---------------------------------------------------------------- 3. --device

@pytest.mark.parametrize("device, message", [
    ("cuda", "device 'cuda' requested but CUDA is not available"),
    ("gpu", "unknown device 'gpu': "),
])
def test_infer_checks_the_device_as_train_does(demo_checkpoint, fixtures_dir, tmp_path,  # noqa: F811
                                               capsys, monkeypatch, device, message):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    image = fixtures_dir / "coco" / "000000000785.jpg"
    code, err = run(["infer", demo_checkpoint[0], image, "--device", device,
                     "--out", tmp_path / "out"], capsys)
    assert code == 2 and err.startswith(f"posemix infer: error: {message}")
    assert err.count("\n") == 1 and not (tmp_path / "out").exists()


# ---------------------------------------------------------------- 4. unreadable images

def test_infer_names_every_unreadable_image_before_loading_the_model(garbage, fixtures_dir,
                                                                     tmp_path, capsys):
    good = fixtures_dir / "coco" / "000000000785.jpg"
    not_image = tmp_path / "notimg.jpg"
    not_image.write_text("not an image")
    missing = tmp_path / "missing.jpg"
    out = tmp_path / "out"
    # the checkpoint is garbage too: the images are checked first, before anything is loaded
    assert run(["infer", garbage, good, not_image, missing, good, "--out", out], capsys) == (
        2, f"posemix infer: error: 2 of 4 images cannot be read: {not_image}: not a readable "
           f"image; {missing}: image file not found\n")
    assert not out.exists()


# ---------------------------------------------------------------- 5. images of the same name

def test_infer_keeps_images_of_the_same_name_apart(demo_checkpoint, fixtures_dir,  # noqa: F811
                                                   tmp_path):
    sources = [fixtures_dir / "coco" / "000000000785.jpg",
               fixtures_dir / "aic" / "054d9ce9201beffc76e5ff2169d2af2f027002ca.jpg"]
    images = [tmp_path / "a" / "1.jpg", tmp_path / "b" / "1.jpg"]
    for source, image in zip(sources, images, strict=True):
        image.parent.mkdir()
        shutil.copy(source, image)
    doc = json.loads(infer(str(demo_checkpoint[0]), [str(p) for p in images],
                           str(tmp_path / "out"), device="cpu").read_text())
    assert [(r["image"], r["overlay"]) for r in doc["results"]] == [
        (str(images[0]), "1_pose.png"), (str(images[1]), "1_2_pose.png")]
    for image, overlay in zip(images, ("1_pose.png", "1_2_pose.png"), strict=True):
        assert cv2.imread(str(tmp_path / "out" / overlay)).shape == cv2.imread(str(image)).shape
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "1_2_pose.png", "1_pose.png", "results.json"]


def test_infer_expands_a_folder_to_its_images_sorted(demo_checkpoint, fixtures_dir,  # noqa: F811
                                                     tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copy(fixtures_dir / "coco" / "000000000785.jpg", folder / "z.jpg")
    shutil.copy(fixtures_dir / "coco" / "000000000785.jpg", folder / "b.JPG")
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden.jpg").write_text("not an image")
    doc = json.loads(infer(str(demo_checkpoint[0]), [str(folder)], str(tmp_path / "out"),
                           device="cpu").read_text())
    assert [(r["image"], r["overlay"]) for r in doc["results"]] == [
        (str(folder / "b.JPG"), "b_pose.png"), (str(folder / "z.jpg"), "z_pose.png")]


def test_infer_refuses_a_folder_without_images(garbage, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageError) as info:
        infer(str(garbage), [str(tmp_path / "empty")], str(tmp_path / "out"))
    assert str(info.value) == (f"{tmp_path / 'empty'}: a folder with no images (.jpg, .jpeg, "
                               f".png, .bmp, .tif, .tiff, .webp)")


# ---------------------------------------------------------------- 6. an output folder, a file

def test_an_output_folder_that_is_a_file_fails_up_front(garbage, fixtures_dir, tmp_path,
                                                        capsys):
    taken = tmp_path / "taken"
    taken.write_text("a file")
    image = fixtures_dir / "coco" / "000000000785.jpg"
    # garbage checkpoint: the folder is checked before anything is loaded
    assert run(["infer", garbage, image, "--out", taken], capsys) == (
        2, f"posemix infer: error: output folder {taken}: it is an existing file, not a "
           f"folder\n")
    assert run(["infer", garbage, image, "--out", taken / "sub"], capsys) == (
        2, f"posemix infer: error: output folder {taken / 'sub'}: {taken} is an existing "
           f"file, not a folder\n")
    # before the config's datasets are even built
    assert run(["inspect", DEMO, "--report", taken], capsys) == (
        2, f"posemix inspect: error: --report {taken}: it is an existing file, not a folder\n")
    assert taken.read_text() == "a file"
