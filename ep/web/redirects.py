"""Where a redirect may go: only to a path on this site, judged the way a browser reads it.

A ``next=`` value is typed by whoever made the link. A browser's URL parser removes tabs
and newlines anywhere, strips leading spaces and control characters and reads a backslash
as a slash, so ``/%09/evil.example`` (``/<TAB>/evil.example``) and ``/\\evil.example`` are
both ``//evil.example``: another site. The target is therefore normalised first, exactly
so, and judged afterwards; what is sent is the normalised text, so a CR or LF can never
reach a header (Werkzeug refuses those with a 500).
"""

from urllib.parse import unquote, urlsplit

# what the WHATWG URL parser removes from anywhere in the input
_REMOVED_ANYWHERE = str.maketrans("", "", "\t\n\r")
# what it strips from both ends: C0 controls and space
_C0_AND_SPACE = "".join(chr(c) for c in range(0x21))
# percent-decoding rounds judged: a proxy or framework that decodes once more must still
# find a path on this site (%252F → %2F → /)
_DECODING_ROUNDS = 3


def _as_browser_reads(target: str) -> str:
    return target.translate(_REMOVED_ANYWHERE).strip(_C0_AND_SPACE).replace("\\", "/")


def _is_local_path(text: str) -> bool:
    if not text.startswith("/") or text.startswith("//"):
        return False
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        return False
    parts = urlsplit(text)
    return not parts.scheme and not parts.netloc


def safe_next(target: str | None, default: str) -> str:
    """Return ``target`` as a path on this site, or ``default`` when it could lead elsewhere."""
    if not isinstance(target, str) or not target:
        return default
    normalised = _as_browser_reads(target)
    decoded = normalised
    for _ in range(_DECODING_ROUNDS):
        if not _is_local_path(decoded):
            return default
        decoded = _as_browser_reads(unquote(decoded))
    if not _is_local_path(decoded):
        return default
    return normalised
