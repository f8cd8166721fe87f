"""The union schema built from names, against MMPose's hand-written coco_aic.py."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from posemix.errors import MetainfoError
from posemix.keypoints import (
    KeypointSchema,
    load_schema,
    mapping_by_name,
    schema_to_metainfo,
    union_from_spec,
    write_metainfo_file,
)
from posemix.keypoints.union import build_union


@pytest.fixture(scope="module")
def coco_aic_builtin() -> KeypointSchema:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its 18 joint weights for 19 keypoints
        return load_schema("coco_aic")


def small_schema(name: str, keypoints: list[tuple[str, str, str]],
                 links: tuple = (), sigmas: list[float] | None = None) -> KeypointSchema:
    """A schema from (name, type, swap) triples."""
    k = len(keypoints)
    return KeypointSchema(name=name, keypoints=[n for n, _, _ in keypoints],
                          types=[t for _, t, _ in keypoints], swaps=[s for _, _, s in keypoints],
                          links=links, joint_weights=[1.0] * k, sigmas=sigmas or [0.05] * k)


def test_union_of_coco_and_aic_is_coco_aic(coco_aic_builtin):
    union, notes = union_from_spec(["coco", "aic"])
    ref = coco_aic_builtin
    assert union.name == "coco_aic"
    assert union.keypoints == ref.keypoints
    assert union.flip_indices == ref.flip_indices == list(
        [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15, 17, 18])
    assert union.upper_body_ids == ref.upper_body_ids
    assert union.lower_body_ids == ref.lower_body_ids
    # COCO's 19 links + head_top-neck; AIC's shoulder-neck links do not rewire COCO
    assert union.skeleton == ref.skeleton
    assert union.skeleton[-1] == (17, 18) and len(union.skeleton) == 20
    np.testing.assert_array_equal(union.sigmas, ref.sigmas)
    assert union.sigmas[17] == union.sigmas[18] == np.float32(0.026)
    # MMPose's file has 18 weights (head_top 1.5); the union gives neck 1.5 as well
    np.testing.assert_array_equal(union.joint_weights[:18], ref.joint_weights[:18])
    assert union.joint_weights[18] == 1.5
    np.testing.assert_array_equal(union.colors, ref.colors)
    np.testing.assert_array_equal(union.link_colors, ref.link_colors)
    assert [p["title"] for p in union.paper_info] == [p["title"] for p in ref.paper_info]
    # the rules that made the new keypoints' values are spelled out
    (new_sigmas,) = [n for n in notes if n.startswith("sigmas of keypoints new")]
    assert "'aic' sigmas are 0.22 times the union's" in new_sigmas
    assert "head_top -> 0.026 (aic 0.0129146); neck -> 0.026 (aic 0.0123617)" in new_sigmas
    assert any("left_shoulder -> 0.079 (coco 0.079, aic 0.0141771)" in n for n in notes)
    assert any("head_top -> 1.5 (aic 1)" in n for n in notes)


def test_every_source_maps_onto_the_union_by_name():
    union, _ = union_from_spec(["coco", "aic"])
    aic = load_schema("aic")
    mapping = mapping_by_name(aic, union)
    assert sorted(mapping.pairs) == sorted(
        [(0, 6), (1, 8), (2, 10), (3, 5), (4, 7), (5, 9), (6, 12), (7, 14), (8, 16), (9, 11),
         (10, 13), (11, 15), (12, 17), (13, 18)])


def test_union_of_coco_aic_and_mpii():
    union, notes = union_from_spec(["coco", "aic", "mpii"])
    assert union.name == "coco_aic_mpii"
    assert union.keypoints[:19] == load_schema("coco").keypoints + ("head_top", "neck")
    assert union.keypoints[19:] == ("pelvis", "upper_neck")  # MPII's order of appearance
    assert union.types[19:] == ("lower", "upper") and union.swaps[19:] == ("", "")
    # MPII's thorax is only guessed to be the neck: the user is told to confirm it
    assert any("'thorax' of 'mpii' is taken to be the union's 'neck' by a guess" in n
               for n in notes)
    # links among non-COCO keypoints: pelvis-thorax(neck), thorax-upper_neck, upper_neck-head
    assert union.links[20:] == (("pelvis", "neck"), ("neck", "upper_neck"),
                                ("upper_neck", "head_top"))
    np.testing.assert_allclose(union.sigmas[19:], [0.026, 0.026])  # MPII's, COCO's convention
    assert "mpii 0.179" in next(n for n in notes if n.startswith("sigmas:"))
    mapping = mapping_by_name(load_schema("mpii"), union)
    assert (7, union.index("neck")) in mapping.pairs


def test_new_keypoints_keep_a_same_convention_sigma_and_hang_on_the_target():
    union, notes = union_from_spec(["coco", "halpe26"])
    # Halpe's bare 'head' and 'hip' are spelled canonically so that names keep one meaning
    assert union.keypoints[17:20] == ("head_top", "neck", "pelvis")
    assert any("'head' of 'halpe26' is spelled 'head_top'" in n for n in notes)
    halpe = load_schema("halpe26")
    # Halpe's sigmas follow COCO's convention: the feet keep theirs (0.079), not 0.026
    np.testing.assert_allclose(union.sigmas[20:], halpe.sigmas[20:], rtol=1e-6)
    np.testing.assert_allclose(union.sigmas[19], halpe.sigmas[halpe.index("hip")])
    # toes and heels would float unconnected: they take Halpe's links to the ankles
    assert ("left_ankle", "left_big_toe") in union.links
    assert ("head_top", "neck") in union.links and ("neck", "pelvis") in union.links
    assert ("neck", "left_shoulder") not in union.links
    assert union.flip_indices[20] == union.index("right_big_toe")
    assert mapping_by_name(halpe, union).defined.all()


def test_merge_mode_returns_the_target():
    coco = load_schema("coco")
    merged, notes = union_from_spec(["coco", "aic"], target="coco")
    assert merged is coco
    assert notes == ["merge into 'coco': keypoints ['head_top', 'neck'] of 'aic' are not in "
                     "the target and are dropped"]
    renamed, _ = build_union([coco], target=coco, name="coco17")
    assert renamed.name == "coco17" and renamed.keypoints == coco.keypoints


def test_disagreements_are_listed_and_the_target_wins():
    target = small_schema("a", [("nose", "upper", ""), ("left_eye", "upper", "right_eye"),
                                ("right_eye", "upper", "left_eye")],
                          links=(("nose", "left_eye"),), sigmas=[0.02, 0.03, 0.03])
    lab = small_schema("lab", [("Nose", "", ""), ("l_eye", "upper", "r_eye"),
                               ("r_eye", "upper", "l_eye"), ("chin", "", "")],
                       links=(("chin", "Nose"), ("l_eye", "Nose")),
                       sigmas=[0.021, 0.03, 0.03, 0.04])
    union, notes = build_union([target, lab])
    assert union.keypoints == ("nose", "left_eye", "right_eye", "chin")
    assert union.types == ("upper", "upper", "upper", "")
    assert union.links == (("nose", "left_eye"), ("chin", "nose"))
    # 'lab' sigmas are on the target's scale (median ratio 1.0): chin keeps 0.04
    np.testing.assert_allclose(union.sigmas, [0.02, 0.03, 0.03, 0.04])
    assert "type: the schemas disagree on 1 keypoint(s)" in notes[0]
    assert "nose -> 'upper' (a 'upper', lab '')" in notes[0]
    assert any("nose -> 0.02 (a 0.02, lab 0.021)" in n for n in notes)


def test_a_name_that_two_keypoints_share_is_refused_unless_one_is_a_guess():
    both = small_schema("odd", [("neck", "upper", ""), ("Neck", "upper", "")])
    with pytest.raises(MetainfoError, match=r"keypoints \['neck', 'Neck'\] that all mean 'neck'"):
        build_union([load_schema("coco"), both])
    guess = small_schema("lab", [("neck", "upper", ""), ("thorax", "upper", "")])
    union, _ = build_union([guess, load_schema("mpii")])
    # the lab's thorax keeps its own name; MPII's thorax is still guessed to be the neck
    assert union.keypoints[:2] == ("neck", "thorax")
    assert mapping_by_name(load_schema("mpii"), union).pairs[7] == (7, 0)


def test_union_written_as_metainfo_reads_back_equal(tmp_path):
    union, _ = union_from_spec(["coco", "aic", "mpii"])
    path = tmp_path / "coco_aic_mpii.py"
    write_metainfo_file(union, path)
    back = load_schema(dict(from_file=str(path)))
    assert schema_to_metainfo(back) == schema_to_metainfo(union)
    assert back.flip_indices == union.flip_indices and back.skeleton == union.skeleton
    # the file is what union_from_spec accepts too
    again, _ = union_from_spec([str(path)])
    assert again.keypoints == union.keypoints


def test_no_schema_is_an_error():
    with pytest.raises(MetainfoError, match="at least one schema"):
        build_union([])
