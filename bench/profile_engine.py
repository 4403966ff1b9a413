"""Run the `manifold` CLI under cProfile in every thread; merged stats go to OUT.

    python bench/profile_engine.py OUT.prof sync stripe --stream invoices --sandbox-url ... --warehouse ...

`python -m cProfile` sees only the main thread; the engine fetches and parses pages in a
prefetch thread, so each thread gets its own profiler here and the stats are added up.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import threading


def main() -> int:
    out, args = sys.argv[1], sys.argv[2:]
    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()
    original_run = threading.Thread.run

    def run(self: threading.Thread) -> None:
        profile = cProfile.Profile()
        with lock:
            profiles.append(profile)
        profile.enable()
        try:
            original_run(self)
        finally:
            profile.disable()

    threading.Thread.run = run  # type: ignore[method-assign]
    from engine.cli import app

    main_profile = cProfile.Profile()
    sys.argv = ["manifold", *args]
    code: int | str | None = 0
    main_profile.enable()
    try:
        app()
    except SystemExit as exc:
        code = exc.code
    finally:
        main_profile.disable()
        with lock:
            stats = pstats.Stats(main_profile)
            for profile in profiles:
                stats.add(profile)
        stats.dump_stats(out)
    return code if isinstance(code, int) else 1


if __name__ == "__main__":
    sys.exit(main())
