"""``objectEncoding`` decoding with the provider's exact rules (Go's ``encoding/base64`` and ``encoding/hex``).

The provider decodes with ``base64.StdEncoding.DecodeString`` and ``hex.DecodeString``. Go's base64
decoder skips ``\\r`` and ``\\n`` anywhere (values wrapped at 64 or 76 columns decode), but refuses
spaces, tabs, missing padding and anything after the padding; Go's hex decoder refuses every
character that is not a hex digit, whitespace included. ``strict_*`` follow those rules exactly.

kvfs used to strip surrounding whitespace before decoding, so it served a few values the provider
refuses. ``lenient_*`` keep serving those (a class that worked with kvfs keeps working) and tell
the caller so, so that it can warn: the same class would fail under the provider.
"""

from __future__ import annotations

import binascii
import re

_LINE_BREAKS = str.maketrans("", "", "\r\n")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})*")
#: Whole 4-character groups of the standard alphabet; padding only at the very end.
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_ASCII_WHITESPACE = " \t\n\r\v\f"


def strict_base64(text: str | bytes) -> bytes:
    """Go's ``base64.StdEncoding.DecodeString``. Raises ValueError where Go returns an error."""
    if isinstance(text, bytes):
        text = text.decode("ascii", errors="replace")  # non-ASCII bytes are never base64: keep them failing
    data = text.translate(_LINE_BREAKS)
    if not _BASE64.fullmatch(data):
        raise ValueError("invalid base64")
    return binascii.a2b_base64(data.encode("ascii"))  # like Go's StdEncoding, unused low bits are not checked


def strict_hex(text: str) -> bytes:
    """Go's ``hex.DecodeString``: hex digits of either case, an even number of them, nothing else."""
    if not _HEX.fullmatch(text):
        raise ValueError("invalid hex")
    return bytes.fromhex(text)


def lenient_base64(text: str) -> tuple[bytes, bool]:
    """The value decoded, and whether only kvfs's old rule made it decode: surrounding whitespace
    stripped, then Python's strict decoder, which also forgives surplus padding such as ``YWJj=``."""
    try:
        return strict_base64(text), False
    except ValueError:
        pass
    candidate = text.strip(_ASCII_WHITESPACE).translate(_LINE_BREAKS)
    try:
        return binascii.a2b_base64(candidate.encode("ascii"), strict_mode=True), True
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError("invalid base64") from None


def lenient_hex(text: str) -> tuple[bytes, bool]:
    """The value decoded, and whether it needed whitespace skipped (Python's ``bytes.fromhex`` rule)."""
    try:
        return strict_hex(text), False
    except ValueError:
        pass
    try:
        return bytes.fromhex(text), True
    except ValueError:
        raise ValueError("invalid hex") from None
