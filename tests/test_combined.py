"""CombinedDataset on the seed's combine config, against MMPose's own converted instances."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from posemix.api import build_dataset, load_config
from posemix.cli import main
from posemix.data.combined import CombinedDataset
from posemix.errors import MappingError

CONFIGS = "configs/body_2d_keypoint/topdown_heatmap/coco/"
COMBINE = CONFIGS + "td-hm_hrnet-w32_8xb64-210e_coco-aic-256x192-combine.py"
MERGE = CONFIGS + "td-hm_hrnet-w32_8xb64-210e_coco-aic-256x192-merge.py"


def fixture_options(fixtures_dir, prefix="train_dataloader.dataset.datasets") -> list[str]:
    """--cfg-options pointing the seed's two training sources at the fixtures."""
    return [
        f"{prefix}.0.data_root={fixtures_dir / 'coco'}",
        f"{prefix}.0.ann_file=test_coco.json",
        f"{prefix}.0.data_prefix.img=",
        f"{prefix}.1.data_root={fixtures_dir / 'aic'}",
        f"{prefix}.1.ann_file=test_aic.json",
        f"{prefix}.1.data_prefix.img=",
    ]


@pytest.fixture(scope="module")
def combined(fixtures_dir, request) -> CombinedDataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # coco_aic.py's 18 joint weights
        cfg = load_config(str(request.config.rootpath / COMBINE), fixture_options(fixtures_dir))
        cfg.train_dataloader.dataset.pipeline = []
        return build_dataset(cfg, "train")


def test_combine_config_reproduces_mmpose_converted_instances(combined, golden_dir):
    golden = np.load(golden_dir / "combine_val_pipeline.npz")
    assert len(combined) == 21
    assert combined.lens == [12, 9]
    for i in range(21):
        info = combined.get_data_info(i)
        assert info["dataset_name"] == str(golden["source"][i])
        assert info["img_path"].endswith(str(golden["img_path"][i]))
        np.testing.assert_array_equal(info["bbox"][0], golden["bbox_xyxy"][i])
        np.testing.assert_array_equal(info["keypoints_visible"][0], golden["keypoints_visible"][i])
        np.testing.assert_array_equal(info["keypoints_defined"][0], golden["keypoints_defined"][i])
        labelled = golden["keypoints_visible"][i] > 0
        np.testing.assert_allclose(info["keypoints"][0][labelled],
                                   golden["keypoints"][i][labelled], atol=1e-4)
        # the shared pipeline sees the combined schema, the sample keeps its source
        assert info["flip_indices"] == [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16,
                                        15, 17, 18]
        assert info["source_index"] == (0 if i < 12 else 1)


def test_mapping_by_name_gives_the_same_dataset(combined, fixtures_dir, request):
    options = fixture_options(fixtures_dir) + [
        "train_dataloader.dataset.datasets.0.pipeline.0.mapping=by_name",
        "train_dataloader.dataset.datasets.1.pipeline.0.mapping=by_name",
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = load_config(str(request.config.rootpath / COMBINE), options)
        cfg.train_dataloader.dataset.pipeline = []
        by_name = build_dataset(cfg, "train")
    for a, b in zip(combined.tables, by_name.tables, strict=True):
        np.testing.assert_array_equal(a.keypoints, b.keypoints)
        np.testing.assert_array_equal(a.visibility, b.visibility)
        np.testing.assert_array_equal(a.defined, b.defined)


def test_head_top_and_neck_are_labelled_only_by_aic(combined):
    coco, aic = combined.tables
    assert not coco.defined[17:].any() and not (coco.visibility[:, 17:] > 0).any()
    assert aic.defined[17:].all() and (aic.visibility[:, 17:] > 0).any()
    assert not aic.defined[:5].any()  # AIC has no face keypoints


def test_sample_ratio_factor_is_reproducible_per_epoch(fixtures_dir, request):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = load_config(str(request.config.rootpath / COMBINE), fixture_options(fixtures_dir))
        spec = cfg.train_dataloader.dataset.to_dict()
    spec.update(pipeline=[], sample_ratio_factor=[0.5, 2.0])
    spec.pop("type")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = CombinedDataset(**spec, seed=3)
    assert ds.lens == [6, 18]  # round(12 * 0.5), round(9 * 2.0)
    rows = lambda epoch: [ds.locate(i, epoch)[1] for i in range(len(ds))]  # noqa: E731
    e0, e1 = rows(0), rows(1)
    assert e0 == rows(0)  # the same epoch gives the same draw
    coco0 = e0[:6]
    assert all(2 * k <= r < 2 * k + 2 for k, r in enumerate(coco0))  # one row per stratum
    assert e0[6:] == [k // 2 for k in range(18)]  # oversampled: each row twice
    assert e0[:6] != e1[:6] or e0[:6] != rows(2)[:6]  # epochs draw anew


def test_sample_ratio_factor_zero_and_bad_values(fixtures_dir, request):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = load_config(str(request.config.rootpath / COMBINE), fixture_options(fixtures_dir))
        spec = cfg.train_dataloader.dataset.to_dict()
        spec.pop("type")
        ds = CombinedDataset(**{**spec, "pipeline": [], "sample_ratio_factor": [0.0, 1.0]})
        assert ds.lens == [0, 9] and ds.locate(0)[0] == 1
        with pytest.raises(Exception, match=r"sample_ratio_factor has 1 values for 2"):
            CombinedDataset(**{**spec, "sample_ratio_factor": [1.0]})


def test_converter_size_mismatch_names_the_sub_dataset(fixtures_dir, request):
    options = fixture_options(fixtures_dir) + [
        "train_dataloader.dataset.datasets.1.pipeline.0.num_keypoints=17"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = load_config(str(request.config.rootpath / COMBINE), options)
        with pytest.raises(MappingError, match=r"AicDataset \(test_aic.json\): KeypointConverter"
                                               r"\(num_keypoints=17\) does not match the combined "
                                               r"schema 'coco' with 19 keypoints"):
            build_dataset(cfg, "train")


def test_source_without_converter_in_another_layout_is_an_error(fixtures_dir, request):
    options = fixture_options(fixtures_dir) + ["train_dataloader.dataset.datasets.1.pipeline=[]"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = load_config(str(request.config.rootpath / MERGE), options)
        with pytest.raises(MappingError, match=r"AicDataset \(test_aic.json\): its schema 'aic' "
                                               r"\(14 keypoints\) differs.*no KeypointConverter"):
            build_dataset(cfg, "train")


def test_inspect_combine_config_on_fixtures(fixtures_dir, request, capsys):
    argv = ["inspect", str(request.config.rootpath / COMBINE), "--json", "--dump", "2",
            "--cfg-options", *fixture_options(fixtures_dir)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert len(summary["schema"]["keypoints"]) == 19
    coco, aic = summary["sources"]
    assert (coco["name"], aic["name"]) == ("coco", "aic")
    assert coco["mapping"] == [[i, i] for i in range(17)]
    assert sorted(map(tuple, aic["mapping"])) == sorted(
        [(0, 6), (1, 8), (2, 10), (3, 5), (4, 7), (5, 9), (6, 12), (7, 14), (8, 16), (9, 11),
         (10, 13), (11, 15), (12, 17), (13, 18)])
    assert coco["instances"] == 12 and aic["instances"] == 9
    assert coco["undefined_targets"] == [17, 18] and aic["undefined_targets"] == [0, 1, 2, 3, 4]
    assert coco["labelled_fraction"][17:] == [0, 0] and min(aic["labelled_fraction"][17:]) > 0
    assert sum(coco["filtered"].values()) == 2
    assert len(aic["dump"]) == 2 and len(aic["dump"][0]["keypoints"]) == 19
    assert aic["dump"][0]["defined"][:5] == [False] * 5


def test_inspect_dump_alone_prints_json(fixtures_dir, request, capsys):
    argv = ["inspect", str(request.config.rootpath / COMBINE), "--dump", "1",
            "--cfg-options", *fixture_options(fixtures_dir)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(argv) == 0
    coco, aic = json.loads(capsys.readouterr().out)["sources"]
    assert len(coco["dump"]) == len(aic["dump"]) == 1


@pytest.mark.parametrize("argv, message", [
    (["inspect", "c.py", "--dump", "-1"], "argument --dump: must be 0 or more, got -1"),
    (["demo", "--epochs", "0"], "argument --epochs: must be 1 or more, got 0"),
    (["demo", "--images", "many"], "argument --images: 'many' is not an integer"),
    (["demo-data", "--workers", "0"], "argument --workers: must be 1 or more, got 0"),
])
def test_counts_out_of_range_are_refused_before_any_work(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_inspect_text_output(fixtures_dir, request, capsys):
    argv = ["inspect", str(request.config.rootpath / COMBINE), "--cfg-options",
            *fixture_options(fixtures_dir)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(argv) == 0
    text = capsys.readouterr().out
    assert "19 keypoints" in text and "mapping (14 pairs" in text and "mapping (17 pairs" in text
    assert "undefined targets: nose, left_eye, right_eye, left_ear, right_ear" in text


def test_cli_reports_user_errors_without_traceback(capsys, tmp_path):
    assert main(["inspect", str(tmp_path / "missing.py")]) == 2
    assert "error: " in capsys.readouterr().err


def test_full_train_pipeline_masks_what_each_source_lacks(fixtures_dir, request):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = load_config(str(request.config.rootpath / COMBINE), fixture_options(fixtures_dir))
        dataset = build_dataset(cfg, "train")
    for index in range(len(dataset)):
        sample = dataset[(0, index)]
        assert tuple(sample["inputs"].shape) == (3, 256, 192)
        assert tuple(sample["targets"]["heatmaps"].shape) == (19, 64, 48)
        weights = sample["targets"]["keypoint_weights"].numpy()
        if sample["meta"]["dataset_name"] == "coco":
            assert not weights[17:].any()  # head_top, neck: COCO does not define them
            assert weights[:17].any()
        else:
            assert not weights[:5].any()  # the face: AIC does not define it
            assert weights[17:].any() or not sample["targets"]["keypoints_defined"][17:].all()
    again = dataset[(0, 3)]["inputs"]
    assert (again == dataset[(0, 3)]["inputs"]).all()  # a sample is reproducible


def missing_image_dataset(fixtures_dir, tmp_path, **kwargs) -> CombinedDataset:
    """The fixtures' COCO and AIC sources with one COCO image missing, behind
    LoadImage(ignore_empty=True), which drops the samples of that image."""
    coco = tmp_path / "coco"
    coco.mkdir(parents=True)
    for path in (fixtures_dir / "coco").iterdir():
        if path.name != "000000000785.jpg":
            (coco / path.name).symlink_to(path)
    pipeline = [dict(type="KeypointConverter", mapping="by_name")]
    return CombinedDataset(
        metainfo=dict(from_file="configs/_base_/datasets/coco.py"),
        datasets=[dict(type="CocoDataset", data_root=str(coco), ann_file="test_coco.json",
                       pipeline=pipeline),
                  dict(type="AicDataset", data_root=str(fixtures_dir / "aic"),
                       ann_file="test_aic.json", pipeline=pipeline)],
        pipeline=[dict(type="LoadImage", ignore_empty=True)], **kwargs)


def test_dropped_samples_are_refetched_reproducibly(fixtures_dir, tmp_path):
    from posemix.data.rng import sample_rng
    from posemix.errors import ConfigError, PosemixError

    dataset = missing_image_dataset(fixtures_dir, tmp_path, seed=3)
    dropped = [i for i in range(len(dataset))
               if dataset.get_data_info(i)["img_path"].endswith("000000000785.jpg")]
    assert dropped
    fresh = missing_image_dataset(fixtures_dir, tmp_path / "again", seed=3)
    for index in dropped:
        sample = dataset[index]
        assert sample is not None and sample["img"].ndim == 3
        # the replacement is drawn from the dropped sample's generator, in the whole index
        # space, as the per-source datasets do; a new dataset draws the same one
        replacement = int(sample_rng(3, 0, index).integers(len(dataset)))
        again = fresh[index]
        assert sample["img_path"] == again["img_path"] \
            == dataset.get_data_info(replacement)["img_path"]
        assert sample["source_index"] == again["source_index"]
    with pytest.raises(PosemixError, match="CombinedDataset: the pipeline dropped 1 samples"):
        missing_image_dataset(fixtures_dir, tmp_path / "none", max_refetch=0)[dropped[0]]
    with pytest.raises(PosemixError, match="dropped sample .* in test mode"):
        missing_image_dataset(fixtures_dir, tmp_path / "test", test_mode=True)[dropped[0]]
    with pytest.raises(ConfigError, match="lazy_init"):
        missing_image_dataset(fixtures_dir, tmp_path / "lazy", lazy_init=True)
