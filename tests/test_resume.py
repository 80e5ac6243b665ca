"""Tables for the resume rules: validators, Range headers, Content-Range and every decision."""

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from downloader.resume import (
    Action,
    ResumeDecision,
    Validators,
    decide,
    expected_body_length,
    if_range_value,
    parse_content_range,
    request_headers,
    validators_from_headers,
)

STRONG = '"abc123"'
WEAK = 'W/"abc123"'
DATE = "Wed, 21 Oct 2015 07:28:00 GMT"
MIB = 1 << 20


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"ETag": STRONG, "Last-Modified": DATE}, Validators(STRONG, DATE)),
        ({"etag": STRONG, "last-modified": DATE}, Validators(STRONG, DATE)),  # plain dict
        ({"ETAG": WEAK}, Validators(WEAK, None)),
        ({"Last-Modified": f"  {DATE} "}, Validators(None, DATE)),
        ({"ETag": "", "Last-Modified": "  "}, Validators(None, None)),  # empty = absent
        ({"Content-Type": "text/plain"}, Validators(None, None)),
        ({}, Validators()),
        (
            CIMultiDictProxy(CIMultiDict({"etag": STRONG, "LAST-MODIFIED": DATE})),
            Validators(STRONG, DATE),
        ),
    ],
)
def test_validators_from_headers(headers, expected):
    assert validators_from_headers(headers) == expected


@pytest.mark.parametrize(
    ("validators", "expected"),
    [
        (Validators(STRONG, DATE), STRONG),  # ETag preferred
        (Validators(STRONG, None), STRONG),
        (Validators(WEAK, DATE), DATE),  # weak ETag never used: Last-Modified fallback
        (Validators(WEAK, None), None),
        (Validators(None, DATE), DATE),
        (Validators(None, None), None),
    ],
)
def test_if_range_value(validators, expected):
    assert if_range_value(validators) == expected


@pytest.mark.parametrize(
    ("offset", "validators", "expected"),
    [
        (0, Validators(STRONG, DATE), {}),  # nothing to resume
        (100, Validators(STRONG, DATE), {"Range": "bytes=100-", "If-Range": STRONG}),
        (100, Validators(WEAK, DATE), {"Range": "bytes=100-", "If-Range": DATE}),
        (100, Validators(None, DATE), {"Range": "bytes=100-", "If-Range": DATE}),
        (100, Validators(WEAK, None), {}),  # no usable validator: refuse to resume blind
        (100, Validators(), {}),
    ],
)
def test_request_headers(offset, validators, expected):
    assert request_headers(offset, validators) == expected


def test_request_headers_rejects_negative_offset():
    with pytest.raises(ValueError, match="offset"):
        request_headers(-1, Validators(STRONG))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bytes 100-199/1000", (100, 199, 1000)),
        ("bytes 100-199/*", (100, 199, None)),
        ("bytes */1000", (None, None, 1000)),
        ("bytes */0", (None, None, 0)),
        ("bytes 0-0/1", (0, 0, 1)),
        ("BYTES 100-199/1000", (100, 199, 1000)),
        ("  bytes  100 - 199 / 1000 ", (100, 199, 1000)),
        (None, None),
        ("", None),
        ("bytes", None),
        ("bytes */*", None),
        ("bytes 100-/1000", None),
        ("bytes -199/1000", None),
        ("bytes 200-100/1000", None),  # end before start
        ("bytes 100-1000/1000", None),  # end must be below the total
        ("bytes 100-199/100", None),
        ("items 100-199/1000", None),
        ("bytes=100-199/1000", None),
        ("bytes100-199/1000", None),
        ("bytes 1x-199/1000", None),
        ("bytes -1-199/1000", None),
        ("bytes ١-٢/٣", None),  # non-ASCII digits
    ],
)
def test_parse_content_range(value, expected):
    assert parse_content_range(value) == expected


KNOWN = Validators(STRONG, DATE)  # what the journal stored with a 1 MiB .part of a 4 MiB file


def _decide(status, headers, offset=MIB, known=KNOWN, known_total=4 * MIB):
    return decide(status, headers, offset=offset, known=known, known_total=known_total)


@pytest.mark.parametrize(
    ("status", "headers", "kwargs", "action", "total", "reason_part"),
    [
        # 200: whole body, whatever we asked for.
        (200, {"Content-Length": "4194304"}, {}, Action.WRITE_FROM_ZERO, 4 * MIB, "Range ignored"),
        (200, {"Content-Length": "10"}, {"offset": 0}, Action.WRITE_FROM_ZERO, 10, "full"),
        (200, {}, {}, Action.WRITE_FROM_ZERO, None, "Range ignored"),
        (200, {"Content-Length": "ten"}, {}, Action.WRITE_FROM_ZERO, None, ""),
        # 206 consistent with the .part: append.
        (
            206,
            {"Content-Range": f"bytes {MIB}-{4 * MIB - 1}/{4 * MIB}", "ETag": STRONG},
            {},
            Action.APPEND,
            4 * MIB,
            "resuming",
        ),
        (206, {"Content-Range": f"bytes {MIB}-{MIB + 9}/*"}, {}, Action.APPEND, None, ""),
        (  # total unknown before: nothing to compare
            206,
            {"Content-Range": f"bytes {MIB}-{2 * MIB - 1}/{2 * MIB}"},
            {"known_total": None},
            Action.APPEND,
            2 * MIB,
            "",
        ),
        (  # server sends no ETag on the 206: only the start and size can be checked
            206,
            {"Content-Range": f"bytes {MIB}-{4 * MIB - 1}/{4 * MIB}"},
            {},
            Action.APPEND,
            4 * MIB,
            "",
        ),
        # 206 to a fresh request: some servers do that; nothing on disk to splice.
        (206, {"Content-Range": "bytes 0-99/100"}, {"offset": 0}, Action.APPEND, 100, "byte 0"),
        (
            206,
            {"Content-Range": "bytes 0-99/100", "ETag": '"other"'},
            {"offset": 0},
            Action.APPEND,
            100,
            "",
        ),
        # A broken 206 to a fresh request: restarting would resend the same request.
        (
            206,
            {"Content-Range": "bytes 100-199/200"},
            {"offset": 0},
            Action.FAIL,
            200,
            "without Range: Content-Range starts at 100, expected 0",
        ),
        (206, {}, {"offset": 0}, Action.FAIL, None, "without Range"),
        # 206 that does not fit: restart.
        (
            206,
            {"Content-Range": "bytes 0-99/4194304"},
            {},
            Action.RESTART,
            4 * MIB,
            f"Content-Range starts at 0, expected {MIB}",
        ),
        (
            206,
            {"Content-Range": f"bytes {MIB}-{5 * MIB - 1}/{5 * MIB}"},
            {},
            Action.RESTART,
            5 * MIB,
            "size changed",
        ),
        (
            206,
            {"Content-Range": f"bytes {MIB}-{4 * MIB - 1}/{4 * MIB}", "ETag": '"new"'},
            {},
            Action.RESTART,
            4 * MIB,
            "validator changed",
        ),
        (  # Last-Modified was our validator (no ETag known) and it changed
            206,
            {
                "Content-Range": f"bytes {MIB}-{4 * MIB - 1}/{4 * MIB}",
                "Last-Modified": "Thu, 22 Oct 2015 07:28:00 GMT",
            },
            {"known": Validators(None, DATE)},
            Action.RESTART,
            4 * MIB,
            "validator changed",
        ),
        (206, {}, {}, Action.RESTART, None, "Content-Range"),
        (206, {"Content-Range": "bytes */4194304"}, {}, Action.RESTART, None, "Content-Range"),
        (206, {"Content-Range": "garbage"}, {}, Action.RESTART, None, "Content-Range"),
        # 416: the .part may already be the whole file.
        (
            416,
            {"Content-Range": f"bytes */{MIB}"},
            {"known_total": MIB},
            Action.ALREADY_COMPLETE,
            MIB,
            "complete",
        ),
        (
            416,
            {"Content-Range": f"bytes */{MIB}"},
            {"known_total": None},
            Action.ALREADY_COMPLETE,
            MIB,
            "",
        ),
        (416, {"Content-Range": f"bytes */{MIB - 1}"}, {}, Action.RESTART, MIB - 1, "remote size"),
        (416, {"Content-Range": f"bytes */{2 * MIB}"}, {}, Action.RESTART, 2 * MIB, "remote size"),
        (416, {}, {}, Action.RESTART, None, "Content-Range"),
        (416, {"Content-Range": "bytes 0-9/10"}, {}, Action.RESTART, None, "Content-Range"),
        (  # same size but a different version
            416,
            {"Content-Range": f"bytes */{MIB}", "ETag": '"new"'},
            {"known_total": MIB},
            Action.RESTART,
            MIB,
            "validator changed",
        ),
        (  # no Range was sent: restarting would just repeat the request
            416,
            {"Content-Range": "bytes */0"},
            {"offset": 0},
            Action.FAIL,
            0,
            "without Range",
        ),
        # Anything else is not a resume answer.
        (404, {}, {}, Action.FAIL, None, "404"),
        (304, {}, {}, Action.FAIL, None, "304"),
        (503, {"Content-Range": f"bytes {MIB}-{MIB}/{4 * MIB}"}, {}, Action.FAIL, None, "503"),
    ],
)
def test_decide(status, headers, kwargs, action, total, reason_part):
    decision = _decide(status, headers, **kwargs)
    assert isinstance(decision, ResumeDecision)
    assert (decision.action, decision.total) == (action, total)
    assert reason_part in decision.reason
    assert decision.reason  # always something to log


def test_decide_reads_multidict_headers():
    headers = CIMultiDictProxy(
        CIMultiDict({"content-range": f"bytes {MIB}-{4 * MIB - 1}/{4 * MIB}", "etag": STRONG})
    )
    assert _decide(206, headers).action is Action.APPEND


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (200, {"Content-Length": "1234"}, 1234),
        (200, {"content-length": " 0 "}, 0),
        (206, {"CONTENT-LENGTH": "99"}, 99),
        (200, {}, None),
        (200, {"Content-Length": ""}, None),
        (200, {"Content-Length": "-1"}, None),
        (200, {"Content-Length": "+5"}, None),
        (200, {"Content-Length": "1.5"}, None),
        (200, {"Content-Length": "12, 12"}, None),
        (200, {"Content-Length": "lots"}, None),
        (204, {"Content-Length": "50"}, 0),  # never a body
        (304, {"Content-Length": "50"}, 0),  # describes the stored file, not this body
    ],
)
def test_expected_body_length(status, headers, expected):
    assert expected_body_length(status, headers) == expected
