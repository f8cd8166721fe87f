"""Drawing: poses land in the schema's colours at the keypoints; panels and grids have
the sizes their layout promises; PNGs are written atomically."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from posemix.errors import ImageError, PosemixError
from posemix.keypoints import KeypointSchema, load_schema
from posemix.panels import contact_sheet, hstack_panels, vstack_panels
from posemix.visualization import (
    BACKGROUND,
    PANEL_GAP,
    SIDE_COLORS,
    TITLE_HEIGHT,
    draw_label,
    draw_pose,
    heatmap_overlay,
    legend_strip,
    side_colors,
    text_block,
    write_png,
)

# RGB as in MMPose metainfo; drawn as BGR.
RED, GREEN, BLUE, YELLOW = [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]


@pytest.fixture(scope="module")
def tiny() -> KeypointSchema:
    return KeypointSchema(
        name="tiny", keypoints=("nose", "left_hand", "right_hand", "tail"),
        types=("upper", "upper", "upper", ""), swaps=("", "right_hand", "left_hand", ""),
        links=(("nose", "left_hand"), ("nose", "right_hand"), ("nose", "tail")),
        joint_weights=[1.0] * 4, sigmas=[0.1] * 4, colors=[RED, GREEN, BLUE, YELLOW],
        link_colors=[[10, 20, 30], [40, 50, 60], [70, 80, 90]])


POINTS = np.array([[50, 50], [150, 50], [100, 150], [20, 170]], float)


def bgr(rgb: list[int]) -> list[int]:
    return rgb[::-1]


def test_draw_pose_puts_schema_colours_at_the_keypoints(tiny):
    black = np.zeros((192, 192, 3), np.uint8)
    out = draw_pose(black, POINTS, tiny, labelled=[1, 1, 1, 1], occluded=[0, 0, 1, 0],
                    defined=[1, 1, 1, 0])
    assert not black.any()  # the input is left alone
    assert out[50, 50].tolist() == bgr(RED)  # filled dots in the keypoint's colour
    assert out[50, 150].tolist() == bgr(GREEN)
    assert out[50, 100].tolist() == bgr([10, 20, 30])  # a solid link between two dots
    # labelled but occluded: a hollow ring in its colour, the centre left dark
    ring = out[144:157, 94:107]
    assert (ring == bgr(BLUE)).all(axis=2).sum() > 10
    assert out[150, 100].max() < 64
    # the link to it is dashed: its colour appears, but not along the whole segment
    segment = [out[int(round(50 + t * 100)), int(round(50 + t * 50))] for t in
               np.linspace(0.15, 0.85, 40)]
    on = [(p == bgr([40, 50, 60])).all() for p in segment]
    assert any(on) and not all(on)
    # an undefined keypoint is absent, and so are its links
    assert not out[155:186, 5:36].any()
    assert not out[110, 35:45].any()


def test_draw_pose_skips_unlabelled_and_non_finite_points(tiny):
    black = np.zeros((192, 192, 3), np.uint8)
    points = POINTS.copy()
    points[1] = np.nan
    out = draw_pose(black, points, tiny, labelled=[1, 1, 0, 1])
    assert out[50, 50].tolist() == bgr(RED) and out[170, 20].tolist() == bgr(YELLOW)
    assert not out[40:61, 140:161].any() and not out[140:161, 90:111].any()
    assert not out[50, 80:120].any()  # no link to the NaN point


def test_draw_pose_names_and_custom_colours(tiny):
    black = np.zeros((192, 192, 3), np.uint8)
    colors = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]], np.uint8)
    plain = draw_pose(black, POINTS, tiny, [1, 1, 1, 1], colors=colors)
    named = draw_pose(black, POINTS, tiny, [1, 1, 1, 1], names=True)
    assert plain[50, 50].tolist() == [1, 2, 3]
    away = np.ones((192, 192), bool)
    for x, y in POINTS:
        away[int(y) - 6:int(y) + 7, int(x) - 6:int(x) + 7] = False
    written = (named != draw_pose(black, POINTS, tiny, [1, 1, 1, 1])).any(axis=2)
    assert written[away].sum() > 50  # text beside the points, in their colours
    text = named[written & away].astype(int)
    assert ((text[:, 1] > 120) & (text[:, 0] < 40) & (text[:, 2] < 40)).any()  # green text


def test_draw_pose_rejects_a_layout_mismatch(tiny):
    with pytest.raises(PosemixError, match=r"schema 'tiny' with 4 keypoints"):
        draw_pose(np.zeros((10, 10, 3), np.uint8), np.zeros((17, 2)), tiny, np.ones(17))
    with pytest.raises(PosemixError, match=r"'occluded' has 3 values for 4"):
        draw_pose(np.zeros((10, 10, 3), np.uint8), POINTS, tiny, np.ones(4), np.ones(3))


def test_side_colours_follow_the_names():
    coco = load_schema("coco")
    points, links = side_colors(coco)
    assert points[coco.index("left_shoulder")].tolist() == list(SIDE_COLORS["left"])
    assert points[coco.index("right_knee")].tolist() == list(SIDE_COLORS["right"])
    assert points[coco.index("nose")].tolist() == list(SIDE_COLORS[""])
    pairs = coco.skeleton
    shoulders = pairs.index((coco.index("left_shoulder"), coco.index("right_shoulder")))
    left_arm = pairs.index((coco.index("left_shoulder"), coco.index("left_elbow")))
    assert links[shoulders].tolist() == list(SIDE_COLORS[""])
    assert links[left_arm].tolist() == list(SIDE_COLORS["left"])


def test_hstack_panels_same_height_with_titles():
    a = np.full((256, 192, 3), 200, np.uint8)
    b = np.full((128, 96, 3), 100, np.uint8)
    out = hstack_panels([a, b], ["left", "right"])
    assert out.shape == (TITLE_HEIGHT + 256, 192 + PANEL_GAP + 192, 3)
    assert (out[TITLE_HEIGHT:, :192] == 200).all()
    assert (out[TITLE_HEIGHT:, 192 + PANEL_GAP:] == 100).all()  # scaled up to 256 rows
    assert (out[TITLE_HEIGHT:, 192:192 + PANEL_GAP] == BACKGROUND).all()
    assert (out[:TITLE_HEIGHT] != BACKGROUND).any(axis=2).any()  # the titles' text
    assert hstack_panels([a]).shape == (256, 192, 3)
    with pytest.raises(PosemixError, match="1 titles for 2 images"):
        hstack_panels([a, b], ["one"])


def test_vstack_and_contact_sheet_layout():
    images = [np.full((10, 20, 3), 10 * (n + 1), np.uint8) for n in range(5)]
    sheet = contact_sheet(images, columns=2)
    assert sheet.shape == (3 * 10 + 2 * PANEL_GAP, 2 * 20 + PANEL_GAP, 3)
    assert (sheet[:10, :20] == 10).all()
    assert (sheet[10 + PANEL_GAP:20 + PANEL_GAP, 20 + PANEL_GAP:] == 40).all()  # 4th: row 2
    assert (sheet[-10:, 20 + PANEL_GAP:] == BACKGROUND).all()  # the empty sixth cell
    titled = contact_sheet(images[:2], columns=4, titles=["a", "b"])
    assert titled.shape == (TITLE_HEIGHT + 10, 2 * 20 + PANEL_GAP, 3)
    stacked = vstack_panels([images[0], np.zeros((5, 30, 3), np.uint8)])
    assert stacked.shape == (10 + PANEL_GAP + 5, 30, 3)
    assert (stacked[:10, 20:] == BACKGROUND).all()


def test_heatmap_overlay_is_hot_at_the_peaks_and_dim_elsewhere():
    img = np.full((64, 48, 3), 200, np.uint8)
    heatmaps = np.zeros((2, 16, 12), np.float32)
    heatmaps[0, 4, 3] = 1.0
    heatmaps[1, 10, 8] = 0.6
    heatmaps[1, 4, 3] = 0.6
    heatmaps[0, 10, 8] = 0.3
    out = heatmap_overlay(img, heatmaps)
    peak = out[4 * 4 + 1, 3 * 4 + 1]
    assert peak[2] > 100 and peak[0] < 60  # red (JET's top) over the grey
    assert out[63, 0].tolist() == [110, 110, 110]  # no heat: the image dimmed to 55 %
    summed = heatmap_overlay(img, heatmaps, reduce="sum")
    assert (summed[4 * 4 + 1, 3 * 4 + 1] == peak).all()  # 1.6 clipped to 1
    assert summed[41, 33, 2] > out[41, 33, 2]  # 0.9 is hotter than max(0.3, 0.6)
    with pytest.raises(PosemixError, match="reduce must be"):
        heatmap_overlay(img, heatmaps, reduce="mean")


def test_label_legend_and_text_block_draw_where_asked():
    img = np.full((100, 200, 3), 255, np.uint8)
    out = draw_label(img, "coco")
    assert out[1, 1].tolist() == list(BACKGROUND) and out[99, 199].tolist() == [255] * 3
    bottom = draw_label(img, "coco", bottom=True)
    assert bottom[98, 1].tolist() == list(BACKGROUND) and bottom[1, 1].tolist() == [255] * 3
    legend = legend_strip([("left", SIDE_COLORS["left"], False)], 300)
    assert legend.shape[1] == 300 and (legend == SIDE_COLORS["left"]).all(axis=2).any()
    block = text_block([[("a", (0, 0, 255)), ("b", (255, 0, 0))]] * 4, 300, columns=2)
    assert block.shape[1] == 300
    assert (block == (0, 0, 255)).all(axis=2).any() and (block == (255, 0, 0)).all(axis=2).any()


def test_write_png_atomic_and_creates_folders(tmp_path):
    img = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    path = write_png(tmp_path / "a" / "b" / "x.png", img)
    assert path == tmp_path / "a" / "b" / "x.png"
    np.testing.assert_array_equal(cv2.imread(str(path)), img)
    write_png(path, img[::-1])  # replaces the old picture
    np.testing.assert_array_equal(cv2.imread(str(path)), img[::-1])
    assert [p.name for p in path.parent.iterdir()] == ["x.png"]  # no temporary files left
    with pytest.raises(ImageError, match="cannot encode"):
        write_png(tmp_path / "bad.png", np.zeros((0, 0, 3), np.uint8))
    (tmp_path / "file").write_text("")
    with pytest.raises(ImageError, match="cannot write"):
        write_png(tmp_path / "file" / "x.png", img)
