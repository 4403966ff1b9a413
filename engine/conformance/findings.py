"""What the check finds: problems (the spec proves the connector wrong) and accepted unknowns
(the spec cannot say: an open schema, a URL known only at run time)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import Location


@dataclass(frozen=True)
class Finding:
    connector: str
    where: str  # 'stream invoices', 'action create_invoice then[1]', 'webhooks'
    key: str  # the YAML key, dotted: 'streams.invoices.request.params.limt'
    message: str  # what is wrong and what the spec offers instead
    location: Location | None = None

    def __str__(self) -> str:
        at = f"{self.location}: " if self.location else ""
        return f"{at}{self.connector}: {self.where}: {self.key}: {self.message}"


@dataclass
class Report:
    """One connector's result."""

    connector: str
    specs: list[str]
    problems: list[Finding] = field(default_factory=list)
    accepted: list[Finding] = field(default_factory=list)
    checked: int = 0  # requests, parameters, fields and paths compared with the specs

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if not self.specs:
            return f"--   {self.connector}: lists no api_specs; not checked"
        unknown = f", {len(self.accepted)} accepted unknown(s)" if self.accepted else ""
        state = "" if self.ok else f"{len(self.problems)} problem(s) in "
        head = "ok  " if self.ok else "FAIL"
        return (
            f"{head} {self.connector}: {state}{self.checked} checks against {', '.join(self.specs)}{unknown}"
        )
