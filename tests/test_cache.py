"""The annotation index at parse speed: the bulk reader pass gives the record-by-record
pass's table, skipping segmentations changes nothing, and the on-disk table cache hits,
misses, invalidates and refuses corrupt files as documented."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest

from posemix.data import cache as table_cache
from posemix.data.cache import cache_path, cached_table, file_fingerprint
from posemix.data.dataset_types import AicDataset, CocoDataset
from posemix.data.readers import coco as coco_reader
from posemix.data.readers import read_coco
from posemix.data.readers.common import load_json
from posemix.data.table import InstanceTable, StringColumn
from posemix.errors import AnnotationError


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("POSEMIX_CACHE_DIR", str(directory))
    return directory


def assert_same_table(a: InstanceTable, b: InstanceTable) -> None:
    for field in dataclasses.fields(InstanceTable):
        x, y = getattr(a, field.name), getattr(b, field.name)
        if isinstance(x, StringColumn):
            assert x.tolist() == y.tolist(), field.name
        elif isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            assert x is not None and y is not None, field.name
            assert x.dtype == y.dtype, field.name
            np.testing.assert_array_equal(x, y, err_msg=field.name)
    assert a.filter_report == b.filter_report


def irregular_coco(tmp_path: Path) -> Path:
    """A COCO file exercising every optional field: missing bbox / keypoints / area /
    num_keypoints / iscrowd / category_id, a crowd with RLE, polygons, float sizes."""
    images = [{"id": 7, "file_name": "a.jpg", "width": 640.0, "height": 480},
              {"id": 3, "file_name": "b.jpg", "width": 320, "height": 240, "crowdIndex": 0.25}]
    kp = [10, 20, 2, 30, 40, 1, 0, 0, 0]
    annotations = [
        {"id": 1, "image_id": 3, "bbox": [1, 2, 50, 60], "keypoints": kp, "area": 100.5,
         "num_keypoints": 2, "iscrowd": 0, "category_id": 1,
         "segmentation": [[1.5, 2.25, 3e2, 4, 5, -6.5e-1]]},
        {"id": 2, "image_id": 7, "bbox": [600, 400, 90, 90], "keypoints": kp},
        {"id": 3, "image_id": 7, "keypoints": kp},
        {"id": 4, "image_id": 3, "bbox": [0, 0, 5, 5]},
        {"id": 5, "image_id": 7, "bbox": [5, 5, 20, 20], "keypoints": kp, "iscrowd": 1,
         "segmentation": {"counts": "Q]j0;`0", "size": [480, 640]}},
        {"id": 6, "image_id": 3, "bbox": [5.5, 6.5, 20, 30], "keypoints": [1, 1, 2] * 3,
         "segmentation" : [ [ 1, 2 ,3, 4 ] ] , "category_id": 2},
    ]
    path = tmp_path / "irregular.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": [{"id": 1, "keypoints": ["a", "b", "c"]},
                                               {"id": 2}]},
                               indent=1))
    return path


def record_by_record(path: Path, monkeypatch: pytest.MonkeyPatch, **kwargs) -> InstanceTable:
    with monkeypatch.context() as m:
        m.setattr(coco_reader, "_images_in_bulk", lambda *a: None)
        m.setattr(coco_reader, "_annotations_in_bulk", lambda *a: None)
        return read_coco(path, **kwargs)


# -- the reader ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["coco/test_coco.json", "aic/test_aic.json",
                                  "crowdpose/test_crowdpose.json"])
def test_bulk_pass_equals_record_by_record_pass_on_fixtures(fixtures_dir, monkeypatch, name):
    path = fixtures_dir / name
    assert_same_table(read_coco(path), record_by_record(path, monkeypatch))


def test_bulk_pass_handles_optional_and_missing_fields(tmp_path, monkeypatch):
    path = irregular_coco(tmp_path)
    table = read_coco(path)
    assert_same_table(table, record_by_record(path, monkeypatch))
    # hand-checked: 1 missing bbox, 1 missing keypoints, the crowd dropped; 3 kept,
    # ordered by image (id 7's first, as the image list comes first)
    assert table.filter_report["missing_bbox"] == 1
    assert table.filter_report["missing_keypoints"] == 1
    assert table.filter_report["iscrowd"] == 1
    assert table.ann_id.tolist() == [2, 1, 6]
    assert table.category_id.tolist() == [1, 1, 2]
    np.testing.assert_allclose(table.area[1], 100.5)
    np.testing.assert_allclose(table.bbox[0], [600, 400, 639, 479])  # clipped to 640x480
    np.testing.assert_allclose(table.crowd_index, [np.nan, 0.25], equal_nan=True)


def test_segmentations_are_skipped_without_changing_anything(tmp_path):
    path = irregular_coco(tmp_path)
    parsed = load_json(path, skip_segmentation=True)
    assert [a.get("segmentation") for a in parsed["annotations"]] == [0, None, None, None, 0, 0]
    full = json.loads(path.read_text())
    for a in full["annotations"]:
        a.pop("segmentation", None)
    for a in parsed["annotations"]:
        a.pop("segmentation", None)
    assert parsed == full


def test_without_orjson_the_standard_library_gives_the_same_table(tmp_path, monkeypatch):
    path = irregular_coco(tmp_path)
    with_orjson = read_coco(path)
    monkeypatch.setattr("posemix.data.readers.common._fast_loads", lambda: None)
    assert_same_table(read_coco(path), with_orjson)


def test_irregular_records_still_get_their_named_errors(tmp_path):
    path = irregular_coco(tmp_path)
    data = json.loads(path.read_text())
    data["annotations"][3]["id"] = True  # a boolean id: the bulk pass hands over
    path.write_text(json.dumps(data))
    with pytest.raises(AnnotationError, match=r"annotations\[3\].*'id'.*expected an integer"):
        read_coco(path)


# -- the cache ----------------------------------------------------------------------------

class CountingBuild:
    def __init__(self, path: Path):
        self.path, self.calls = path, 0

    def __call__(self) -> InstanceTable:
        self.calls += 1
        return read_coco(self.path)


def test_hit_returns_the_same_table_without_building(tmp_path, cache_dir):
    path = irregular_coco(tmp_path)
    build = CountingBuild(path)
    cold = cached_table(path, build, {"k": 3})
    warm = cached_table(path, build, {"k": 3})
    assert build.calls == 1
    assert_same_table(warm, cold)
    assert warm.source_file == str(path)
    assert [p.name for p in cache_dir.iterdir()] == [cache_path(path, {"k": 3}).name]
    cached_table(path, build, {"k": 4})  # other reader options: another slot
    assert build.calls == 2 and len(list(cache_dir.iterdir())) == 2


def test_a_changed_file_is_rebuilt_and_its_old_cache_removed(tmp_path, cache_dir):
    path = irregular_coco(tmp_path)
    build = CountingBuild(path)
    first = cached_table(path, build, {})
    data = json.loads(path.read_text())
    data["annotations"][0]["keypoints"][0] = 11  # same length: same size as before
    stat = path.stat()
    path.write_text(json.dumps(data, indent=1))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime too
    assert path.stat().st_size == stat.st_size
    second = cached_table(path, build, {})
    assert build.calls == 2
    assert first.keypoints[1, 0, 0] == 10 and second.keypoints[1, 0, 0] == 11
    assert len(list(cache_dir.iterdir())) == 1


def test_head_and_tail_hash_of_a_large_file(tmp_path):
    path = tmp_path / "big.bin"
    data = bytearray(os.urandom(3 * table_cache.EDGE_BYTES))
    path.write_bytes(data)
    before = file_fingerprint(path)
    data[len(data) // 2] ^= 1  # the middle is not hashed ...
    path.write_bytes(data)
    os.utime(path, ns=(0, os.stat(path).st_mtime_ns))
    middle = file_fingerprint(path)
    data[-1] ^= 1  # ... the tail is
    path.write_bytes(data)
    tail = file_fingerprint(path)
    assert before["hash"] == middle["hash"] != tail["hash"]
    assert file_fingerprint(path, full_hash=True)["hash"].startswith("full:")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "foreign"])
def test_a_corrupt_cache_is_rebuilt_with_a_warning(tmp_path, damage):
    path = irregular_coco(tmp_path)
    build = CountingBuild(path)
    good = cached_table(path, build, {})
    target = cache_path(path, {})
    if damage == "truncate":
        target.write_bytes(target.read_bytes()[:-100])
    elif damage == "garbage":
        target.write_bytes(b"\x00" * 500)
    else:
        with open(target, "wb") as f:
            np.savez(f, meta=np.array("{}"), x=np.zeros(3))
    with pytest.warns(UserWarning, match="ignoring unreadable cache file") as caught:
        again = cached_table(path, build, {})
    message = str(caught[0].message)
    assert str(target) in message and "(damaged, " in message and "pickle" not in message
    assert build.calls == 2
    assert_same_table(again, good)
    assert_same_table(InstanceTable.load(target), good)  # the cache was written anew


def test_an_unwritable_cache_directory_only_warns(tmp_path, monkeypatch):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("")
    monkeypatch.setenv("POSEMIX_CACHE_DIR", str(blocker / "cache"))
    path = irregular_coco(tmp_path)
    with pytest.warns(UserWarning, match="cannot write"):
        table = cached_table(path, CountingBuild(path), {})
    assert len(table) == 3


def test_datasets_cache_by_default(fixtures_dir, monkeypatch, cache_dir):
    ann = str(fixtures_dir / "coco" / "test_coco.json")
    first = CocoDataset(ann_file=ann)
    assert len(list(cache_dir.iterdir())) == 1

    def no_parsing(*args, **kwargs):
        raise AssertionError("parsed although cached")

    monkeypatch.setattr("posemix.data.datasets.read_coco", no_parsing)
    assert_same_table(CocoDataset(ann_file=ann).table, first.table)
    with pytest.raises(AssertionError, match="parsed although cached"):
        CocoDataset(ann_file=ann, cache=False)


def test_cached_native_aic_still_warns_about_missing_sizes(fixtures_dir, cache_dir):
    ann = str(fixtures_dir / "aic_native" / "keypoint_sample_annotations.json")
    for _ in range(2):  # parsed, then cached
        with pytest.warns(UserWarning, match="boxes are not clipped"):
            AicDataset(ann_file=ann, data_prefix=dict(img="no/such/dir"))
    assert len(list(cache_dir.iterdir())) == 1
