"""Keypoint schemas, metainfo files, the name vocabulary and mappings."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from posemix.errors import MappingError, MetainfoError
from posemix.keypoints import (
    KeypointConverter,
    KeypointSchema,
    builtin_schema_names,
    canonical,
    load_schema,
    mapping_by_name,
    normalize,
    read_metainfo_file,
    schema_from_metainfo,
    schema_loader,
    write_metainfo_file,
)

# The seed configs' hand-written pairs (reference 6.2 and 10.1).
AIC_TO_COCO = [(0, 6), (1, 8), (2, 10), (3, 5), (4, 7), (5, 9), (6, 12), (7, 14), (8, 16),
               (9, 11), (10, 13), (11, 15)]
CROWDPOSE_TO_COCO = [(i, i + 5) for i in range(12)]
MPII_TO_COCO = [(0, 16), (1, 14), (2, 12), (3, 11), (4, 13), (5, 15), (10, 10), (11, 8),
                (12, 6), (13, 5), (14, 7), (15, 9)]
JHMDB_TO_COCO = [(3, 6), (4, 5), (5, 12), (6, 11), (7, 8), (8, 7), (9, 14), (10, 13), (11, 10),
                 (12, 9), (13, 16), (14, 15)]
POSETRACK_TO_COCO = [(0, 0), (3, 3), (4, 4)] + [(i, i) for i in range(5, 17)]


def four_point_schemas() -> tuple[KeypointSchema, KeypointSchema]:
    """The layouts of the reference's worked example 2.5."""
    src = KeypointSchema(
        name="src", keypoints=("left_shoulder", "right_shoulder", "left_hip", "right_hip"),
        types=("upper", "upper", "lower", "lower"),
        swaps=("right_shoulder", "left_shoulder", "right_hip", "left_hip"),
        links=(), joint_weights=[1] * 4, sigmas=[0.1] * 4)
    tgt = KeypointSchema(
        name="tgt", keypoints=("neck", "left_shoulder", "right_shoulder", "pelvis"),
        types=("upper", "upper", "upper", "lower"),
        swaps=("", "right_shoulder", "left_shoulder", ""),
        links=(("neck", "pelvis"),), joint_weights=[1] * 4, sigmas=[0.1] * 4)
    return src, tgt


# -- built-in schemas (reference 4.3, 4.4) ------------------------------------------------
def test_builtin_schemas_are_all_there():
    assert set(builtin_schema_names()) >= {
        "coco", "aic", "coco_aic", "mpii", "crowdpose", "halpe26", "halpe", "posetrack18",
        "jhmdb", "ochuman"}


def test_coco_aic_derived_fields_and_joint_weight_warning():
    # parsed schemas are cached; the warning comes on parsing
    schema_loader._load_file.cache_clear()
    with pytest.warns(UserWarning, match=r"18 joint_weights for 19 keypoints.*neck"):
        schema = load_schema(dict(from_file="configs/_base_/datasets/coco_aic.py"))
    assert schema.name == "coco"
    assert schema.num_keypoints == 19
    assert schema.flip_indices == [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15,
                                   17, 18]
    assert schema.upper_body_ids == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 17, 18]
    assert schema.lower_body_ids == [11, 12, 13, 14, 15, 16]
    assert len(schema.skeleton) == 20 and schema.skeleton[-1] == (17, 18)
    np.testing.assert_allclose(schema.sigmas[17:], [0.026, 0.026], rtol=1e-6)
    assert schema.joint_weights[17] == pytest.approx(1.5)
    assert schema.joint_weights[18] == pytest.approx(1.0)  # the missing one, padded


@pytest.mark.parametrize("name, k, flip", [
    ("coco", 17, [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]),
    ("aic", 14, [3, 4, 5, 0, 1, 2, 9, 10, 11, 6, 7, 8, 12, 13]),
    ("mpii", 16, [5, 4, 3, 2, 1, 0, 6, 7, 8, 9, 15, 14, 13, 12, 11, 10]),
    ("crowdpose", 14, [1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 12, 13]),
    ("halpe26", 26, [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15, 17, 18, 19,
                     21, 20, 23, 22, 25, 24]),
])
def test_builtin_flip_indices(name, k, flip):
    schema = load_schema(name)
    assert schema.num_keypoints == k
    assert schema.flip_indices == flip


def test_halpe_136_flip_indices_of_hands():
    schema = load_schema("halpe")
    assert schema.num_keypoints == 136
    assert schema.flip_indices[94:115] == list(range(115, 136))
    assert schema.flip_indices[115:136] == list(range(94, 115))


def test_mmpose_path_resolves_to_packaged_copy_and_real_paths_win(tmp_path):
    packaged = load_schema(dict(from_file="configs/_base_/datasets/aic.py"))
    assert packaged.name == "aic" and packaged.keypoints[12:] == ("head_top", "neck")
    local = tmp_path / "aic.py"
    write_metainfo_file(load_schema("coco"), local)  # a local file of the same name wins
    assert load_schema(dict(from_file=str(local))).name == "coco"


# -- metainfo files: round trip, validation, no execution --------------------------------
def test_write_then_read_round_trip(tmp_path):
    schema = load_schema("crowdpose")
    path = tmp_path / "out" / "crowdpose_copy.py"
    write_metainfo_file(schema, path)
    again = load_schema(str(path))
    assert again.keypoints == schema.keypoints
    assert again.flip_indices == schema.flip_indices
    assert again.skeleton == schema.skeleton
    np.testing.assert_array_equal(again.sigmas, schema.sigmas)
    np.testing.assert_array_equal(again.joint_weights, schema.joint_weights)
    np.testing.assert_array_equal(again.colors, schema.colors)


def metainfo_text(sigmas="[0.1, 0.1]", weights="[1.0, 1.0]", swap_a="'b'", swap_b="'a'",
                  link="('a', 'b')", name_b="'b'") -> str:
    return (
        "dataset_info = dict(dataset_name='tiny', keypoint_info={\n"
        f"  0: dict(name='a', id=0, color=[1, 2, 3], type='upper', swap={swap_a}),\n"
        f"  1: dict(name={name_b}, id=1, color=[1, 2, 3], type='upper', swap={swap_b})}},\n"
        f"  skeleton_info={{0: dict(link={link}, id=0, color=[0, 0, 0])}},\n"
        f"  joint_weights={weights}, sigmas={sigmas})\n")


@pytest.mark.parametrize("kwargs, message", [
    (dict(sigmas="[0.1, 0.1, 0.1]"), r"tiny.py: schema 'tiny', field 'sigmas': has 3 values "
                                     r"for 2 keypoints"),
    (dict(weights="[1.0, 1.0, 2.0]"), r"field 'joint_weights': has 3 values for 2 keypoints"),
    (dict(name_b="'a'", swap_a="''", swap_b="''", link="('a', 'a')"),
     r"duplicate keypoint name 'a'"),
    (dict(swap_a="'c'"), r"'a' swaps with unknown keypoint 'c'"),
    (dict(swap_b="''"), r"swap is not symmetric: 'a' swaps with 'b', but 'b' swaps with "
                        r"'itself'"),
    (dict(link="('a', 'elbow')"), r"field 'skeleton_info': link \(a, elbow\) names unknown "
                                  r"keypoint 'elbow'"),
])
def test_bad_metainfo_names_file_field_and_counts(tmp_path, kwargs, message):
    path = tmp_path / "tiny.py"
    path.write_text(metainfo_text(**kwargs))
    with pytest.raises(MetainfoError, match=message):
        load_schema(str(path))


def test_short_joint_weights_warn_and_pad(tmp_path):
    path = tmp_path / "tiny.py"
    path.write_text(metainfo_text(weights="[2.0]"))
    with pytest.warns(UserWarning, match=r"1 joint_weights for 2 keypoints.*\['b'\]"):
        schema = load_schema(str(path))
    np.testing.assert_array_equal(schema.joint_weights, [2.0, 1.0])


def test_metainfo_files_are_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.py"
    path.write_text(f"__import__('os').system('touch {marker}')\n" + metainfo_text())
    with pytest.raises(MetainfoError, match=r"evil.py, line 1: .*__import__"):
        read_metainfo_file(path)
    path.write_text(metainfo_text(sigmas=f"__import__('os').system('touch {marker}')"))
    with pytest.raises(MetainfoError, match=r"only literal data"):
        read_metainfo_file(path)
    assert not marker.exists()


def test_metainfo_syntax_error_has_line_and_column(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("dataset_info = dict(\n  dataset_name='x',,\n)\n")
    with pytest.raises(MetainfoError, match=r"broken.py, line 2, column \d+: syntax error"):
        read_metainfo_file(path)


def test_metainfo_list_arithmetic_is_evaluated(tmp_path):
    path = tmp_path / "tiny.py"
    path.write_text("w = [1.0] * 2\n" + metainfo_text(weights="w", sigmas="[0.05] + [0.1]"))
    schema = load_schema(str(path))
    np.testing.assert_allclose(schema.sigmas, [0.05, 0.1])
    np.testing.assert_array_equal(schema.joint_weights, [1.0, 1.0])


def test_missing_metainfo_file_lists_builtins():
    with pytest.raises(MetainfoError, match=r"nope_x.py: metainfo file not found.*coco_aic"):
        load_schema(dict(from_file="somewhere/nope_x.py"))


def test_a_json_metainfo_file_is_told_to_be_python(tmp_path):
    path = tmp_path / "lab.json"
    path.write_text('{"dataset_info": {"dataset_name": "lab"}}')
    with pytest.raises(MetainfoError) as caught:
        load_schema(dict(from_file=str(path)))
    assert str(caught.value) == (f"{path}: a metainfo file must be a Python file "
                                 f"('dataset_info = dict(...)', as MMPose writes them), not JSON")


def test_missing_metainfo_fields():
    with pytest.raises(MetainfoError, match=r"lacks field\(s\) \['sigmas'\]"):
        schema_from_metainfo(dict(dataset_name="x", keypoint_info={}, skeleton_info={},
                                  joint_weights=[]))


# -- vocabulary ---------------------------------------------------------------------------
@pytest.mark.parametrize("raw, expected", [
    ("Head top", "head_top"), ("head-top", "head_top"), ("HEAD_TOP", "head_top"),
    ("Right Shoulder", "right_shoulder"), ("l_shoulder", "left_shoulder"),
    ("leftShoulder", "left_shoulder"), ("face-0", "face_0"),
])
def test_normalize(raw, expected):
    assert normalize(raw) == expected


def test_aliases_and_their_limits():
    assert canonical("top_head", "crowdpose") == ("head_top", "alias")
    assert canonical("Head top", "aic") == ("head_top", "exact")
    assert canonical("head", "halpe26") == ("head_top", "alias")
    assert canonical("head", "jhmdb") == ("face", "alias")  # JHMDB's head is the face
    assert canonical("thorax", "mpii") == ("neck", "guess")
    assert canonical("upper_neck", "mpii") == ("upper_neck", "exact")  # not the neck
    assert canonical("head", "someset") == ("head", "exact")  # ambiguous: matches no head_top


# -- mappings by name reproduce MMPose's hand-written pairs (reference 6.2, 10.1) ----------
@pytest.mark.parametrize("source, target, expected", [
    ("aic", "coco", AIC_TO_COCO),
    ("aic", "coco_aic", AIC_TO_COCO + [(12, 17), (13, 18)]),
    ("crowdpose", "coco", CROWDPOSE_TO_COCO),
    ("mpii", "coco", MPII_TO_COCO),
    ("jhmdb", "coco", JHMDB_TO_COCO),
    ("posetrack18", "coco", POSETRACK_TO_COCO),
    ("coco", "coco_aic", [(i, i) for i in range(17)]),
])
def test_mapping_by_name_equals_hand_written_pairs(source, target, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # coco_aic's 18 joint weights: tested above
        mapping = mapping_by_name(load_schema(source), load_schema(target))
    assert sorted(mapping.pairs, key=lambda p: p[1]) == sorted(expected, key=lambda p: p[1])


def test_mapping_by_name_marks_aliases_and_guesses():
    mapping = mapping_by_name(load_schema("crowdpose"), load_schema("halpe26"))
    by_target = {e.target: e for e in mapping.entries}
    assert by_target[17].sources == (12,) and by_target[17].match == "alias"  # top_head→head
    assert by_target[18].sources == (13,) and by_target[18].match == "exact"  # neck
    mpii = mapping_by_name(load_schema("mpii"), load_schema("halpe26"))
    guesses = [e for e in mpii.entries if e.match == "guess"]
    assert [(e.sources, e.target) for e in guesses] == [((7,), 18)]  # thorax → neck
    assert "thorax" in mpii.warnings[0] and "guess" in mpii.warnings[0]
    jhmdb = mapping_by_name(load_schema("jhmdb"), load_schema("halpe26"))
    assert 17 not in {e.target for e in jhmdb.entries}  # the face is not the head top


# -- the worked example of reference 2.5 ---------------------------------------------------
def test_worked_example_averaged_mapping():
    src, tgt = four_point_schemas()
    converter = KeypointConverter(4, [((0, 1), 0), (0, 1), (1, 2), ((2, 3), 3)])
    converter.bind(src, tgt, "example")
    results = dict(keypoints=np.array([[[10, 20], [30, 22], [12, 60], [0, 0]]], np.float32),
                   keypoints_visible=np.array([[1, 1, 1, 0]], np.float32),
                   flip_indices=[1, 0, 3, 2])
    out = converter(results)
    np.testing.assert_array_equal(out["keypoints"], [[[20, 21], [10, 20], [30, 22], [6, 30]]])
    np.testing.assert_array_equal(out["keypoints_visible"], [[1, 1, 1, 0]])
    np.testing.assert_array_equal(out["keypoints_defined"], [[1, 1, 1, 1]])
    assert out["flip_indices"] == [1, 0, 3, 2]  # untouched: flips come from the target schema
    assert tgt.flip_indices == [0, 2, 1, 3]


def test_averaged_visibility_is_the_weakest_source():
    src, tgt = four_point_schemas()
    mapping = KeypointConverter(4, [((0, 1), 0), ((2, 3), 3)]).bind(src, tgt, "x")
    kp = np.zeros((3, 4, 2), np.float32)
    vis = np.array([[2, 2, 2, 2], [2, 1, 2, 2], [2, 0, 1, 2]], np.uint8)
    _, out = mapping.apply(kp, vis)
    np.testing.assert_array_equal(out[:, 0], [2, 1, 0])  # visible, occluded, not labelled
    np.testing.assert_array_equal(out[:, 3], [2, 2, 1])
    np.testing.assert_array_equal(out[:, 1:3], 0)  # unmapped targets
    np.testing.assert_array_equal(mapping.defined, [True, False, False, True])


# -- mapping checks -------------------------------------------------------------------------
@pytest.mark.parametrize("pairs, message", [
    ([(14, 0)], r"AicDataset \(a.json\): pair \(14, 0\): source index 14 is out of range for "
                r"14 source keypoints of schema 'aic'"),
    ([(0, 17)], r"pair \(0, 17\): target index 17 is out of range for 17 target keypoints"),
    ([(0, 6), (3, 6)], r"target 6 \('right_shoulder'\) is mapped twice, by \(0, 6\) and \(3, 6\)"),
    ([(2, 10), (5, 7)], r"left/right inconsistent: 2 \('right_wrist'\) -> 10 \('right_wrist'\), "
                        r"but the mirror 5 \('left_wrist'\) -> 7 \('left_elbow'\) should go to "
                        r"9 \('left_wrist'\)"),
    ([(12, 0), (0, 5)], r"left/right inconsistent"),  # head_top→nose fine, R→L shoulder not
])
def test_converter_checks_name_the_dataset_and_pair(pairs, message):
    converter = KeypointConverter(17, pairs)
    with pytest.raises(MappingError, match=message):
        converter.bind(load_schema("aic"), load_schema("coco"), "AicDataset (a.json)")


def test_converter_size_must_match_combined_schema():
    converter = KeypointConverter(19, AIC_TO_COCO)
    with pytest.raises(MappingError, match=r"num_keypoints=19\) does not match the combined "
                                           r"schema 'coco' with 17 keypoints"):
        converter.bind(load_schema("aic"), load_schema("coco"), "AicDataset (a.json)")


@pytest.mark.parametrize("mapping, message", [
    ("pairs", r"must be a list of \(source, target\) pairs or 'by_name'"),
    ([(1, 2, 3)], r"is not a \(source, target\) pair"),
    ([(1.5, 2)], r"must hold integer indices"),
    ([((1, 1), 2)], r"averages a keypoint with itself"),
])
def test_malformed_mappings(mapping, message):
    with pytest.raises(MappingError, match=message):
        KeypointConverter(17, mapping)


def test_per_sample_converter_without_schemas_uses_pairs():
    converter = KeypointConverter(17, AIC_TO_COCO)
    kp = np.arange(28, dtype=np.float32).reshape(1, 14, 2)
    out = converter(dict(keypoints=kp, keypoints_visible=np.ones((1, 14), np.float32)))
    np.testing.assert_array_equal(out["keypoints"][0, 6], kp[0, 0])  # R shoulder
    np.testing.assert_array_equal(out["keypoints_defined"][0, :5], 0)  # face undefined
    np.testing.assert_array_equal(out["keypoints_visible"][0, 5:], 1)
