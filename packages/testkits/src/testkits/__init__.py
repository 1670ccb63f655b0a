"""Shared helpers of llamonitor's own tests and benchmarks (not published).

One importable package instead of test folders put on ``sys.path``: ``testkits.storage``
(event factories, server DSNs, unique tables), ``testkits.rollups``, ``testkits.fork`` (process
shapes, also run as ``python -m testkits.fork``), ``testkits.tcp_proxy`` (a cuttable TCP proxy
for outage tests), ``testkits.exporters`` (OTLP / Prometheus receivers and decoders),
``testkits.seed`` (the seed README's snippets), ``testkits.langgraph`` (a LangGraph graph on the
fake provider).
"""
