"""Conformance of connectors to the providers' official machine-readable API specifications.

`check_connector(loaded)` compares every request path and method, query parameter, body field,
records path and mapped field of a connector with the specs it lists in `api_specs:` (files
under ../shared/specs: OpenAPI 3.0/3.1, Swagger 2.0, Google discovery documents, Meta's node
specs), and reports problems with the YAML key and what the spec offers instead.
"""

from .check import check_connector
from .errors import ApiSpecError, ConformanceError, SpecsFolderMissing
from .findings import Finding, Report
from .locate import default_specs_dir, specs_dir
from .operations import Operation, OperationIndex
from .run import render, run_conformance
from .specs import load_api_spec, operation_index

__all__ = [
    "ApiSpecError",
    "ConformanceError",
    "Finding",
    "Operation",
    "OperationIndex",
    "Report",
    "SpecsFolderMissing",
    "check_connector",
    "default_specs_dir",
    "load_api_spec",
    "operation_index",
    "render",
    "run_conformance",
    "specs_dir",
]
