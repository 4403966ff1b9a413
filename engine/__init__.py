"""Manifold: a declarative connector engine."""
