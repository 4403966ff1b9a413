"""Warehouse-driven actions ("pushes"): rows of a unified model sent to a provider through one of
its actions, each created once and updated when it changes (the remote id remembered per row)."""

from .spec import PushBatch, PushResult, PushSource, PushSpec

__all__ = ["PushBatch", "PushResult", "PushSource", "PushSpec"]
