"""A Celery app monitored the README way, for the Celery prefork end-to-end test.

The worker's main process imports this module (``initialize_monitoring`` runs there), then
forks its prefork pool (billiard): the shape in which pool processes used to lose every event.
Broker and result backend: the machine's Redis on loopback (``LLAMONITOR_TEST_REDIS``).
"""

from __future__ import annotations

import os

import llamonitor
from celery import Celery
from llamonitor import MonitorConfig, StorageConfig, monitor_llm

OUT = os.environ["LLAMONITOR_TEST_OUT"]
REDIS = os.environ.get("LLAMONITOR_TEST_REDIS", "redis://127.0.0.1:6379/0")

app = Celery("llamonitor_celery_test", broker=REDIS, backend=REDIS)
app.conf.task_default_queue = os.environ.get("LLAMONITOR_TEST_QUEUE", "llamonitor-test")
app.conf.worker_hijack_root_logger = False

llamonitor.initialize_monitoring_sync(MonitorConfig(
    storage=StorageConfig(backend="parquet", output_dir=os.path.join(OUT, "data"), flush_interval_seconds=30.0),
    spill_dir=os.path.join(OUT, "spill")))


@monitor_llm("summarise", custom_attributes={"model": "gpt-4o-mini"})
def summarise(text: str) -> str:
    return text[:10]


@app.task(name="summarise")
def summarise_task(text: str) -> int:
    summarise(text)
    return os.getpid()
