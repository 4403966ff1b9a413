"""Where the providers' official API specifications live: `../shared/specs` beside the repo.

`MANIFOLD_API_SPECS` points elsewhere (a folder). Spec files are reference data kept outside
the repository; they are read in place and never copied in.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import SpecsFolderMissing

ENV_VAR = "MANIFOLD_API_SPECS"
REPO_ROOT = Path(__file__).resolve().parent.parent.parent


def default_specs_dir() -> Path:
    """`$MANIFOLD_API_SPECS`, else `<repo>/../shared/specs`."""
    configured = os.environ.get(ENV_VAR)
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "specs"


def specs_dir(path: Path | None = None) -> Path:
    """The specs folder, checked to exist."""
    folder = path or default_specs_dir()
    if not folder.is_dir():
        raise SpecsFolderMissing(
            f"the API specs folder {folder} does not exist; set {ENV_VAR} to the folder holding "
            "the providers' specifications (see ../shared/specs/README.md)"
        )
    return folder
