"""What a curator sees of a proposal's data before voting: counts, labels, statistics, pictures.

The picture is a PNG grid of example samples when features are image-shaped (2-D, or 3-D
with 1 or 3 channels). PNG is written directly (zlib + CRC), since a plotting stack would be
a large dependency for one grid of grey squares.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from databright.datasets.canonical import Array, CanonicalDataset


@dataclass(frozen=True)
class DataSummary:
    samples: int
    feature_shape: tuple[int, ...]
    label_counts: dict[int, int]
    feature_min: float
    feature_max: float
    feature_mean: float
    feature_std: float

    @property
    def image_shaped(self) -> bool:
        s = self.feature_shape
        return len(s) == 2 or (len(s) == 3 and s[-1] in (1, 3))


def summarize(ds: CanonicalDataset) -> DataSummary:
    labels, counts = np.unique(ds.y, return_counts=True)
    x = ds.x.astype(np.float64)
    shape = tuple(int(d) for d in ds.x.shape[1:])
    if len(shape) == 1:
        side = round(shape[0] ** 0.5)
        shape = (side, side) if side * side == shape[0] else shape
    return DataSummary(
        samples=ds.n, feature_shape=shape,
        label_counts={int(k): int(v) for k, v in zip(labels, counts, strict=True)},
        feature_min=float(x.min()), feature_max=float(x.max()),
        feature_mean=float(x.mean()), feature_std=float(x.std()),
    )


def write_png_grid(ds: CanonicalDataset, path: Path, per_label: int = 8, scale: int = 4) -> Path:
    """A grid with one row per label and up to `per_label` examples of it, scaled up `scale` times.

    Square flat features (64 → 8x8) are shown as images too.
    """
    shape = summarize(ds).feature_shape
    if not (len(shape) == 2 or (len(shape) == 3 and shape[-1] in (1, 3))):
        raise ValueError(f"features of shape {shape} are not image-shaped")
    h, w = shape[0], shape[1]
    images = ds.x.reshape(ds.n, h, w, -1).astype(np.float64)
    lo, hi = float(images.min()), float(images.max())
    images = (images - lo) / (hi - lo or 1.0)
    labels = sorted({int(v) for v in ds.y})
    pad = 1
    grid = np.ones((len(labels) * (h + pad) + pad, per_label * (w + pad) + pad, images.shape[-1]))
    for r, label in enumerate(labels):
        for c, i in enumerate(np.flatnonzero(ds.y == label)[:per_label]):
            top, left = pad + r * (h + pad), pad + c * (w + pad)
            grid[top:top + h, left:left + w] = 1.0 - images[i]  # dark ink on white
    pixels = np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)
    _write_png(path, (pixels * 255).round().astype(np.uint8))
    return path


def _write_png(path: Path, pixels: Array) -> None:
    height, width, channels = pixels.shape
    colour = {1: 0, 3: 2}[channels]
    raw = b"".join(b"\x00" + pixels[row].tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
                     + chunk(b"IEND", b""))
