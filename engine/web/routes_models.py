"""(Filled in next: see the module list in app.py.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["models"])
