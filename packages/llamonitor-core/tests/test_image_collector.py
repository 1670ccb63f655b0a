"""The ``image`` collector reads sizes from headers, never decoding pixels."""

from __future__ import annotations

import base64
import struct
import zlib

from llamonitor.instrumentation.collectors.image import ImageCollector


def png(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk + b"\x00" * 20


def gif(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00" * 10


class FakePILImage:
    """Duck-typed like PIL.Image.Image: .size, .format, .getpixel."""

    size = (640, 480)
    format = "JPEG"

    def getpixel(self, xy: tuple[int, int]) -> int:
        return 0


def collect(*values: object, result: object = None) -> dict[str, object]:
    return ImageCollector().collect(result, values, {}, {})


def test_counts_png_gif_data_urls_and_pil_images() -> None:
    data_url = "data:image/png;base64," + base64.b64encode(png(10, 20)).decode()
    out = collect(png(100, 50), {"content": [{"type": "image_url", "image_url": {"url": data_url}}]},
                  FakePILImage(), result=[gif(3, 4)])
    metrics = out["image_metrics"]
    assert metrics.image_count == 4  # type: ignore[attr-defined]
    assert metrics.total_pixels == 100 * 50 + 10 * 20 + 640 * 480 + 3 * 4  # type: ignore[attr-defined]
    assert metrics.formats == "gif,jpeg,png"  # type: ignore[attr-defined]


def test_no_images_contributes_nothing_and_cycles_terminate() -> None:
    cyclic: dict[str, object] = {"text": "hello"}
    cyclic["self"] = cyclic
    assert collect("plain text", b"not an image", cyclic, result={"x": 1}) == {}
