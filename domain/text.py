"""Text from customers and providers made safe to show on an operator's terminal."""

import unicodedata

# Characters a terminal acts on or that reorder what is shown: C0 and C1 controls and DEL (ESC
# starts escape sequences; 0x9b is a one-byte CSI), bidirectional marks, embeddings, overrides
# and isolates (U+202E can make text read backwards), and the Unicode line and paragraph
# separators (some terminals break lines there).
_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_HIDDEN = (
    *(c for c in range(0xA0) if unicodedata.category(chr(c)) == "Cc"),
    *_BIDI,
    0x2028,
    0x2029,
)


_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(code: int) -> str:
    if chr(code) in _SHORT:
        return _SHORT[chr(code)]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_ONE_LINE = {code: _escape(code) for code in _HIDDEN}
# Output of several lines keeps its line breaks and tabs, which only move the cursor.
_MULTILINE = {code: text for code, text in _ONE_LINE.items() if chr(code) not in "\n\t"}


def visible(text: str, *, multiline: bool = False) -> str:
    """`text` with every control, bidi and separator character written as its escape (ESC as
    \\x1b, U+202E as \\u202e, a newline as \\n); newlines and tabs are kept if `multiline`.

    The result holds none of those characters, so rendering it again changes nothing.
    """
    return text.translate(_MULTILINE if multiline else _ONE_LINE)
