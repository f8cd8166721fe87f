"""posemix browse on the seed's combine config pointed at the fixtures: the pictures
exist for both sources, show the crop the model sees, and make a mapping checkable."""

from __future__ import annotations

import argparse
import dataclasses
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_combined import COMBINE, fixture_options

from posemix.api import build_dataset, load_config
from posemix.browse import (
    browse,
    keep_drawing_inputs,
    learned_heatmaps,
    mapping_picture,
    pick_samples,
)
from posemix.cli.browse import add_browse_parser
from posemix.data.sources import SourceView as Source
from posemix.data.sources import source_views as sources_of
from posemix.keypoints import KeypointMapping, MappingEntry
from posemix.visualization import BACKGROUND, PANEL_GAP, SIDE_COLORS, TITLE_HEIGHT

CROP_H, CROP_W = 256, 192  # the combine config's input size (w, h) = (192, 256)


def combine_config(request, fixtures_dir, extra=()):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # coco_aic.py's 18 joint weights
        return load_config(str(request.config.rootpath / COMBINE),
                           fixture_options(fixtures_dir) + list(extra))


def val_options(fixtures_dir) -> list[str]:
    """The config's val dataset (plain CocoDataset, no GenerateTarget) on the fixtures."""
    return [f"val_dataloader.dataset.data_root={fixtures_dir / 'coco'}",
            "val_dataloader.dataset.ann_file=test_coco.json",
            "val_dataloader.dataset.data_prefix.img=", "val_dataloader.dataset.bbox_file=None"]


def build(cfg, split="train"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_dataset(cfg, split)


@pytest.fixture(scope="module")
def browsed(request, fixtures_dir, tmp_path_factory) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("browse")
    cfg = combine_config(request, fixtures_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return out, browse(cfg, out, per_source=2, seed=0)


def read(path: Path) -> np.ndarray:
    img = cv2.imread(str(path))
    assert img is not None, path
    return img


def test_browse_writes_every_picture_for_both_sources(browsed):
    out, written = browsed
    names = ["sample_0.png", "sample_1.png", "contact_sheet.png", "mapping.png"]
    expected = {out / source / name for source in ("coco", "aic") for name in names}
    assert set(written) == expected
    assert {p for p in out.rglob("*") if p.is_file()} == expected  # no temporary files
    # round-robin: every source's first sample, then every source's second
    assert [p.relative_to(out).as_posix() for p in written[:4]] == [
        "coco/sample_0.png", "aic/sample_0.png", "coco/sample_1.png", "aic/sample_1.png"]
    for source in ("coco", "aic"):
        sample = read(out / source / "sample_0.png")  # the crop | the heatmaps, titled
        assert sample.shape == (TITLE_HEIGHT + CROP_H, 2 * CROP_W + PANEL_GAP, 3)
        sheet = read(out / source / "contact_sheet.png")
        assert sheet.shape == (sample.shape[0], 2 * sample.shape[1] + PANEL_GAP, 3)


def test_sample_shows_the_training_crop_with_its_pose_and_heatmaps(browsed, request,
                                                                   fixtures_dir):
    out, _ = browsed
    dataset = build(combine_config(request, fixtures_dir))
    keep_drawing_inputs(dataset)
    colors = dataset.schema.colors[:, ::-1]  # RGB metainfo colours, drawn BGR
    checked = 0
    for source, i, index in pick_samples(sources_of(dataset), 2, seed=0):
        packed = dataset[index]
        picture = read(out / source.name / f"sample_{i}.png")[TITLE_HEIGHT:]
        pose, heat = picture[:, :CROP_W], picture[:, CROP_W + PANEL_GAP:]
        crop = packed["inputs"].numpy().transpose(1, 2, 0)
        meta = packed["meta"]
        points = np.asarray(meta["transformed_keypoints"])
        shown = ((np.asarray(meta["keypoints_visible"]) > 0)
                 & (packed["targets"]["keypoints_defined"].numpy() > 0))
        # a labelled, visible keypoint well inside the crop and apart from the others
        for k in np.flatnonzero(shown & ~np.asarray(meta["keypoints_occluded"])):
            x, y = np.rint(points[k]).astype(int)
            others = np.delete(points[shown], np.flatnonzero(np.flatnonzero(shown) == k), 0)
            if 4 <= x < CROP_W - 4 and 4 <= y < CROP_H - 4 and \
                    np.hypot(*(others - points[k]).T).min() > 10:
                assert pose[y, x].tolist() == colors[k].tolist()
                checked += 1
        for k in np.flatnonzero(~shown):  # nothing drawn for unlabelled/undefined keypoints
            x, y = np.rint(points[k]).astype(int)
            far = np.hypot(*(points[shown] - points[k]).T).min() > 10 if shown.any() else True
            if 0 <= x < CROP_W and 0 <= y < CROP_H and far:
                assert pose[y, x].tolist() == crop[y, x].tolist()
        # the heatmap panel is the same crop, dimmed where no target is, hot at a keypoint
        yy, xx = np.mgrid[:CROP_H, :CROP_W]
        dist = np.min([np.hypot(xx - px, yy - py) for px, py in points[shown]], axis=0)
        cold = dist > 40
        np.testing.assert_allclose(heat[cold], crop[cold] * 0.55, atol=1.5)
        hot = heat[dist < 2]
        assert (hot[:, 2].astype(int) - hot[:, 0] > 60).any()  # red at a keypoint
    assert checked >= 8


def panel_halves(mapping_png: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two image panels of a mapping picture (below the titles, above the legend)."""
    body = mapping_png[TITLE_HEIGHT:]
    end = int(np.flatnonzero((body == BACKGROUND).all(axis=(1, 2)))[0])
    width = (mapping_png.shape[1] - PANEL_GAP) // 2
    return body[:end, :width], body[:end, width + PANEL_GAP:2 * width + PANEL_GAP]


def centroid(panel: np.ndarray, color: tuple[int, int, int]) -> np.ndarray:
    ys, xs = np.nonzero((panel == color).all(axis=2))
    assert len(xs) > 20, f"no {color} pixels"
    return np.array([xs.mean(), ys.mean()])


def test_mapping_panel_keeps_left_and_right_in_place(browsed):
    out, _ = browsed
    for source in ("coco", "aic"):
        original, converted = panel_halves(read(out / source / "mapping.png"))
        left, right = SIDE_COLORS["left"], SIDE_COLORS["right"]
        # the two sides are drawn in different places, in their own hues ...
        assert np.hypot(*(centroid(original, left) - centroid(original, right))) > 10
        # ... and a correct mapping leaves them where they were
        for color in (left, right):
            assert np.hypot(*(centroid(original, color) - centroid(converted, color))) < 3
    aic_original, aic_converted = panel_halves(read(out / "aic" / "mapping.png"))
    assert not np.array_equal(aic_original, aic_converted)  # names / links of the union


def test_a_left_right_swap_shows_as_a_change_of_hue(request, fixtures_dir):
    dataset = build(combine_config(request, fixtures_dir))
    aic = sources_of(dataset)[1]
    flip = aic.dataset.schema.flip_indices  # map every AIC keypoint to its mirror's target
    good = {e.sources[0]: e.target for e in aic.mapping.entries}
    swapped = KeypointMapping([MappingEntry((flip[s],), t) for s, t in good.items()], 14, 19)
    keypoints, visibility = swapped.apply(aic.dataset.table.keypoints,
                                          aic.dataset.table.visibility)
    table = dataclasses.replace(aic.table, keypoints=keypoints, visibility=visibility)
    wrong = dataclasses.replace(aic, mapping=swapped, table=table)
    original, converted = panel_halves(mapping_picture(wrong, dataset.schema))
    left, right = SIDE_COLORS["left"], SIDE_COLORS["right"]
    assert np.hypot(*(centroid(original, left) - centroid(converted, right))) < 3
    assert np.hypot(*(centroid(original, right) - centroid(converted, left))) < 3


def test_pick_samples_round_robin_and_seeded():
    a = Source("a", 0, None, None, None, range(0, 12))
    b = Source("b", 1, None, None, None, range(12, 15))
    picks = pick_samples([a, b], 4, seed=0)
    assert [(s.name, i) for s, i, _ in picks] == [
        ("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2), ("a", 3)]
    assert all(index in s.indices for s, _, index in picks)
    assert len({index for s, _, index in picks if s is b}) == 3
    assert pick_samples([a, b], 4, seed=0) == picks
    assert [x[2] for x in pick_samples([a, b], 4, seed=1)] != [x[2] for x in picks]


def test_learned_heatmaps_keep_what_the_loss_uses():
    maps = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(6, 2, 2)  # UDP: 3 maps each
    out = learned_heatmaps(maps, [0.0, 1.0])
    np.testing.assert_array_equal(out, np.stack([np.zeros((2, 2)), maps[3]]))
    plain = learned_heatmaps(maps[:2], [1.0, 0.0])
    np.testing.assert_array_equal(plain, np.stack([maps[0], np.zeros((2, 2))]))


def test_cli_browse_on_a_plain_dataset(request, fixtures_dir, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_browse_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["browse", str(request.config.rootpath / COMBINE), "--split", "val",
                              "-n", "1", "-o", str(tmp_path), "--cfg-options",
                              *val_options(fixtures_dir)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert args.func(args) == 0
    assert "wrote 3 pictures" in capsys.readouterr().out
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png"))
    assert files == ["coco/contact_sheet.png", "coco/mapping.png", "coco/sample_0.png"]
    # no GenerateTarget in the val pipeline: the crop alone
    assert read(tmp_path / "coco" / "sample_0.png").shape == (TITLE_HEIGHT + CROP_H, CROP_W, 3)
    body = read(tmp_path / "coco" / "mapping.png")[TITLE_HEIGHT:]
    panel = body[:np.flatnonzero((body == BACKGROUND).all(axis=(1, 2)))[0]]
    assert not (panel == BACKGROUND).all(axis=(0, 2)).any()  # one panel: no gap between two


def test_browse_rejects_a_bad_sample_count(request, fixtures_dir, tmp_path):
    from posemix.errors import PosemixError

    with pytest.raises(PosemixError, match="positive integer, got 0"):
        browse(combine_config(request, fixtures_dir, val_options(fixtures_dir)), tmp_path,
               per_source=0, split="val")
