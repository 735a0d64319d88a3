from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from databright.datasets import DatasetSpec
from databright.datasets.summary import summarize, write_png_grid
from databright.datasets.validate import validate_arrays


def test_summary_and_png_of_digits(tmp_path: Path) -> None:
    d = load_digits()
    spec = DatasetSpec(name="digits", feature_shape=(64,), labels=tuple(range(10)))
    ds = validate_arrays(d.data[:200], d.target[:200], spec)
    s = summarize(ds)
    assert s.samples == 200 and s.feature_shape == (8, 8) and s.image_shaped
    assert sum(s.label_counts.values()) == 200 and set(s.label_counts) == set(range(10))
    assert (s.feature_min, s.feature_max) == (0.0, 16.0)
    path = write_png_grid(ds, tmp_path / "grid.png", per_label=5, scale=2)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == ((5 * 9 + 1) * 2, (10 * 9 + 1) * 2)
    idat_len = struct.unpack(">I", data[33:37])[0]
    raw = zlib.decompress(data[41:41 + idat_len])
    assert len(raw) == height * (width + 1)


def test_non_image_features_are_refused(tmp_path: Path) -> None:
    spec = DatasetSpec(name="t", feature_shape=(3,), labels=(0, 1))
    ds = validate_arrays(np.zeros((4, 3)), np.array([0, 1, 0, 1]), spec)
    assert not summarize(ds).image_shaped
    with pytest.raises(ValueError, match="not image-shaped"):
        write_png_grid(ds, tmp_path / "x.png")
