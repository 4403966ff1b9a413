"""Sensors: keep each connector's connection partitions in step with the known connections.

Not here yet: the sensor that turns queued sync requests (webhooks, "sync now" from the web
service) into runs; it lands with the control store's request queue.
"""

import dagster as dg

from ..spec.models import ConnectorSpec
from .connections import known_connections, partitions_name

SENSOR_NAME = "manifold_connections_sensor"


def missing_partitions(
    instance: dg.DagsterInstance, specs: list[ConnectorSpec]
) -> list[dg.AddDynamicPartitionsRequest]:
    """A request per connector whose known connections are not all partitions yet."""
    requests = []
    for spec in specs:
        name = partitions_name(spec)
        existing = set(instance.get_dynamic_partitions(name))
        missing = [c for c in known_connections(spec) if c not in existing]
        if missing:
            requests.append(dg.AddDynamicPartitionsRequest(partitions_def_name=name, partition_keys=missing))
    return requests


def build_connections_sensor(specs: list[ConnectorSpec]) -> dg.SensorDefinition:
    @dg.sensor(
        name=SENSOR_NAME,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Adds a partition to each enabled connector's assets for every known connection.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        requests = missing_partitions(context.instance, specs)
        if not requests:
            return dg.SkipReason("every known connection has its partitions")
        return dg.SensorResult(dynamic_partitions_requests=requests)

    return _sensor
