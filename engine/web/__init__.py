"""`manifold serve`: the web service (FastAPI on uvicorn) over the engine.

from engine.web import ServiceSettings, create_app
app = create_app(ServiceSettings.from_env())
"""

from .app import create_app
from .service import Service
from .settings import ServiceSettings

__all__ = ["Service", "ServiceSettings", "create_app"]
