"""Config types and arguments are checked at build time, with the closest valid names."""

from __future__ import annotations

import pytest

import posemix  # noqa: F401 - registers every type
from posemix.errors import ConfigError
from posemix.registry import CODECS, DATASETS, MODELS, TRANSFORMS, Registry


def test_unknown_type_lists_the_closest_names():
    with pytest.raises(ConfigError, match=r"unknown dataset type 'CocoDatset'\. Did you mean: "
                                          r"CocoDataset"):
        DATASETS.build(dict(type="CocoDatset", ann_file="x.json"))


def test_unknown_argument_lists_the_closest_names():
    with pytest.raises(ConfigError, match=r"transform 'KeypointConverter' has no argument "
                                          r"'num_keypoint'\. Did you mean: num_keypoints"):
        TRANSFORMS.build(dict(type="KeypointConverter", num_keypoint=17, mapping=[(0, 0)]))
    with pytest.raises(ConfigError, match=r"codec 'MSRAHeatmap' has no argument 'sigmaa'"):
        CODECS.build(dict(type="MSRAHeatmap", input_size=(192, 256), heatmap_size=(48, 64),
                          sigmaa=2))


def test_missing_required_argument_and_missing_type():
    with pytest.raises(ConfigError, match=r"missing required argument\(s\): heatmap_size"):
        CODECS.build(dict(type="MSRAHeatmap", input_size=(192, 256), sigma=2))
    with pytest.raises(ConfigError, match=r"needs a 'type' key"):
        MODELS.build(dict(backbone=None))


def test_built_objects_pass_through_and_duplicates_are_refused():
    registry = Registry("thing")

    @registry.register()
    class Thing:
        def __init__(self, size: int = 1):
            self.size = size

    made = registry.build(dict(type="Thing", size=3))
    assert made.size == 3 and registry.build(made) is made
    with pytest.raises(ValueError, match=r"already has 'Thing'"):
        registry.register(type("Thing", (), {}))


def test_openmmlab_scopes_name_the_same_types():
    """MMPose configs write ``_scope_='mmdet'`` or ``type='mmdet.Name'``; posemix has one
    namespace, so both resolve to the plain name, and a misspelt scope is an error."""
    registry = Registry("thing")

    @registry.register()
    class Thing:
        def __init__(self, size: int = 1):
            self.size = size

    assert registry.build(dict(_scope_="mmdet", type="Thing", size=2)).size == 2
    assert registry.build(dict(type="mmpose.Thing", size=4)).size == 4
    assert "mmdet.Thing" in registry and "other.Thing" not in registry
    with pytest.raises(ConfigError, match=r"unknown _scope_ 'mmdett'; known scopes: mmpose"):
        registry.build(dict(_scope_="mmdett", type="Thing"))
    with pytest.raises(ConfigError, match=r"unknown thing type 'mmdt\.Thing'"):
        registry.build(dict(type="mmdt.Thing"))
