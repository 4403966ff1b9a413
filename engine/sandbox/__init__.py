"""The offline sandbox: a local HTTP server emulating providers' paging protocols.

    from engine.sandbox import Sandbox
    with Sandbox([(spec, Path("connectors/stripe.yaml"))]) as sandbox:
        base_url = sandbox.base_url_for("stripe", "https://api.stripe.com/v1")

Run it alone with `python -m engine.sandbox --connectors connectors/`.
"""

from engine.sandbox.faults import FaultRule
from engine.sandbox.protocols import PROTOCOLS
from engine.sandbox.server import Sandbox

__all__ = ["PROTOCOLS", "FaultRule", "Sandbox"]
