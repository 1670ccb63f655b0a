"""The ``image`` collector: counts images in a call's arguments and result.

Recognises PIL images (duck-typed: ``.size`` and ``.format``), raw image bytes (PNG / JPEG /
GIF / WebP signatures, size read from the header), ``data:image/...;base64,`` URLs and
OpenAI-style ``{"type": "image_url", ...}`` blocks, also inside a result object's ``.images``
list. Never decodes pixel data.
"""

from __future__ import annotations

import base64
import binascii
import struct
from typing import Any

from llamonitor.instrumentation.base import MetricCollector
from llamonitor.schema.events import ImageMetrics

_MAX_ITEMS = 10_000
_MAX_DEPTH = 20


def _bytes_info(data: bytes) -> tuple[str, int, int] | None:
    """(format, width, height) from an image header, or ``None``."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        return "png", w, h
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        w, h = struct.unpack("<HH", data[6:10])
        return "gif", w, h
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        if data[12:16] == b"VP8X":
            w = int.from_bytes(data[24:27], "little") + 1
            h = int.from_bytes(data[27:30], "little") + 1
            return "webp", w, h
        return "webp", 0, 0
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker in (0xC0, 0xC1, 0xC2):
                h, w = struct.unpack(">HH", data[i + 5:i + 9])
                return "jpeg", w, h
            seg = struct.unpack(">H", data[i + 2:i + 4])[0]
            i += 2 + seg
        return "jpeg", 0, 0
    return None


class ImageCollector(MetricCollector):
    """Counts images, pixels and encoded bytes."""

    @property
    def metric_type(self) -> str:
        return "image"

    def collect(self, result: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                context: dict[str, Any]) -> dict[str, Any]:
        acc = {"count": 0, "pixels": 0, "bytes": 0, "formats": set()}  # type: dict[str, Any]
        seen: set[int] = set()
        budget = [_MAX_ITEMS]
        for value in (*args, *kwargs.values(), result):
            self._walk(value, acc, seen, 0, budget)
        if not acc["count"]:
            return {}
        return {"image_metrics": ImageMetrics(image_count=acc["count"], total_pixels=acc["pixels"],
                                              file_size_bytes=acc["bytes"],
                                              formats=",".join(sorted(acc["formats"])) or None)}

    def _add(self, acc: dict[str, Any], fmt: str, w: int, h: int, size: int) -> None:
        acc["count"] += 1
        acc["pixels"] += max(0, w) * max(0, h)
        acc["bytes"] += size
        if fmt:
            acc["formats"].add(fmt.lower())

    def _walk(self, value: Any, acc: dict[str, Any], seen: set[int], depth: int, budget: list[int]) -> None:
        budget[0] -= 1
        if budget[0] < 0 or depth > _MAX_DEPTH or value is None:
            return
        if isinstance(value, (bytes, bytearray, memoryview)):
            data = bytes(value[:65536])
            info = _bytes_info(data)
            if info:
                self._add(acc, info[0], info[1], info[2], len(value))
            return
        if isinstance(value, str):
            if value.startswith("data:image/") and ";base64," in value:
                header, _, payload = value.partition(";base64,")
                try:
                    raw = base64.b64decode(payload[:87384], validate=False)
                except (binascii.Error, ValueError):
                    raw = b""
                info = _bytes_info(raw)
                width, height = (info[1], info[2]) if info else (0, 0)
                self._add(acc, header[len("data:image/"):], width, height, len(payload) * 3 // 4)
            return
        if isinstance(value, (int, float, bool)):
            return
        if id(value) in seen:
            return
        seen.add(id(value))
        size = getattr(value, "size", None)
        fmt = getattr(value, "format", None)
        if isinstance(size, tuple) and len(size) == 2 and hasattr(value, "getpixel"):
            self._add(acc, str(fmt or "pil"), int(size[0]), int(size[1]), 0)
            return
        if isinstance(value, dict):
            for item in value.values():
                self._walk(item, acc, seen, depth + 1, budget)
        elif isinstance(value, (list, tuple, set, frozenset)):
            for item in value:
                self._walk(item, acc, seen, depth + 1, budget)
        else:
            # Result objects carrying their images in ``.images`` (the seed's extraction pattern).
            try:
                images = getattr(value, "images", None)
            except Exception:  # a property that fails is not ours to raise
                images = None
            if isinstance(images, (list, tuple)):
                self._walk(images, acc, seen, depth + 1, budget)
