"""Text from files, made safe to print on a terminal.

Metadata strings (``writer``, ``coord_system``, class names, header values) and file names come
from whoever made the file. Printed raw, an escape sequence can retitle the terminal, move the
cursor, hide or fake lines, or (on some terminals) answer back as typed input; a NUL or a lone
surrogate can cut or crash the output. :func:`printable` escapes every control and format
character (C0, DEL, C1, line/paragraph separators, bidi overrides and invisible format marks,
lone surrogates) as ``\\xNN`` / ``\\uNNNN``, so what is shown is what is stored.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069"
                     "\ufeff\ufff9-\ufffb\ud800-\udfff]")


def _escape(m: re.Match) -> str:
    c = ord(m.group())
    if c == 0x0A:
        return "\\n"
    if c == 0x0D:
        return "\\r"
    if c == 0x09:
        return "\\t"
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def printable(text: object) -> str:
    """``str(text)`` with control and format characters escaped (one terminal line, nothing hidden)."""
    return _UNSAFE.sub(_escape, str(text))
