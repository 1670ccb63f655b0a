"""Per-run overhead of LlamonitorCallbackHandler on a FakeListChatModel chain (prompt | model | parser).

``uv run python bench/langchain_handler_overhead.py`` -- monitoring writes to an
in-memory backend; bare and instrumented runs are interleaved; medians of per-round means.
"""

from __future__ import annotations

import statistics
import time

import llamonitor
from langchain_core.language_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from llamonitor.backends.registry import register_backend
from llamonitor.schema.config import MonitorConfig, StorageConfig
from llamonitor.testing import InMemoryBackend
from llamonitor_langchain import LlamonitorCallbackHandler


def main(rounds: int = 15, per_round: int = 300) -> None:
    backend = InMemoryBackend()
    register_backend("bench_memory", lambda cfg: backend)
    llamonitor.initialize_monitoring_sync(MonitorConfig(storage=StorageConfig(backend="bench_memory")))
    chain = ChatPromptTemplate.from_messages([("user", "{q}")]) | FakeListChatModel(responses=["ok"]) \
        | StrOutputParser()
    handler = LlamonitorCallbackHandler()
    bare_cfg: dict[str, object] = {}
    inst_cfg: dict[str, object] = {"callbacks": [handler]}
    for _ in range(200):
        chain.invoke({"q": "x"}, config=inst_cfg)  # type: ignore[arg-type]
        chain.invoke({"q": "x"}, config=bare_cfg)  # type: ignore[arg-type]
    bare, inst = [], []
    for _ in range(rounds):
        for cfg, out in ((bare_cfg, bare), (inst_cfg, inst)):
            t0 = time.perf_counter_ns()
            for _ in range(per_round):
                chain.invoke({"q": "x"}, config=cfg)  # type: ignore[arg-type]
            out.append((time.perf_counter_ns() - t0) / per_round / 1000)
        llamonitor.flush_sync()  # outside the timed loop: drain the queue between rounds
        backend.clear()
    b, i = statistics.median(bare), statistics.median(inst)
    print(f"bare {b:.1f} us/run, with handler {i:.1f} us/run, added {i - b:.1f} us/run "
          f"({(i - b) / b * 100:.1f} %); 4 events per run")
    llamonitor.shutdown_sync()


if __name__ == "__main__":
    main()
