"""OpenAI SDK: every API call recorded with one line, ``instrument_openai()``.

Shows: a plain call, a streamed call and a failed call (429) through the real ``openai`` SDK,
each recorded with model, tokens as the provider reported them, cost and error type. It runs
offline: the example starts ``llamonitor.testing.fake_provider`` (an OpenAI-compatible server on
loopback) and points the client at it; with a real key just drop ``base_url``.

Install: ``pip install "llamonitor-openai[openai]"``.
Run: ``uv run python examples/20_openai.py``
"""

import tempfile

import openai
import pyarrow.parquet as pq
from llamonitor import MonitorConfig, StorageConfig, initialize_monitoring_sync, monitoring_session, shutdown_sync
from llamonitor.testing.fake_provider import FakeProvider
from llamonitor_openai import instrument_openai, uninstrument_openai


def main(data_dir: str) -> None:
    initialize_monitoring_sync(MonitorConfig(storage=StorageConfig(backend="parquet", output_dir=data_dir)))
    instrument_openai()  # every OpenAI / AsyncOpenAI client from now on

    with FakeProvider() as fake, monitoring_session("openai-example"):
        client = openai.OpenAI(base_url=fake.openai_base_url, api_key="test", max_retries=0)
        fake.reply(text="Paris.", input_tokens=14, output_tokens=2)
        client.chat.completions.create(model="gpt-4o-mini",
                                       messages=[{"role": "user", "content": "Capital of France?"}])

        fake.reply(text="One, two, three.", input_tokens=9, output_tokens=6)
        stream = client.chat.completions.create(model="gpt-4o", stream=True,
                                                messages=[{"role": "user", "content": "Count to three"}])
        print("streamed:", "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices))

        fake.error(429, "rate limited")
        try:
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "again"}])
        except openai.RateLimitError:
            pass

    uninstrument_openai()
    shutdown_sync()

    rows = pq.ParquetDataset(data_dir).read().to_pylist()
    print(f"recorded {len(rows)} events")
    for r in sorted(rows, key=lambda r: r["start_time"]):
        usage, cost = r["usage"] or {}, r["cost"] or {}
        print(f"  {r['operation_name']} model={r['model']} tokens={usage.get('input_tokens')}+"
              f"{usage.get('output_tokens')} cost=${cost.get('total_cost_usd') or 0:.6f} error={r['error_type']}")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        main(tmp)
