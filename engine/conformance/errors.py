"""Errors of the conformance check: its inputs are missing or unreadable, never a connector's fault."""

from __future__ import annotations

from ..errors import ManifoldError


class ConformanceError(ManifoldError):
    """The conformance check cannot run."""


class SpecsFolderMissing(ConformanceError):
    """The folder of official API specifications is not there."""


class ApiSpecError(ConformanceError):
    """An API specification file is missing or in no format the check reads."""
