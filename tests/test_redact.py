"""Passwords in URLs are masked as `user:***@` (as wget does), and nothing else changes:
the masked URL is also the journal's key, so two different URLs must never mask alike."""

from __future__ import annotations

import pytest

from downloader.redact import mask_text, mask_url


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("http://user:pass@host/f", "http://user:***@host/f"),
        # Unencoded "@" in the password: the last "@" of the authority ends it (as yarl reads it).
        ("http://user:p@ss@host/f", "http://user:***@host/f"),
        ("http://user:p:a@s@host/f", "http://user:***@host/f"),
        ("https://u:p%40ss%3A@h/x", "https://u:***@h/x"),  # percent-encoded
        ("https://u%40corp:pw@h/x", "https://u%40corp:***@h/x"),
        ("http://u:pw@host:8080/f", "http://u:***@host:8080/f"),  # port kept
        ("http://u:pw@[::1]:8080/f", "http://u:***@[::1]:8080/f"),
        ("http://:pw@host/", "http://:***@host/"),
        ("http://u:@host/", "http://u:***@host/"),  # an empty password is still one
        ("HTTPS://U:PW@H/", "HTTPS://U:***@H/"),
        ("http://u:pw@host?q=a@b", "http://u:***@host?q=a@b"),  # "@" in the query
        ("http://u:pw@host#x@y", "http://u:***@host#x@y"),
        ("http://u:pw@host/a:b@c", "http://u:***@host/a:b@c"),  # only the userinfo
        # Nothing to mask: no password, or an "@" / ":" outside the userinfo.
        ("http://user@host/f", "http://user@host/f"),
        ("http://host/f", "http://host/f"),
        ("http://host/a:b@c", "http://host/a:b@c"),
        ("http://host:8080?to=a@b", "http://host:8080?to=a@b"),
        ("http://host?x=a:b@c", "http://host?x=a:b@c"),
        ("http://host#a:b@c", "http://host#a:b@c"),
        ("", ""),
    ],
)
def test_mask_url(url, masked):
    assert mask_url(url) == masked
    assert mask_text(url) == masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (
            "FAILED http://a:one@h/x: redirect to https://b:two@i:81/y refused",
            "FAILED http://a:***@h/x: redirect to https://b:***@i:81/y refused",
        ),
        ("'http://a:b@h/' \"https://c:d@i/\"", "'http://a:***@h/' \"https://c:***@i/\""),
        ("line 3: http://u:p w@h/", "line 3: http://u:p w@h/"),  # whitespace ends a URL
        ("mail me at someone@example.com", "mail me at someone@example.com"),
        ("HTTP 404 Not Found", "HTTP 404 Not Found"),
    ],
)
def test_mask_text(text, masked):
    assert mask_text(text) == masked


def test_mask_url_masks_only_the_first_url():
    # A URL holds one authority; another "scheme://" later on is part of its path or query.
    url = "http://a:b@h/?next=http://c:d@i/"
    assert mask_url(url) == "http://a:***@h/?next=http://c:d@i/"


def test_urls_that_differ_beyond_the_password_stay_different():
    urls = [
        "http://u:pw@host/f",
        "http://u:pw@host:81/f",
        "http://v:pw@host/f",
        "http://host:8080?to=a@b",
        "http://host:8081?to=a@b",
        "http://host?x=a:b@c",
        "http://host?x=a:z@c",
    ]
    assert len({mask_url(u) for u in urls}) == len(urls)
