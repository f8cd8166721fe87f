"""Hostile annotation files: hypothesis mutates the real fixture files (deleted keys, wrong
types, huge numbers, NaN and infinities, negative sizes, wrong keypoint counts, duplicate
records, truncated JSON, non-UTF-8 bytes) and every reader must give either a sound table or
posemix's own error naming the file: never another exception, never a hang (a hypothesis
deadline), never a table with non-finite labelled keypoints or a box of negative size."""

from __future__ import annotations

import copy
import functools
import itertools
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posemix.data.readers import read_aic, read_aic_native, read_coco, read_detections, read_mpii
from posemix.data.table import InstanceTable
from posemix.errors import PosemixError

EXAMPLES = 600  # per reader and fixture: about 2 s each on one core

HOSTILE = [None, True, "x", "", 0, -1, -1e9, 1e308, 2**64, -(2**70), float("nan"),
           float("inf"), float("-inf"), [], {}, [1, 2], [[None]], {"a": 1}, "\u00e9\u0000"]


def walk(node: Any, path: tuple = ()) -> list[tuple]:
    """The path (keys and indices) of every value inside ``node``."""
    found = [path]
    items = (node.items() if isinstance(node, dict)
             else enumerate(node) if isinstance(node, list) else ())
    for key, child in items:
        found += walk(child, (*path, key))
    return found


# A mutation: where (depth, then which node at that depth), what, and with which value.
MUTATION = st.tuples(st.integers(0, 10**6), st.integers(0, 10**6),
                     st.sampled_from(["delete", "replace", "duplicate", "shorten", "extend"]),
                     st.sampled_from(HOSTILE))
# Damage to the bytes: none, cut short at a fraction, or invalid UTF-8 spliced in.
BYTES = st.one_of(st.just(("keep", 0.0)),
                  st.tuples(st.sampled_from(["truncate", "latin1"]), st.floats(0, 1)))


def mutate(data: Any, by_depth: dict[int, list[tuple]], mutation: tuple) -> None:
    """Apply one mutation in place (a path that an earlier mutation removed is skipped)."""
    depth_pick, node_pick, op, value = mutation
    depths = sorted(by_depth)
    paths = by_depth[depths[depth_pick % len(depths)]]
    path = paths[node_pick % len(paths)]
    parent = data
    try:
        for key in path[:-1]:
            parent = parent[key]
        target = parent[path[-1]] if path else data
    except (KeyError, IndexError, TypeError):
        return
    if op in ("duplicate", "shorten", "extend") and isinstance(target, list):
        if op == "duplicate" and target:
            target.append(copy.deepcopy(target[node_pick % len(target)]))
        elif op == "shorten" and target:
            target.pop()
        elif op == "extend":
            target.append(copy.deepcopy(target[-1] if target else value))
    elif op == "delete" and path:
        del parent[path[-1]]
    elif path:
        parent[path[-1]] = copy.deepcopy(value)


def damage(text: bytes, how: tuple[str, float]) -> bytes:
    kind, where = how
    cut = int(len(text) * where)
    if kind == "truncate":
        return text[:cut]
    if kind == "latin1":
        return text[:cut] + "\u00e9\u00ff".encode("latin-1") + text[cut:]
    return text


def assert_sound(table: InstanceTable) -> None:
    """What a table must never contain, whatever the file said."""
    assert isinstance(table, InstanceTable)
    assert np.isfinite(table.bbox).all()
    assert (table.bbox[:, 2] >= table.bbox[:, 0]).all()
    assert (table.bbox[:, 3] >= table.bbox[:, 1]).all()
    assert np.isfinite(table.bbox_score).all()
    labelled = table.visibility > 0
    assert np.isfinite(table.keypoints[labelled]).all()
    assert np.isfinite(table.area).all() and (table.area >= 0).all()
    assert (table.width >= 0).all() and (table.height >= 0).all()
    if table.bbox_scale is not None:
        assert np.isfinite(table.bbox_scale).all() and (table.bbox_scale >= 0).all()
        assert np.isfinite(table.bbox_center).all()


def fuzz(source: Path, read: Callable[[Path], Any], tmp: Path,
         check: Callable[[Any], None] = assert_sound, examples: int = EXAMPLES,
         encode: Callable[[Any], bytes] = lambda data: json.dumps(data).encode(),
         original: Any = None) -> Counter:
    """Run the mutations on ``source`` (or on ``original``, written like ``source``'s name)
    through ``read``, and ``check`` what it returns; returns the outcome counts. Every
    PosemixError must name the mutated file."""
    if original is None:
        original = json.loads(source.read_bytes())
    by_depth: dict[int, list[tuple]] = {}
    for path in walk(original):
        by_depth.setdefault(len(path), []).append(path)
    outcomes: Counter = Counter()
    names = itertools.count()

    @settings(max_examples=examples, deadline=2000, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(MUTATION, min_size=1, max_size=3), BYTES)
    def trial(mutations: list[tuple], how: tuple[str, float]) -> None:
        data = copy.deepcopy(original)
        for mutation in mutations:
            mutate(data, by_depth, mutation)
        target = tmp / f"mutant_{next(names)}_{source.name}"
        target.write_bytes(damage(encode(data), how))
        try:
            result = read(target)
        except PosemixError as exc:
            assert target.name in str(exc), exc
            outcomes["error"] += 1
            return
        check(result)
        outcomes["table"] += 1

    trial()
    print(f"{source.name}: {sum(outcomes.values())} mutations, {dict(outcomes)}")
    return outcomes


READERS = {  # name: (fixture file, reader)
    "read_coco/coco": ("coco/test_coco.json", read_coco),
    "read_coco/crowdpose": ("crowdpose/test_crowdpose.json", read_coco),
    "read_aic": ("aic/test_aic.json", read_aic),
    "read_aic_native": ("aic_native/keypoint_sample_annotations.json", read_aic_native),
    "read_mpii": ("mpii/test_mpii.json", read_mpii),
    "read_detections": ("coco/test_coco_det_AP_H_56.json", read_detections),
}


@pytest.mark.parametrize("name", sorted(READERS))
def test_reader_survives_mutated_files(name, fixtures_dir, tmp_path):
    relative, reader = READERS[name]
    source = fixtures_dir / relative
    read = reader
    if reader is read_detections:  # detections refer to the images of a ground-truth file
        images = read_coco(fixtures_dir / "coco" / "test_coco.json")
        read = functools.partial(read_detections, images=images)
    assert_sound(read(source))  # the unmutated fixture reads
    outcomes = fuzz(source, read, tmp_path)
    assert sum(outcomes.values()) == EXAMPLES
    assert outcomes["error"] > 0  # the mutations do reach the readers' checks
