"""posemix's own error types: every user-facing failure names where it happened."""

from __future__ import annotations


class PosemixError(Exception):
    """Base class for errors caused by the user's input (files, configs, data)."""


class ConfigError(PosemixError):
    """A config names an unknown type or argument, or has a value of the wrong kind."""


class MetainfoError(PosemixError):
    """A keypoint schema (MMPose metainfo) is inconsistent or unreadable."""


class AnnotationError(PosemixError):
    """An annotation file or one of its records is malformed.

    The message always names the file, and where known the record and the field.
    """

    def __init__(self, file: str, message: str, record: object | None = None,
                 field: str | None = None):
        where = str(file)
        if record is not None:
            where += f", record {record}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")
        self.file, self.record, self.field = str(file), record, field


class MappingError(PosemixError):
    """A keypoint mapping between two schemas is invalid."""


class ImageError(PosemixError):
    """An image is missing or cannot be decoded."""


class CheckpointError(PosemixError):
    """A checkpoint is missing, truncated, corrupt or unsafe to load."""
