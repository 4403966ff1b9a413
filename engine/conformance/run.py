"""`manifold conformance`: check connectors by name (or path), or every connector of a folder."""

from __future__ import annotations

from pathlib import Path

from ..spec.loader import connector_files, load_connector
from .check import check_connector
from .findings import Report


def _files(targets: list[str] | None, connectors: Path) -> list[Path]:
    if not targets:
        return connector_files([connectors])
    files = []
    for target in targets:
        path = Path(target)
        files.append(
            path if path.suffix in (".yaml", ".yml") or path.exists() else connectors / f"{target}.yaml"
        )
    return files


def run_conformance(targets: list[str] | None, connectors: Path, specs: Path | None = None) -> list[Report]:
    """One report per connector; raises SpecError for a connector spec that does not load."""
    return [
        check_connector(load_connector(file, check_env=False), specs) for file in _files(targets, connectors)
    ]


def render(reports: list[Report], *, verbose: bool = False) -> list[str]:
    """A short report: one line per connector, then its problems (and, verbose, accepted unknowns)."""
    lines: list[str] = []
    for report in reports:
        lines.append(report.summary())
        lines += [f"    {problem}" for problem in report.problems]
        if verbose:
            lines += [f"    accepted: {finding}" for finding in report.accepted]
    failed = [r.connector for r in reports if not r.ok]
    if failed:
        lines.append(f"{len(failed)} connector(s) disagree with their API specs: {', '.join(failed)}")
    return lines
