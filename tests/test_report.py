"""The HTML mapping report: its sections, its picture, and a schema it cannot draw."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_checks import AIC_PAIRS, AIC_SOURCE, COCO_SOURCE, combined, write_sources

from posemix.checks import check_dataset
from posemix.data.combined import CombinedDataset
from posemix.keypoints import KeypointSchema, schema_to_metainfo
from posemix.report import CANVAS, FLAG, write_report

SECTIONS = ["findings", "mapping", "coverage", "skeletons", "comparisons", "schema"]


@pytest.fixture(scope="module")
def source_files(tmp_path_factory, fixtures_dir) -> dict[str, Path]:
    return write_sources(tmp_path_factory.mktemp("sources"), fixtures_dir)


def _flag_pixels(png: np.ndarray) -> int:
    return int(np.all(png == np.array(FLAG, np.uint8), axis=-1).sum())


def test_report_of_a_swapped_source(source_files, tmp_path):
    dataset = combined(source_files, COCO_SOURCE, ("aic_swapped", "AicDataset", AIC_PAIRS))
    results = check_dataset(dataset)
    index = write_report(dataset, tmp_path / "report", results)
    assert index == tmp_path / "report" / "index.html"
    page = index.read_text()
    for section in SECTIONS:
        assert f'<h2 id="{section}">' in page
    assert "1 error(s)</span>, <span class=\"warning\">0 warning(s)" in page
    assert "left-right-swap" in page and "What to do:" in page
    for name in ("coco", "aic", "head_top", "neck", "left_wrist"):
        assert f">{name}<" in page
    # the matrix marks AIC's wrists as flagged by the data, and COCO's head_top as undefined
    assert page.count('class="mapped flagged"') == 2
    assert re.search(r"<b>head_top</b></td><td class=\"undefined\">", page)
    # the picture is embedded and written beside the page; the swap is drawn in red
    assert "data:image/png;base64," in page
    png = cv2.imread(str(tmp_path / "report" / "mean_skeleton.png"))
    assert png.shape[1] == CANVAS[0] and png.shape[0] > CANVAS[1]
    assert _flag_pixels(png) > 100


def test_report_runs_the_checks_itself(source_files, tmp_path):
    dataset = combined(source_files, COCO_SOURCE, AIC_SOURCE)
    page = write_report(dataset, tmp_path).read_text()
    assert "No findings" in page and "0 error(s)" in page
    assert _flag_pixels(cv2.imread(str(tmp_path / "mean_skeleton.png"))) == 0
    assert page.count(">ok<") == 12  # the 12 keypoints COCO and AIC share


def test_report_without_a_body_frame(tmp_path):
    schema = KeypointSchema(name="lab<1>", keypoints=("tip", "base"), types=("", ""),
                            swaps=("", ""), links=(("tip", "base"),), joint_weights=[1, 1],
                            sigmas=[0.05, 0.05])
    ann = tmp_path / "lab.json"
    ann.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 100}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 50, 50],
                         "keypoints": [20, 20, 2, 40, 40, 2], "num_keypoints": 2,
                         "area": 2500, "iscrowd": 0}],
        "categories": [{"id": 1, "name": "tool", "keypoints": ["tip", "base"]}]}))
    metainfo = schema_to_metainfo(schema)
    dataset = CombinedDataset(metainfo=metainfo, datasets=[dict(
        type="CocoDataset", ann_file=str(ann), metainfo=metainfo)])
    page = write_report(dataset, tmp_path / "out").read_text()
    assert "lab&lt;1&gt;" in page and "lab<1>" not in page
    assert "lacks left/right shoulders and hips" in page
    assert not (tmp_path / "out" / "mean_skeleton.png").exists()
    assert "100.0%" in page  # both keypoints labelled in the one instance
