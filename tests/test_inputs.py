"""Tables for URL list parsing: what is skipped, what is rejected and why, and laziness."""

import io
import itertools

import pytest
import yarl

from downloader.inputs import (
    _SIMPLE_URL,
    MAX_URL_LENGTH,
    ListEntry,
    _check_parsed,
    check_url,
    entries_from_urls,
)
from downloader.listformat import parse_lines


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://example.com/file.bin", None),
        ("https://example.com/a/b?x=1#frag", None),
        ("HTTPS://Example.COM/x", None),  # scheme is case-insensitive
        ("http://[::1]:8080/x", None),
        ("http://h:65535/", None),
        ("http://bücher.example/ü", None),  # non-ASCII is the client's job to encode
        ("ftp://example.com/file", "not an http or https URL"),
        ("file:///etc/passwd", "not an http or https URL"),
        ("example.com/x", "not an http or https URL"),  # no scheme
        ("localhost:8080/x", "not an http or https URL"),  # parses as scheme "localhost"
        ("http://", "no host in URL"),
        ("http://:80/x", "no host in URL"),
        ("http://user@/x", "no host in URL"),
        ("http://h:99999/", "invalid port"),
        ("http://h:abc/", "invalid port"),
        ("http://[::1/x", "malformed URL"),
        ("http://example.com/a b", "URL contains whitespace"),
        ("http://example.com/a\tb", "URL contains whitespace"),
        ("http://exa\nmple.com/", "URL contains whitespace"),
        ("http://example.com/\u00a0", "URL contains whitespace"),
        ("http://example.com/\x00", "URL contains control characters"),
        ("http://example.com/\x7f", "URL contains control characters"),
        ("", "empty URL"),
        ("http://h/" + "a" * (MAX_URL_LENGTH - 9), None),  # exactly at the limit
        ("http://h/" + "a" * (MAX_URL_LENGTH - 8), "URL too long"),
    ],
)
def test_check_url(url, reason):
    assert check_url(url) == reason


@pytest.mark.parametrize(
    "url",
    [
        "http://h",
        "HTTP://h/",
        "https://a.b-c.example:8443/p?q=1#f",
        "http://h:0/",
        "http://h:00080",
        "http://h:65535/",
        "http://h:65536/",
        "http://h:99999?x",
        "http://h#frag",
        "http://h/@evil.example/",
        "https://1.2.3.4:80/x",
        "http://h.:80/",
    ],
)
def test_fast_path_agrees_with_urlsplit(url):
    # These URLs take the regex fast path; the general path must give the same verdict.
    assert _SIMPLE_URL.fullmatch(url) is not None
    assert check_url(url) == _check_parsed(url)


def test_parse_lines_skips_blanks_and_comments_and_keeps_physical_line_numbers():
    text = (
        "\ufeffhttp://a/1\r\n"  # BOM and CRLF from a Windows editor
        "\r\n"
        "# a comment\r\n"
        "   # an indented comment\n"
        "  https://b/2  \n"
        "\t\n"
        "ftp://c/3\n"
        "http://d/4#not-a-comment"
    )
    assert list(parse_lines(io.StringIO(text))) == [
        ListEntry(1, "http://a/1", None),
        ListEntry(5, "https://b/2", None),
        ListEntry(7, "ftp://c/3", "not an http or https URL"),
        ListEntry(8, "http://d/4#not-a-comment", None),
    ]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([], []),
        (["\n", "   \n", "#x\n"], []),
        (["\ufeff\n", "http://h/\n"], [ListEntry(2, "http://h/", None)]),  # BOM-only line 1
        (["\ufeff# comment\n"], []),  # BOM before a comment still makes it a comment
        # A BOM after line 1 is not stripped: it is garbage inside the line, so rejected.
        (
            ["http://a/\n", "\ufeffhttp://b/\n"],
            [
                ListEntry(1, "http://a/", None),
                ListEntry(2, "\ufeffhttp://b/", "not an http or https URL"),
            ],
        ),
    ],
)
def test_parse_lines_edge_cases(lines, expected):
    assert list(parse_lines(lines)) == expected


def test_parse_lines_reports_invalid_lines_without_stopping():
    entries = list(parse_lines(["example.com/x", "http://", "http://ok/", "http://h:99999/"]))
    assert [(e.line_no, e.error) for e in entries] == [
        (1, "not an http or https URL"),
        (2, "no host in URL"),
        (3, None),
        (4, "invalid port"),
    ]


def test_parse_lines_is_lazy_over_an_endless_source():
    endless = (f"http://host/{i}\n" for i in itertools.count())
    first = list(itertools.islice(parse_lines(endless), 3))
    assert [e.url for e in first] == ["http://host/0", "http://host/1", "http://host/2"]
    # One line read ahead, no more: an item is complete only once the next item line came
    # (its option lines may follow it).
    assert next(endless) == "http://host/4\n"


@pytest.mark.parametrize(
    ("urls", "expected"),
    [
        (
            ["http://a/", " https://b/ \n", yarl.URL("http://c/x")],
            [
                ListEntry(1, "http://a/", None),
                ListEntry(2, "https://b/", None),
                ListEntry(3, "http://c/x", None),
            ],
        ),
        # Positions stay aligned with the input: '#' and empty items are entries too.
        (
            ["#http://a/", "", "  "],
            [
                ListEntry(1, "#http://a/", "not an http or https URL"),
                ListEntry(2, "", "empty URL"),
                ListEntry(3, "", "empty URL"),
            ],
        ),
    ],
)
def test_entries_from_urls(urls, expected):
    assert list(entries_from_urls(urls)) == expected


def test_entries_from_urls_is_lazy():
    endless = (f"http://host/{i}" for i in itertools.count())
    assert [e.line_no for e in itertools.islice(entries_from_urls(endless), 2)] == [1, 2]
