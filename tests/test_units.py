"""Sizes typed on a command line: K, M and G are powers of 1024, as in curl and aria2c."""

from __future__ import annotations

import pytest

from downloader.units import parse_size

K, M, G = 1024, 1024**2, 1024**3


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("0", 0),
        ("1", 1),
        ("1048576", M),
        ("512K", 512 * K),
        ("512k", 512 * K),
        ("20M", 20 * M),
        ("20m", 20 * M),
        ("1G", G),
        ("2g", 2 * G),
        ("1.5M", M + M // 2),
        ("0.5K", 512),
        (".5K", 512),
        ("1.K", K),
        ("0.1G", G // 10),  # rounded down to a whole byte, computed without a float
        ("1.0000001K", K),
        ("20MiB", 20 * M),  # pasted from a listing
        ("20MB", 20 * M),
        ("4kb", 4 * K),
        (" 20M ", 20 * M),
        ("20 M", 20 * M),
        ("99999999999999999999G", 99999999999999999999 * G),  # exact, however large
    ],
)
def test_sizes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "M",
        "-1",
        "-1M",
        "+1M",
        "1T",  # curl and aria2c stop at G
        "1X",
        "1 MB B",
        "1e6",
        "0x10",
        "1,5M",
        "1.5.1M",
        "1MiBs",
        "١٢",  # Arabic-Indic digits: int() would take them
        "２M",  # full-width digit
        "1_000",
    ],
)
def test_not_sizes(text):
    with pytest.raises(ValueError, match="is not a size"):
        parse_size(text)
