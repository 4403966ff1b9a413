"""`manifold test CONNECTOR`: a sandbox sync of every stream and the conformance check, reported."""

from __future__ import annotations

from .conftest import Workspace


def test_a_connector_passes_and_a_broken_one_fails_saying_where(
    workspace: Workspace, secret_key: str
) -> None:
    env = workspace.env(MANIFOLD_SECRET_KEY=secret_key)
    done = workspace.cli("test", "notion", env=env)  # an OAuth connector: connects through the sandbox
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        "ok   pages:" in done.stdout and "conformance: ok" in done.stdout and done.stdout.endswith("PASSED\n")
    )

    spec = workspace.connectors / "stripe.yaml"
    spec.write_text(spec.read_text().replace("    records: data\n", "    records: items\n", 1))
    broken = workspace.cli("test", "stripe", env=env)
    assert broken.returncode == 1
    assert "conformance: FAIL stripe" in broken.stdout and "records" in broken.stdout
    assert broken.stdout.endswith("FAILED\n")
