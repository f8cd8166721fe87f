"""Keypoint schemas, the name vocabulary, and mappings between layouts."""

from posemix.keypoints.converter import KeypointConverter
from posemix.keypoints.mapping import KeypointMapping, MappingEntry, mapping_by_name, parse_pairs
from posemix.keypoints.metainfo import (
    read_metainfo_file,
    schema_from_metainfo,
    schema_to_metainfo,
    write_metainfo_file,
)
from posemix.keypoints.schema import KeypointSchema
from posemix.keypoints.schema_loader import (
    builtin_schema_names,
    load_schema,
    load_schema_file,
    union_from_spec,
)
from posemix.keypoints.vocabulary import canonical, normalize

__all__ = [
    "KeypointConverter", "KeypointMapping", "KeypointSchema", "MappingEntry",
    "builtin_schema_names", "canonical", "load_schema", "load_schema_file", "mapping_by_name",
    "normalize", "parse_pairs", "read_metainfo_file", "schema_from_metainfo",
    "schema_to_metainfo", "union_from_spec", "write_metainfo_file",
]
