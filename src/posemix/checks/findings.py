"""What a check reports: findings, and everything one run of the checks found."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Level = Literal["error", "warning"]


@dataclass
class Finding:
    """One problem found by a check: what it is, what to do, and where."""

    level: Level
    code: str
    message: str
    advice: str
    source: str = ""
    keypoints: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        return f"{self.level.upper()} [{self.code}] {where}{self.message}\n  -> {self.advice}"


@dataclass
class CheckResults:
    """Everything the checks found, and the statistics the report draws."""

    findings: list[Finding]
    geometry: dict[str, Any]
    coverage: dict[str, Any]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]
