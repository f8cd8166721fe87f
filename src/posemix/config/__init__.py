"""Config files in MMPose's vocabulary: Python/JSON/YAML, ``_base_`` inheritance, overrides."""

from posemix.config.loader import Config, ConfigDict, packaged_configs_dir, resolve_config_path
from posemix.config.options import parse_cfg_options

__all__ = [
    "Config",
    "ConfigDict",
    "packaged_configs_dir",
    "parse_cfg_options",
    "resolve_config_path",
]
