"""Sizes and rates as people write them (units.py): K, M, G are powers of 1024, as in curl,
wget and aria2c; decimals as wget and curl take them; anything else is refused, saying why."""

from __future__ import annotations

import pytest

from downloader.units import parse_rate, parse_size, rate_problem

NOT_A_SIZE = "is not a size: a number of bytes with an optional K, M or G suffix (powers of 1024)"
NOT_A_RATE = "is not a rate: bytes per second with an optional K, M or G suffix (powers of 1024)"


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("0", 0),
        ("1", 1),
        ("512", 512),
        ("500K", 512_000),
        ("500k", 512_000),
        ("1M", 1_048_576),
        ("30M", 31_457_280),
        ("20m", 20_971_520),
        ("1G", 1_073_741_824),
        ("2g", 2_147_483_648),
        ("1.5M", 1_572_864),
        ("2.5k", 2_560),
        (".5K", 512),
        ("1.", 1),
        ("1.9", 1),  # a fraction of a byte is dropped
        ("0.0001M", 104),
        ("007K", 7_168),
        (" 64K\t", 65_536),  # surrounding whitespace, as a list's value or a pasted flag
        ("0.0", 0),
    ],
)
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", NOT_A_SIZE),
        ("K", NOT_A_SIZE),
        ("-1", NOT_A_SIZE),
        ("+1", NOT_A_SIZE),
        ("1KB", NOT_A_SIZE),  # aria2c and curl take no B either
        ("1KiB", NOT_A_SIZE),
        ("1T", NOT_A_SIZE),
        ("1 M", NOT_A_SIZE),
        ("1e6", NOT_A_SIZE),
        ("1_000", NOT_A_SIZE),  # Python's int() would take it
        ("1,5M", NOT_A_SIZE),
        ("1.2.3", NOT_A_SIZE),
        ("inf", NOT_A_SIZE),
        ("nan", NOT_A_SIZE),
        ("٣K", NOT_A_SIZE),  # a digit, but not an ASCII one
        ("0.5", "is less than one byte"),
        ("0.0001K", "is less than one byte"),
    ],
)
def test_parse_size_refuses_saying_why(text, why):
    with pytest.raises(ValueError) as raised:
        parse_size(text)
    assert str(raised.value) == f"{text!r} {why}" + (", e.g. 20M" if why == NOT_A_SIZE else "")


@pytest.mark.parametrize(
    ("text", "rate"),
    [("500K", 512_000), ("30M", 31_457_280), ("1", 1), ("0", None), ("0K", None), ("0.0", None)],
)
def test_parse_rate_is_bytes_per_second_and_zero_is_no_limit(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("1M", None),
        ("0", None),
        ("", None),  # in a list, an empty value is no value
        ("fast", f"'fast' {NOT_A_RATE}, e.g. 500K"),
        ("-5K", f"'-5K' {NOT_A_RATE}, e.g. 500K"),
        ("0.1", "'0.1' is less than one byte"),
    ],
)
def test_rate_problem(text, problem):
    assert rate_problem(text) == problem
