"""Which assets a connector contributes: one per stream that loads `into` a model."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import dagster as dg

from ..models import ModelSpec
from ..spec.loader import LoadedConnector
from ..spec.models import ConnectorSpec, StreamSpec


@dataclass(frozen=True)
class StreamPlan:
    """One asset to build: a stream of a connector and the model its rows land in."""

    loaded: LoadedConnector
    stream: str
    model: ModelSpec

    @property
    def spec(self) -> ConnectorSpec:
        return self.loaded.spec

    @property
    def stream_spec(self) -> StreamSpec:
        return self.spec.streams[self.stream]

    @property
    def key(self) -> dg.AssetKey:
        return dg.AssetKey([self.spec.name, self.stream])

    @property
    def table(self) -> str:
        return self.model.name

    @property
    def upstream(self) -> dg.AssetKey | None:
        """The parent stream's asset, when this is a substream of a stream that loads too."""
        parent = self.stream_spec.parent
        if parent is None or self.spec.streams[parent.stream].into is None:
            return None
        return dg.AssetKey([self.spec.name, parent.stream])

    @property
    def code_version(self) -> str:
        """Changes when the stream's spec or its model changes (Dagster then marks it changed)."""
        text = self.stream_spec.model_dump_json(by_alias=True) + self.model.model_dump_json()
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def plan_streams(loaded: LoadedConnector, models: dict[str, ModelSpec]) -> list[StreamPlan]:
    """The connector's loading streams, in spec order (parent-only streams and streams filled
    by webhooks and actions only (no request, or `poll: false`) have no asset)."""
    return [
        StreamPlan(loaded, name, models[stream.into])
        for name, stream in loaded.spec.streams.items()
        if stream.into is not None and stream.polled
    ]
