"""Names as people write them: the conventions in wide use, mapped by name.

The name lists are typed in from each convention's public definition (order included);
the expected pairs are written by hand, as the person who knows both skeletons would.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from name_lists import (
    COCO_17,
    COCO_WHOLEBODY_133,
    CONVENTIONS,
    H36M_17,
    HALPE_26,
    HALPE_136,
    KINECT_25,
    OPENPOSE_BODY_25,
    SMPL_24,
)

from posemix.checks.static import check_mapping
from posemix.cli import main
from posemix.data.combined import CombinedDataset
from posemix.errors import MappingError, MetainfoError
from posemix.keypoints import KeypointConverter, KeypointSchema, load_schema, mapping_by_name
from posemix.keypoints.naming_report import name_rows
from posemix.keypoints.spelling import side
from posemix.keypoints.vocabulary import SYNONYMS, canonical, read_schema_names, synonym_table

README = Path(__file__).resolve().parents[1] / "README.md"


def schema_of(name: str, keypoints: list[str]) -> KeypointSchema:
    """A schema with these names; flip partners paired by the names' sides (the built-in
    schema itself where the list is one: face points pair by number, not by name)."""
    if name in ("coco", "coco_wholebody", "halpe", "halpe26"):
        builtin = load_schema(name)
        if list(builtin.keypoints) == keypoints:
            return builtin
    read, _ = read_schema_names(keypoints, name)
    spelled = {m.canonical: k for m, k in zip(read, keypoints, strict=True)}
    swaps = []
    for m in read:
        c = m.canonical
        mirror = c.replace("left_", "@").replace("right_", "left_").replace("@", "right_")
        swaps.append(spelled.get(mirror, "") if mirror != c else "")
    n = len(keypoints)
    return KeypointSchema(name, tuple(keypoints), ("",) * n, tuple(swaps), (), np.ones(n),
                          np.full(n, 0.05), source=f"<{name} names>")


@pytest.fixture(scope="module")
def coco_aic() -> KeypointSchema:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # coco_aic.py's 18 joint weights
        return load_schema("coco_aic")


def as_names(mapping) -> dict[str, str]:
    src, tgt = mapping.source_schema, mapping.target_schema
    return {src.keypoints[e.sources[0]]: tgt.keypoints[e.target] for e in mapping.entries}


# -- 1. normalisation by convention ------------------------------------------------------------
@pytest.mark.parametrize("raw", [
    "left_shoulder", "l_shoulder", "LShoulder", "L_Shoulder", "lShoulder", "LEFT_SHOULDER",
    "shoulder_left", "ShoulderLeft", "shoulder_l", "Shoulder.L", "left shoulder",
    "leftshoulder", "leftShoulder", "Left-Shoulder",
])
def test_every_spelling_of_the_left_shoulder(raw):
    assert canonical(raw) == ("left_shoulder", "exact")


@pytest.mark.parametrize("raw, expected", [
    ("shoulder-R", "right_shoulder"), ("RShoulder", "right_shoulder"),
    ("HeadTop", "head_top"), ("HEAD_TOP", "head_top"), ("headTop", "head_top"),
    ("LBigToe", "left_big_toe"), ("right_index_finger_tip", "right_forefinger_4"),
    ("THUMB_CMC", "thumb_1"), ("left_thumb1", "left_thumb_1"), ("face-0", "face_0"),
    # a side letter counts only where it is a side
    ("Lip", "lip"), ("Rump", "rump"), ("Leg", "leg"), ("Rear", "rear"), ("lip_l", "left_lip"),
    ("LLip", "left_lip"), ("REar", "right_ear"), ("R_ear", "right_ear"), ("lear", "left_ear"),
    ("leye", "left_eye"), ("Ring_finger_1", "ring_finger_1"), ("Lower_neck", "neck"),
])
def test_spellings_and_ambiguous_side_letters(raw, expected):
    assert canonical(raw)[0] == expected


# -- 2. synonyms with kinds -----------------------------------------------------------------------
def test_a_distinct_name_never_reads_as_the_point_it_resembles():
    distinct = [s for s in SYNONYMS if s.kind == "distinct"]
    assert {(s.name, s.means) for s in distinct} >= {
        ("hand", "wrist"), ("head", "head_top"), ("upper_neck", "neck"), ("heel", "ankle"),
        ("eye_inner", "eye"), ("eye_outer", "eye"), ("hand_root", "wrist")}
    for s in distinct:
        for side_word in (("left", "right") if s.sided else ("",)):
            name = f"{side_word}_{s.name}" if side_word else s.name
            means = f"{side_word}_{s.means}" if side_word else s.means
            assert canonical(name)[0] != means, name


def test_decisions_of_the_issue():
    assert canonical("MidHip") == ("pelvis", "alias")
    assert canonical("Hip") == ("pelvis", "alias")  # a single, side-free hip
    assert canonical("root") == ("pelvis", "alias")
    assert canonical("LHip") == ("left_hip", "exact")
    assert canonical("RFoot") == ("right_ankle", "guess")  # Human3.6M's ankle joint
    assert canonical("Thorax") == ("neck", "guess")
    assert canonical("head_bottom") == ("upper_neck", "guess")
    assert canonical("Crown") == ("head_top", "alias")
    assert canonical("Head") == ("head", "exact")  # never the crown
    assert canonical("head", "halpe26") == ("head_top", "alias")
    assert canonical("head", "jhmdb") == ("face", "alias")
    assert canonical("mouth_left") == ("left_mouth_corner", "alias")
    assert canonical("Hand", aliases={"Hand": "wrist"}) == ("wrist", "user alias")
    assert canonical("LHand", aliases={"Hand": "wrist"}) == ("left_wrist", "user alias")


def test_the_readme_shows_the_synonym_table():
    assert synonym_table() in README.read_text()


# -- 5. the conventions mapped by name -----------------------------------------------------------
@pytest.mark.parametrize("convention", sorted(CONVENTIONS))
def test_convention_to_coco_and_coco_aic(convention, coco_aic):
    name, keypoints, to_coco, extra, guesses, _ = CONVENTIONS[convention]
    src = schema_of(name, keypoints)
    mapping = mapping_by_name(src, load_schema("coco"))
    assert as_names(mapping) == to_coco
    union = mapping_by_name(src, coco_aic)
    assert as_names(union) == {**to_coco, **extra}
    guessed = {src.keypoints[e.sources[0]] for e in union.entries if e.match == "guess"}
    assert guessed == guesses & set(as_names(union))


@pytest.mark.parametrize("convention", sorted(CONVENTIONS))
def test_convention_to_coco_wholebody_count(convention):
    name, keypoints, to_coco, *_, wholebody = CONVENTIONS[convention]
    mapping = mapping_by_name(schema_of(name, keypoints), load_schema("coco_wholebody"))
    assert len(mapping.entries) == wholebody
    assert {k: v for k, v in as_names(mapping).items() if v in COCO_17} == to_coco


def test_the_wholebody_lists_are_the_builtin_schemas():
    assert list(load_schema("coco_wholebody").keypoints) == COCO_WHOLEBODY_133
    assert list(load_schema("halpe").keypoints) == HALPE_136
    assert list(load_schema("halpe26").keypoints) == HALPE_26


@pytest.mark.parametrize("convention", sorted(CONVENTIONS))
def test_left_never_maps_to_right(convention):
    name, keypoints, *_ = CONVENTIONS[convention]
    for target in ("coco", "coco_wholebody", "halpe"):
        mapping = mapping_by_name(schema_of(name, keypoints), load_schema(target))
        for src, tgt in as_names(mapping).items():
            assert side(src) == side(tgt), (src, tgt)


def test_hand_never_maps_to_a_wrist():
    for name, keypoints in (("kinect", KINECT_25), ("smpl", SMPL_24)):
        for target in ("coco", "coco_wholebody", "halpe"):
            names = as_names(mapping_by_name(schema_of(name, keypoints), load_schema(target)))
            hands = [k for k in keypoints if k.lower().startswith("hand") or
                     k.endswith("_hand")]
            assert hands and not any(h in names for h in hands)


def test_a_face_head_never_maps_to_head_top(coco_aic):
    for source in (load_schema("jhmdb"), schema_of("h36m", H36M_17),
                   schema_of("smpl", SMPL_24), schema_of("kinect", KINECT_25)):
        names = as_names(mapping_by_name(source, coco_aic))
        assert "head_top" not in names.values(), source.name


def test_a_guess_yields_to_the_keypoint_that_has_the_name():
    rows = {r.name: r for r in name_rows(schema_of("smpl", SMPL_24), load_schema("coco"))}
    assert rows["left_foot"].canonical == "left_foot" and rows["left_foot"].target is None
    assert "yields to 'left_ankle'" in rows["left_foot"].note
    rows = {r.name: r for r in name_rows(schema_of("kinect", KINECT_25), load_schema("coco"))}
    assert rows["SpineShoulder"].target is None and rows["Neck"].canonical == "neck"


def test_names_that_cannot_be_told_apart_are_refused():
    with pytest.raises(MappingError, match=r"\['Hip', 'MidHip'\] all mean 'pelvis'"):
        mapping_by_name(schema_of("x", ["Hip", "MidHip", "LHip"]), load_schema("halpe26"))


# -- the round trip: a COCO file relabelled with each convention's names -----------------------
@pytest.mark.parametrize("convention", sorted(CONVENTIONS))
def test_round_trip_of_a_relabelled_coco_file(convention, fixtures_dir):
    name, _, to_coco, *_ = CONVENTIONS[convention]
    coco = load_schema("coco")
    from_coco = {v: k for k, v in to_coco.items()}
    names = [from_coco.get(k, f"unused_{i}") for i, k in enumerate(coco.keypoints)]
    rename = dict(zip(coco.keypoints, names, strict=True))
    relabelled = dataclasses.replace(
        coco, name=name, keypoints=tuple(names),
        swaps=tuple(rename[s] if s else "" for s in coco.swaps),
        links=tuple((rename[a], rename[b]) for a, b in coco.links))
    source = dict(type="CocoDataset", data_root=str(fixtures_dir / "coco"),
                  ann_file="test_coco.json", test_mode=True)
    mixed = CombinedDataset(metainfo=coco, test_mode=True, datasets=[dict(
        source, metainfo=relabelled, pipeline=[dict(type="KeypointConverter",
                                                    mapping="by_name")])])
    plain = CombinedDataset(metainfo=coco, test_mode=True, datasets=[dict(
        source, pipeline=[dict(type="KeypointConverter", mapping="by_name")])])
    got, want = mixed.tables[0], plain.tables[0]
    mapped = [coco.index(v) for v in to_coco.values()]
    assert len(got) == len(want) > 0
    np.testing.assert_array_equal(got.keypoints[:, mapped], want.keypoints[:, mapped])
    np.testing.assert_array_equal(got.visibility[:, mapped], want.visibility[:, mapped])
    assert list(np.flatnonzero(got.defined)) == sorted(mapped)


# -- 4. user aliases --------------------------------------------------------------------
def test_user_aliases_in_the_converter():
    kinect = schema_of("kinect", ["Neck", "HandLeft", "HandRight", "Chin"])
    with pytest.raises(MappingError, match="aliases must map names to names"):
        KeypointConverter(mapping="by_name", aliases=["Hand"])
    with pytest.raises(MappingError, match="by_name' only"):
        KeypointConverter(3, [(0, 0)], aliases={"Hand": "wrist"})
    mapping = KeypointConverter(mapping="by_name", aliases={"Hand": "wrist", "Chin": "upper_neck"}
                                ).bind(kinect, load_schema("mpii"), "kinect")
    assert as_names(mapping) == {"HandLeft": "left_wrist", "HandRight": "right_wrist",
                                 "Chin": "upper_neck", "Neck": "thorax"}
    kinds = {kinect.keypoints[e.sources[0]]: e.match for e in mapping.entries}
    assert kinds == {"HandLeft": "user alias", "HandRight": "user alias",
                     "Chin": "user alias", "Neck": "guess"}  # MPII's thorax: a guess


def test_user_aliases_in_a_union_reach_the_mappings_into_it():
    kinect = schema_of("kinect", ["ShoulderLeft", "ShoulderRight", "HandLeft", "HandRight"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        union = load_schema(dict(union_of=["coco", kinect], aliases={"Hand": "wrist"}))
    assert union.keypoints == load_schema("coco").keypoints  # Kinect adds nothing new
    with pytest.raises(MetainfoError, match="aliases must map names to names"):
        load_schema(dict(union_of=["coco", kinect], aliases={"Hand": 3}))
    mapping = KeypointConverter(mapping="by_name").bind(kinect, union, "kinect")
    assert as_names(mapping) == {"ShoulderLeft": "left_shoulder",
                                 "ShoulderRight": "right_shoulder",
                                 "HandLeft": "left_wrist", "HandRight": "right_wrist"}


def test_a_mistyped_alias_is_refused_everywhere_aliases_are_given():
    """An alias target that names no point would leave keypoints silently unmapped."""
    kinect = schema_of("kinect", ["Neck", "HandLeft", "HandRight", "Chin"])
    with pytest.raises(MappingError) as caught:
        KeypointConverter(mapping="by_name", aliases={"nose": "wirst"}).bind(
            kinect, load_schema("coco"), "KinectDataset (k.json)")
    assert str(caught.value) == ("KinectDataset (k.json): alias 'nose=wirst': 'wirst' is not a "
                                 "vocabulary name (did you mean 'wrist'?)")
    _, findings = check_mapping(kinect, load_schema("coco"), "by_name", label="kinect",
                                aliases={"Hand": "top_head"})  # a synonym, not the point
    assert [(f.code, f.message) for f in findings] == [
        ("mapping-invalid", "kinect: alias 'Hand=top_head': 'top_head' is not a vocabulary "
                            "name (did you mean 'head_top'?)")]
    with pytest.raises(MappingError, match=r"^alias 'Hand=qqq': 'qqq' is not a vocabulary name "
                                           r"nor a keypoint of 'coco', 'kinect'$"):
        load_schema(dict(union_of=["coco", kinect], aliases={"Hand": "qqq"}))


def test_an_alias_may_name_a_keypoint_of_the_schemas_and_an_unused_one_is_a_warning():
    lab = schema_of("lab", ["TailRoot", "Nose"])
    zoo = schema_of("zoo", ["tail_base", "nose"])
    with pytest.warns(UserWarning) as caught:
        mapping = KeypointConverter(mapping="by_name", aliases={"TailRoot": "tail_base",
                                                                "Foo": "wrist"}
                                    ).bind(lab, zoo, "lab")
    assert as_names(mapping) == {"TailRoot": "tail_base", "Nose": "nose"}
    assert [str(w.message) for w in caught] == [
        "lab: alias 'Foo=wrist': no keypoint of 'lab' is named 'Foo' (with or without a side), "
        "so the alias does nothing"]
    assert mapping.warnings == [str(w.message) for w in caught]  # kept with the mapping too


def test_names_refuses_a_mistyped_alias_and_warns_of_an_unused_one(capsys):
    assert main(["names", "mpii", "--to", "coco", "--alias", "Hand=wirst"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ("posemix names: error: alias 'Hand=wirst': 'wirst' is not a "
                            "vocabulary name (did you mean 'wrist'?)\n")
    with pytest.warns(UserWarning) as caught:
        assert main(["names", "mpii", "--to", "coco", "--alias", "Foo=wrist"]) == 0
    assert [str(w.message) for w in caught] == [
        "alias 'Foo=wrist': no keypoint of 'mpii' is named 'Foo' (with or without a side), so "
        "the alias does nothing"]
    assert "user aliases: " not in capsys.readouterr().out  # it read no name


# -- 3. posemix names and the unmapped warning ----------------------------------------------------
def test_names_on_every_builtin_schema_knows_every_name(capsys):
    from posemix.keypoints import builtin_schema_names

    for name in builtin_schema_names():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert main(["names", name]) == 0
            assert "not read:" not in capsys.readouterr().out  # every name is read
            assert main(["names", name, "--to", "coco", "--json"]) == 0
        rows = json.loads(capsys.readouterr().out)["keypoints"]
        assert rows and all(r["kind"] != "unknown" for r in rows), name


def test_names_prints_kinds_targets_reasons_and_user_aliases(tmp_path, capsys):
    assert main(["names", "mpii", "--to", "coco_aic", "--alias", "upper_neck=chin"]) == 0
    out = capsys.readouterr().out
    assert "7   thorax          neck            guess       neck" in out
    assert "8   upper_neck      chin            user alias  -" in out
    assert "by_name maps 14 of 16 keypoints to 'coco'" in out
    assert "user aliases: upper_neck -> chin" in out
    assert main(["names", "jhmdb", "--to", "coco_aic"]) == 0
    out = capsys.readouterr().out
    assert "2   head            face            alias  -" in out
    assert main(["names", "mpii", "--alias", "oops"]) == 2
    capsys.readouterr()
    assert main(["names", "mpii", "--to", "coco", "--alias", "wrist=wrsit"]) == 2
    assert capsys.readouterr().err == ("posemix names: error: alias 'wrist=wrsit': 'wrsit' is "
                                       "not a vocabulary name (did you mean 'wrist'?)\n")


def test_unknown_names_are_explained_with_the_closest_vocabulary_names(capsys):
    rows = name_rows(schema_of("x", ["nose", "Shouldr_L", "Elbow_Lft", "kneee_right"]),
                     load_schema("coco"))
    by_name = {r.name: r for r in rows}
    assert by_name["nose"].target == "nose"
    assert by_name["Shouldr_L"].kind == "unknown"
    assert "left_shoulder" in by_name["Shouldr_L"].closest
    assert "right_knee" in by_name["kneee_right"].closest
    assert "not a vocabulary name" in by_name["Elbow_Lft"].reason


def test_the_mapping_checks_warn_when_a_third_is_unmapped():
    odd = schema_of("odd", ["Nose", "LShoulder", "RShoulder", "Schulter_L", "Schulter_R",
                            "Ellbogen_L", "Ellbogen_R"])
    _, findings = check_mapping(odd, load_schema("coco"), "by_name", label="odd")
    found = [f for f in findings if f.code == "names-unmapped"]
    assert len(found) == 1
    assert "by_name leaves 4 of 7 keypoints of 'odd' unmapped in 'coco'" in found[0].message
    assert "4 of them have names the vocabulary does not know" in found[0].message
    assert "posemix names" in found[0].advice
    _, fine = check_mapping(schema_of("op", OPENPOSE_BODY_25), load_schema("coco"), "by_name")
    assert not [f for f in fine if f.code == "names-unmapped"]  # 17 of 25 mapped


def relabelled_coco(rename: dict[str, str], name: str) -> KeypointSchema:
    """COCO's schema with some keypoints renamed (swaps and links follow)."""
    coco = load_schema("coco")
    names = [rename.get(k, k) for k in coco.keypoints]
    full = dict(zip(coco.keypoints, names, strict=True))
    return dataclasses.replace(coco, name=name, keypoints=tuple(names),
                               swaps=tuple(full[s] if s else "" for s in coco.swaps),
                               links=tuple((full[a], full[b]) for a, b in coco.links))


def test_user_aliases_show_in_inspect_and_the_report(fixtures_dir, tmp_path):
    from posemix.inspection import format_summary, summarize
    from posemix.report import write_report

    depth = relabelled_coco({"left_wrist": "HandLeft", "right_wrist": "HandRight"}, "depth")
    dataset = CombinedDataset(metainfo=load_schema("coco"), test_mode=True, datasets=[dict(
        type="CocoDataset", data_root=str(fixtures_dir / "coco"), ann_file="test_coco.json",
        test_mode=True, metainfo=depth,
        pipeline=[dict(type="KeypointConverter", mapping="by_name",
                       aliases={"Hand": "wrist"})])])
    summary = summarize(dataset)
    rows = {m["target"]: m for m in summary["sources"][0]["mapping_names"]}
    assert rows["left_wrist"] == {"source": ["HandLeft"], "target": "left_wrist",
                                  "match": "user alias"}
    assert rows["nose"]["match"] == "exact"
    assert "HandLeft        left_wrist      USER ALIAS" in format_summary(summary)
    page = write_report(dataset, tmp_path / "report").read_text()
    assert '<td class="user-alias" title="user alias">HandLeft</td>' in page


def test_names_reads_a_metainfo_file(tmp_path, capsys):
    from posemix.keypoints import write_metainfo_file

    path = tmp_path / "openpose.py"
    write_metainfo_file(relabelled_coco({"left_shoulder": "LShoulder", "nose": "Nose",
                                         "right_ear": "Rear"}, "openpose"), path)
    assert main(["names", str(path), "--to", "coco"]) == 0
    out = capsys.readouterr().out
    assert "1   left_eye        left_eye        exact    left_eye" in out
    assert "5   LShoulder       left_shoulder   exact    left_shoulder" in out
    assert "4   Rear            rear            unknown  -" in out
    assert "- Rear: 'rear' is not a vocabulary name" in out
    assert "closest vocabulary names: " in out and "right_ear" in out.split("- Rear:")[1]
