"""Jobs that run a round of work (the inbox drain, the notification rules): what they share.

A round's sensor starts at most one run at a time; a round's op logs its summary and first
errors and records its counts as metadata.
"""

import time
from collections.abc import Mapping

import dagster as dg

from .metadata import one_line

ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
          dg.DagsterRunStatus.STARTED]  # fmt: skip


def next_round(context: dg.SensorEvaluationContext, job: str, key: str) -> dg.RunRequest | dg.SkipReason:
    """A run request, unless a run of the job is queued or running."""
    if context.instance.get_runs(filters=dg.RunsFilter(job_name=job, statuses=ACTIVE), limit=1):
        return dg.SkipReason(f"{job} is already running")
    return dg.RunRequest(run_key=f"{key}@{time.time():.0f}")


def report_round(
    context: dg.OpExecutionContext, summary: str, errors: list[str], counts: Mapping[str, int]
) -> None:
    context.log.info(summary)
    for error in errors[:20]:
        context.log.warning(one_line(error))
    context.add_output_metadata(dict(counts))
