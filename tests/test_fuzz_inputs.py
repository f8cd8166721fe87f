"""Hostile files for the other readers of outside data, with test_fuzz_readers' mutations:
the evaluator's ground-truth JSON (read and scored), ``infer --bboxes`` files, cached
annotation tables and JSON/YAML config files. Each gives a sound result or a posemix
error naming the file; nothing else may come out."""

from __future__ import annotations

import copy
import io
import json
import warnings

import numpy as np
import pytest
import yaml
from test_evaluation import AIC_META, COCO_META, gt_predictions, make_metric
from test_fuzz_readers import assert_sound, fuzz

from posemix.config import Config, packaged_configs_dir
from posemix.data.cache import cached_table
from posemix.data.readers import read_coco
from posemix.data.table import InstanceTable
from posemix.inference import read_boxes

EXAMPLES = 150  # per reader: these readers are few lines each; about 1-3 s


@pytest.mark.parametrize("source, meta, use_area", [("coco", COCO_META, True),
                                                     ("aic", AIC_META, False)])
def test_ground_truth_json_read_and_scored(source, meta, use_area, fixtures_dir, tmp_path):
    """The GT file of CocoMetric, scored against predictions of the unmutated GT: the
    metrics come out in [0, 1] (or -1 where COCO leaves them undefined)."""
    gt = fixtures_dir / source / f"test_{source}.json"
    predictions = gt_predictions(gt)

    def score(path):
        metric = make_metric(meta, ann_file=path, use_area=use_area)
        metric.process(copy.deepcopy(predictions))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return metric.evaluate()

    def check(result):
        values = np.array(list(result.values()))
        assert len(values) == 10 and np.isfinite(values).all(), result
        assert ((values >= 0) & (values <= 1) | (values == -1)).all(), result

    assert score(gt)["coco/AP"] == pytest.approx(1.0)
    outcomes = fuzz(gt, score, tmp_path, check=check, examples=EXAMPLES)
    assert outcomes["error"] > 0


def test_infer_bboxes_file(fixtures_dir, tmp_path):
    coco = json.loads((fixtures_dir / "coco" / "test_coco.json").read_text())
    names = {image["id"]: image["file_name"] for image in coco["images"]}
    original = [{"image": names[a["image_id"]], "bbox": a["bbox"], "score": 0.9}
                for a in coco["annotations"]]
    source = tmp_path / "boxes.json"
    source.write_text(json.dumps(original))

    def check(boxes):
        assert isinstance(boxes, dict)
        for name, found in boxes.items():
            assert isinstance(name, str)
            for (x, y, w, h), score in found:
                assert np.isfinite([x, y, w, h, score]).all() and w > 0 and h > 0

    assert sum(len(v) for v in read_boxes(source).values()) == len(original)
    outcomes = fuzz(source, read_boxes, tmp_path, check=check, examples=EXAMPLES)
    assert outcomes["error"] > 0


def table_as_data(table: InstanceTable) -> dict:
    """The arrays of a saved table as JSON-like data (meta parsed), for mutation."""
    arrays = table._arrays()
    data = {name: value.tolist() for name, value in arrays.items() if name != "meta"}
    data["meta"] = json.loads(str(arrays["meta"]))
    return data


def data_as_npz(data: dict, dtypes: dict) -> bytes:
    """Mutated data back to an npz file: each array in its column's dtype where the values
    allow it, else whatever numpy makes of them (object arrays included)."""
    arrays = {}
    for name, value in data.items():
        if name == "meta":
            arrays[name] = np.array(json.dumps(value))
            continue
        try:
            with np.errstate(over="ignore"):  # 1e308 as float32: inf, which is the point
                arrays[name] = np.asarray(value, dtype=dtypes.get(name))
        except (TypeError, ValueError, OverflowError):
            try:
                arrays[name] = np.asarray(value)
            except ValueError:  # ragged
                arrays[name] = np.array(value, dtype=object)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_table_cache_files(fixtures_dir, tmp_path):
    table = read_coco(fixtures_dir / "coco" / "test_coco.json")
    dtypes = {name: value.dtype for name, value in table._arrays().items()}
    source = tmp_path / "table.npz"
    table.save(source)
    assert_sound(InstanceTable.load(source))
    outcomes = fuzz(source, InstanceTable.load, tmp_path, examples=EXAMPLES,
                    original=table_as_data(table), encode=lambda d: data_as_npz(d, dtypes))
    assert outcomes["error"] > 0


def test_a_hostile_cache_file_is_rebuilt_from_the_annotations(fixtures_dir, tmp_path,
                                                              monkeypatch):
    """What the cache loader refuses, the cache replaces: the table read from the file."""
    monkeypatch.setenv("POSEMIX_CACHE_DIR", str(tmp_path / "cache"))
    ann = fixtures_dir / "coco" / "test_coco.json"
    table = cached_table(ann, lambda: read_coco(ann), {"reader": "coco"})
    (cached,) = (tmp_path / "cache").iterdir()
    data = table_as_data(table)
    data["bbox"][0][2] = float("nan")
    cached.write_bytes(data_as_npz(data, {"bbox": np.float32}))
    with pytest.warns(UserWarning, match="ignoring unreadable cache file"):
        again = cached_table(ann, lambda: read_coco(ann), {"reader": "coco"})
    np.testing.assert_array_equal(again.bbox, table.bbox)


@pytest.fixture(scope="module")
def config_data() -> dict:
    """The demo config, merged, with a _base_ that resolves to the packaged configs."""
    data = Config.fromfile(packaged_configs_dir() / "demo" / "combine.py").to_dict()
    return {"_base_": "../_base_/default_runtime.py", **data}


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_config_files(suffix, config_data, tmp_path):
    source = tmp_path / f"config{suffix}"
    encode = ((lambda d: json.dumps(d).encode()) if suffix == ".json"
              else (lambda d: yaml.safe_dump(d).encode()))
    source.write_bytes(encode(config_data))

    def check(cfg):
        assert isinstance(cfg, Config) and isinstance(cfg.pretty_text, str)

    check(Config.fromfile(source))
    outcomes = fuzz(source, Config.fromfile, tmp_path, check=check, examples=EXAMPLES,
                    original=config_data, encode=encode)
    assert outcomes["error"] > 0
