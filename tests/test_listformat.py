"""Tables for aria2c input files (listformat.py): mirrors, option lines, warnings, errors,
and the rules of aria2c's own reader that surprise (src/UriListParser.cc, OptionParser.cc)."""

from __future__ import annotations

import itertools

import pytest

from downloader.inputs import ListEntry, checksum_problem, entries_from_urls, item_problem
from downloader.items import Item
from downloader.listformat import MAX_OPTION_LINES, ListParser, counts_as_item, parse_lines

A, B, C = "http://a.example/f.bin", "http://b.example/f.bin", "https://c.example:8443/f.bin"
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
NOT_A_RATE = (
    "is not a rate: bytes per second with an optional K, M or G suffix (powers of 1024), e.g. 500K"
)


def parse(text: str) -> tuple[list[ListEntry], list[tuple[int, str]]]:
    warnings: list[tuple[int, str]] = []
    entries = list(
        parse_lines(text.splitlines(keepends=True), lambda n, m: warnings.append((n, m)))
    )
    return entries, warnings


def item(**fields) -> Item:
    return Item(url=A, **fields)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A plain list stays a plain list: no Item, nothing changed.
        (f"{A}\n{B}\n", [ListEntry(1, A, None), ListEntry(2, B, None)]),
        # TAB separates mirrors of one file; each URI is stripped, empty fields dropped.
        (f"{A}\t{B}\n", [ListEntry(1, A, None, Item(url=A, mirrors=(B,)))]),
        (f"{A}\t\t {B} \t\n", [ListEntry(1, A, None, Item(url=A, mirrors=(B,)))]),
        (f"{A}\t{B}\t{C}\n", [ListEntry(1, A, None, Item(url=A, mirrors=(B, C)))]),
        # Spaces do not separate URIs: the line is one URL, and a bad one.
        (f"{A} {B}\n", [ListEntry(1, f"{A} {B}", "URL contains whitespace")]),
        # A bad mirror fails the item, naming which.
        (
            f"{A}\tftp://b/x\n",
            [ListEntry(1, A, "mirror 2 'ftp://b/x': not an http or https URL")],
        ),
        # Options: a space or a TAB starts the line; key and value are stripped.
        (f"{A}\n  out=a.bin\n", [ListEntry(1, A, None, item(name="a.bin"))]),
        (f"{A}\n\tout = a.bin \r\n", [ListEntry(1, A, None, item(name="a.bin"))]),
        # Values are literal: no quoting, split at the first '=' only.
        (f'{A}\n out="a b.bin"\n', [ListEntry(1, A, None, item(name='"a b.bin"'))]),
        (f"{A}\n header=X-Q: a=b\n", [ListEntry(1, A, None, item(headers=("X-Q: a=b",)))]),
        # Blank lines and comments between an item and its options do not end them (aria2c).
        (f"{A}\n\n# note\n   \n  dir=d\n", [ListEntry(1, A, None, item(subdir="d"))]),
        # A repeated key: the last one wins; header adds one header per line.
        (f"{A}\n out=x\n out=y\n", [ListEntry(1, A, None, item(name="y"))]),
        (
            f"{A}\n header=X-A: 1\n header=X-B: 2\n",
            [ListEntry(1, A, None, item(headers=("X-A: 1", "X-B: 2")))],
        ),
        # An empty value is no value (the URL's own name, the batch's referer...).
        (f"{A}\n out=\n referer=\n", [ListEntry(1, A, None, None)]),
        # Checksum type and digest are read case-insensitively and kept in lower case.
        (
            f"{A}\n checksum=SHA-256={SHA256.upper()}\n",
            [ListEntry(1, A, None, item(checksum=f"sha-256={SHA256}"))],
        ),
        (
            f"{A}\n referer=https://r.example/\n user-agent=ua/1\n",
            [ListEntry(1, A, None, item(referer="https://r.example/", user_agent="ua/1"))],
        ),
        (
            f"{A}\n http-user=alice\n http-passwd=p:w=d\n",
            [ListEntry(1, A, None, item(user="alice:p:w=d"))],
        ),
        (f"{A}\n http-user=alice\n", [ListEntry(1, A, None, item(user="alice:"))]),
        # The item ends at the next item line; the options after it are the next item's.
        (
            f"{A}\n out=1\n{B}\n out=2\n",
            [
                ListEntry(1, A, None, item(name="1")),
                ListEntry(3, B, None, Item(url=B, name="2")),
            ],
        ),
        # adl: an indented URL is an item, as in a plain list (aria2c: an unknown option).
        (f"{A}\n  {B}\n", [ListEntry(1, A, None), ListEntry(2, B, None)]),
        (f"  {A}\t{B}\n", [ListEntry(1, A, None, Item(url=A, mirrors=(B,)))]),
        # adl: an indented '#' is a comment too (aria2c: only in column 1).
        (f"{A}\n  # out=x\n", [ListEntry(1, A, None)]),
        # max-download-limit=RATE caps the item's speed: K, M, G are powers of 1024; 0 is
        # no limit (aria2c's meaning), and so is an empty value.
        (f"{A}\n max-download-limit=500K\n", [ListEntry(1, A, None, item(limit_rate=512000))]),
        (f"{A}\n max-download-limit=1.5m\n", [ListEntry(1, A, None, item(limit_rate=1572864))]),
        (f"{A}\n max-download-limit=2048\n", [ListEntry(1, A, None, item(limit_rate=2048))]),
        (f"{A}\n max-download-limit=0\n", [ListEntry(1, A, None, item())]),
        (f"{A}\n max-download-limit=\n", [ListEntry(1, A, None)]),
        # split=N: connections for this file (segments.py).
        (f"{A}\n split=4\n", [ListEntry(1, A, None, item(split=4))]),
        (f"{A}\n split=16\n", [ListEntry(1, A, None, item(split=16))]),
        # A BOM on line 1 is dropped; CRLF line ends are fine.
        (f"\ufeff{A}\r\n out=a\r\n", [ListEntry(1, A, None, item(name="a"))]),
    ],
)
def test_aria2c_rules(text, expected):
    entries, warnings = parse(text)
    assert entries == expected
    assert warnings == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # An option line with no item above it (aria2c would read it as a URI line).
        (" out=a\n", ListEntry(1, "out=a", "an option line with no item above it")),
        ("# list\n\n\tdir=d\n", ListEntry(3, "dir=d", "an option line with no item above it")),
        # Malformed option lines fail their item, with the option's line number.
        (f"{A}\n out\n", ListEntry(2, A, "bad option line 'out': expected key=value")),
        (f"{A}\n =x\n", ListEntry(2, A, "bad option line '=x': expected key=value")),
        (
            f"{A}\n\n not a url\n",
            ListEntry(3, A, "bad option line 'not a url': expected key=value"),
        ),
        # Values that cannot be used as asked fail their item too.
        (
            f"{A}\n out=../x\n",
            ListEntry(2, A, "out=../x: contains '..': the file must stay inside the output folder"),
        ),
        (
            f"{A}\n dir=/etc\n",
            ListEntry(
                2, A, "dir=/etc: is an absolute path: give a path relative to the output folder"
            ),
        ),
        (
            f"{A}\n checksum=sha-256=abc\n",
            ListEntry(2, A, "checksum=sha-256=abc: sha256 has 64 hex digits, not 3"),
        ),
        (
            f"{A}\n checksum=adler32=0a0b0c0d\n",
            ListEntry(
                2,
                A,
                "checksum=adler32=0a0b0c0d: unsupported algorithm 'adler32' "
                "(known: md5, sha-1, sha-224, sha-256, sha-384, sha-512)",
            ),
        ),
        (
            f"{A}\n header=no colon\n",
            ListEntry(
                2, A, "header=no colon: header 'no colon' has no colon: write it as 'Name: value'"
            ),
        ),
        (
            f"{A}\n header=Range: bytes=0-\n",
            ListEntry(
                2,
                A,
                "header=Range: bytes=0-: header 'Range' cannot be set with -H: adl sets it "
                "to resume partial files",
            ),
        ),
        (f"{A}\n http-passwd=x\n", ListEntry(1, A, "http-passwd without http-user")),
        (
            f"{A}\n max-download-limit=fast\n",
            ListEntry(2, A, f"max-download-limit=fast: 'fast' {NOT_A_RATE}"),
        ),
        (
            f"{A}\n max-download-limit=-1M\n",
            ListEntry(2, A, f"max-download-limit=-1M: '-1M' {NOT_A_RATE}"),
        ),
        (
            f"{A}\n max-download-limit=0.5\n",
            ListEntry(2, A, "max-download-limit=0.5: '0.5' is less than one byte"),
        ),
        # The first bad option decides; the item's later options do not matter.
        (
            f"{A}\n out=/x\n out=../y\n",
            ListEntry(
                2, A, "out=/x: is an absolute path: give a path relative to the output folder"
            ),
        ),
    ],
)
def test_errors_name_their_line(text, expected):
    entries, _ = parse(text)
    assert entries == [expected]


def test_a_bad_item_line_keeps_its_options_to_itself():
    entries, warnings = parse(f"ftp://x/y\n out=a\n bogus=1\n{B}\n")
    assert entries == [
        ListEntry(1, "ftp://x/y", "not an http or https URL"),
        ListEntry(4, B, None),
    ]
    assert warnings == []  # the failed item's options are not even looked at


def test_unknown_keys_warn_with_their_line_and_the_item_downloads():
    entries, warnings = parse(f"{A}\n OUT=x\n colour=blue\n")
    assert entries == [ListEntry(1, A, None)]
    assert warnings == [
        (2, "unknown option 'OUT' ignored"),  # keys are case-sensitive, as in aria2c
        (3, "unknown option 'colour' ignored"),
    ]


@pytest.mark.parametrize("value", ["0", "17", "-1", "four", "4.0", "٤", "1e1", "+4"])
def test_a_split_that_is_not_1_to_16_fails_its_item_with_its_line(value):
    entries, _ = parse(f"{A}\n out=a\n split={value}\n")
    assert entries == [ListEntry(3, A, f"split={value}: expected a whole number from 1 to 16")]


def test_messages_never_quote_a_password():
    entries, warnings = parse(
        f"{A}\n http-password=hunter2\n{B}\n http-passwd hunter2\n{C}\n"
        " http-user=u\n http-passwd=hunter2\0\n"
    )
    assert warnings == [(2, "unknown option 'http-password' ignored")]
    assert [e.error for e in entries] == [
        None,
        "bad option line http-passwd: expected key=value",
        "http-passwd=***: contains a line break or NUL",
    ]


def test_an_item_with_too_many_option_lines_fails_without_growing():
    lines = [A] + [" header=X-A: 1"] * (MAX_OPTION_LINES + 5) + [B]
    entries, _ = parse("\n".join(lines))
    assert entries == [
        ListEntry(MAX_OPTION_LINES + 2, A, f"more than {MAX_OPTION_LINES} option lines"),
        ListEntry(MAX_OPTION_LINES + 7, B, None),
    ]


def test_a_pause_completes_the_item_and_later_option_lines_are_orphans():
    parser = ListParser()
    assert parser.feed(1, A) is None
    assert parser.feed(2, " out=a") is None
    assert parser.flush(pause=True) == ListEntry(1, A, None, item(name="a"))
    assert parser.feed(3, " dir=d") == ListEntry(
        3,
        "dir=d",
        "an option line with no item above it "
        "(on a pipe, an item's option lines must come with it)",
    )
    assert parser.feed(4, B) is None
    assert parser.feed(5, " out=b") is None
    assert parser.flush() == ListEntry(4, B, None, Item(url=B, name="b"))
    assert parser.flush() is None


def test_parsing_is_lazy_and_keeps_one_item():
    pairs = ((f"http://host/{i}\n", f" out=f{i}\n") for i in itertools.count())
    endless = itertools.chain.from_iterable(pairs)
    first = list(itertools.islice(parse_lines(endless), 3))
    assert [e.item.name for e in first if e.item] == ["f0", "f1", "f2"]
    assert next(endless) == " out=f3\n"  # the 4th item's line completed the 3rd, no more


@pytest.mark.parametrize(
    ("line", "counted"),
    [
        (b"http://a/x\n", True),
        (b"http://a/x\thttp://b/x\n", True),
        (b"  http://a/x\n", True),
        (b"\tHTTPS://a/x\n", True),
        (b"not-a-url\n", True),  # a bad item is still an item (a failed file)
        (b"  out=x\n", False),
        (b"\tdir=d\n", False),
        (b"# c\n", False),
        (b"   # c\n", False),
        (b"\n", False),
        (b"  \r\n", False),
    ],
)
def test_counts_as_item(line, counted):
    assert counts_as_item(line) is counted


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (f"sha-256={SHA256}", None),
        (f" SHA-256 = {SHA256.upper()} ", None),
        ("md5=" + "0" * 32, None),
        ("sha-1=" + "a" * 40, None),
        ("sha-224=" + "a" * 56, None),
        ("sha-384=" + "a" * 96, None),
        ("sha-512=" + "a" * 128, None),
        ("md5=" + "0" * 31, "md5 has 32 hex digits, not 31"),
        ("md5=" + "g" * 32, f"{'g' * 20!r} is not a hex digest"),
        (SHA256, f"{SHA256[:40]!r} is not ALGORITHM=HEX (e.g. sha-256=9f86d0...)"),
        ("", "'' is not ALGORITHM=HEX (e.g. sha-256=9f86d0...)"),
        ("sha256=" + SHA256, None),  # integrity.py also takes sha256= and sha256:
        ("crc32=" + "0" * 8, "unsupported algorithm 'crc32' (known: md5, sha-1, sha-224, "
         "sha-256, sha-384, sha-512)"),
    ],
)  # fmt: skip
def test_checksum_problem(text, problem):
    assert checksum_problem(text) == problem


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        (Item(url=A), None),
        (Item(url=A, mirrors=(B,), name="x", subdir="d/e", headers=("X-A: 1",)), None),
        (Item(url=A, user="u:p", referer="*", user_agent="ua"), None),
        (Item(url="ftp://a/x"), "not an http or https URL"),
        (Item(url=A, mirrors=("nope",)), "mirror 'nope': not an http or https URL"),
        (Item(url=A, mirrors=B), "mirrors must be a tuple of strings, not a str"),  # type: ignore[arg-type]
        (Item(url=A, headers="X-A: 1"), "headers must be a tuple of strings, not a str"),  # type: ignore[arg-type]
        (Item(url=A, name="../x"), "out: contains '..': the file must stay inside the output "
         "folder"),
        (Item(url=A, subdir="/abs"), "dir: is an absolute path: give a path relative to the "
         "output folder"),
        (Item(url=A, name="a\0b"), "out: contains a NUL character"),
        (Item(url=A, checksum="md5=1"), "checksum: md5 has 32 hex digits, not 1"),
        (Item(url=A, user="alice"), "user: expected USER:PASSWORD"),
        (Item(url=A, referer="a\nb"), "referer: contains a line break or NUL"),
        (Item(url=A, name=5), "out: not a str"),  # type: ignore[arg-type]
        (Item(url=A, limit_rate=1), None),
        (Item(url=A, limit_rate=0), "limit_rate must be a whole number of bytes per second > 0, "
         "not 0"),
        (Item(url=A, limit_rate="1M"), "limit_rate must be a whole number of bytes per second "
         "> 0, not '1M'"),  # type: ignore[arg-type]
        (Item(url=A, limit_rate=True), "limit_rate must be a whole number of bytes per second "
         "> 0, not True"),
        (Item(url=A, split=16), None),
        (Item(url=A, split=0), "split: expected a whole number from 1 to 16, not 0"),
        (Item(url=A, split=17), "split: expected a whole number from 1 to 16, not 17"),
        (Item(url=A, split=True), "split: expected a whole number from 1 to 16, not True"),  # type: ignore[arg-type]
        (Item(url=A, split="4"), "split: expected a whole number from 1 to 16, not '4'"),  # type: ignore[arg-type]
    ],
)  # fmt: skip
def test_item_problem(given, problem):
    assert item_problem(given) == problem


def test_library_items_and_urls_mix_in_input_order():
    given = [A, Item(url=B, name="b.bin"), Item(url="nope")]
    assert list(entries_from_urls(given)) == [
        ListEntry(1, A, None),
        ListEntry(2, B, None, Item(url=B, name="b.bin")),
        ListEntry(3, "nope", "not an http or https URL", Item(url="nope")),
    ]
