"""Config files in MMPose's vocabulary: Python/JSON/YAML, ``_base_`` inheritance, overrides."""

from posemix.config.config import (
    Config,
    ConfigDict,
    packaged_configs_dir,
    parse_cfg_options,
    resolve_config_path,
)

__all__ = [
    "Config",
    "ConfigDict",
    "packaged_configs_dir",
    "parse_cfg_options",
    "resolve_config_path",
]
