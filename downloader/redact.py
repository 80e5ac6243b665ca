"""Secrets never reach the screen or the disk: passwords in URLs are masked as `user:***@`.

Pure functions. Everything adl prints or stores in `DIR/.adl` about a URL passes through
here (output lines, the summary, `adl status`, journal keys, error texts that quote a URL),
as wget does with `user:*password*@`. The URL sent to the server is never masked.
"""

from __future__ import annotations

import re

__all__ = ["MASK", "for_display", "mask_text", "mask_url"]

MASK = "***"

# scheme://user:password@ — the password is whatever follows the first ":" of the userinfo,
# up to the last "@" before the host (passwords may contain "@" when not percent-encoded,
# and yarl, like urllib, takes the last one). The authority ends at "/", "?" or "#", so
# neither part crosses one: `http://host:8080?to=a@b` has no userinfo, and must keep its
# port (the journal's key is the masked URL: two URLs must not mask alike). Whitespace
# and quotes end a URL in free text.
_USERINFO = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s:@'\"]*):(?P<password>[^/?#\s'\"]*)@"
)


def mask_url(url: str) -> str:
    """`url` with the password of its userinfo replaced by `***` (unchanged without one)."""
    if "@" not in url:  # the common case costs one scan, no regex
        return url
    return _USERINFO.sub(_masked, url, count=1)


def mask_text(text: str) -> str:
    """Every URL password in free text (an error message, a summary line) masked."""
    if "@" not in text:
        return text
    return _USERINFO.sub(_masked, text)


# C0 and C1 controls and DEL, newline aside: a list line or a server's text could otherwise
# move the cursor, retitle the terminal or hide text (ESC sequences) when printed.
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def for_display(text: str) -> str:
    """Text as it may reach a screen or log: passwords masked, control characters shown as
    escapes (`\\x1b`) instead of acting on the terminal."""
    return _CONTROL.sub(_escaped, mask_text(text))


def _escaped(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def _masked(match: re.Match[str]) -> str:
    return f"{match['head']}:{MASK}@"
