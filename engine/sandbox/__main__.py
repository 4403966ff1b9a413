"""`python -m engine.sandbox --connectors connectors/ [--port N]`: serve until SIGTERM or SIGINT.

The first stdout line is the sandbox URL; the connectors served go to stderr.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from engine.sandbox.server import Sandbox
from engine.spec.loader import load_connector
from engine.spec.models import ConnectorSpec


def _load_connectors(directory: Path) -> list[tuple[ConnectorSpec, Path]]:
    """Every connectors/*.yaml with a sandbox section, checked by the spec loader."""
    found = []
    for file in sorted(directory.glob("*.yaml")):
        loaded = load_connector(file, check_env=False)
        if loaded.spec.sandbox is not None:
            found.append((loaded.spec, file))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.sandbox", description=__doc__)
    parser.add_argument(
        "--connectors", type=Path, default=Path("connectors"), help="folder of connector YAML files"
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free port)")
    args = parser.parse_args(argv)
    sandbox = Sandbox(_load_connectors(args.connectors), port=args.port)
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    url = sandbox.start()
    print(url, flush=True)
    for name in sandbox.app.sites:
        print(f"  {name}: {url}/{name}", file=sys.stderr, flush=True)
    try:
        done.wait()
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
