"""Secrets (an OpenAI-compatible endpoint's API key) never reach stderr, a log or an output, in the
encodings a server or a library echoes them in (listed below): a gateway quotes the request's Authorization
header in an error body JSON-escaped, URL-encoded, HTML-escaped or as the base64 of `user:key`, and
may cut it off. A backend registers its key when it reads it; from then on this process's Python
streams (the console, the --log file) and its error line carry `[API key]` in its place.

What is replaced, in any letter case (a gateway may upper-case a header it quotes): every run of 12
or more characters (the whole of a shorter form) that also occurs in one of the key's forms: raw;
JSON-escaped (ASCII or not, every character as \\uXXXX); URL-encoded (quote and
quote_plus, or every byte as %XX); HTML-escaped (or every character as a numeric reference, decimal or
hex, zero-padded or not: replaced whole); each of these with `/` as `\\/` and as a JSON string quotes it; hex, bare
or with its bytes apart (`73 6b`, `73:6b`, `\\x73\\x6b`, `0x73 0x6b`); and the base64 (standard and
URL-safe), base32, base85 and Ascii85 of any text that holds it, in UTF-8 or UTF-16 (either byte order), at each byte
alignment; the key spelt out with a space between its characters, as a JSON array of its characters,
as its bytes in decimal (a Node Buffer's JSON) or octal escapes, its UTF-16 and UTF-32 as hex, %XX,
\\xXX or 0xXX bytes or a Python bytes repr, and in fullwidth forms (ＡＢ１). Also every run of 12 of
the key's letters and digits (or of its bytes' decimal digits) whatever lies between them: a line
break, commas, spaces of any kind, indentation, backslashes. And the key with its characters escaped
one by one, some and not others, an escape escaped again (`&amp;#45;`), ES6's `\\u{2d}`, or markup
between them (`<wbr>`, `<span class="c">`, `&shy;`, zero-width characters). And a body in UTF-8 that
a wrong label had decoded as UTF-16 (either byte order). A cut-off echo longer than 12 characters is
caught too. A key shorter than 8 characters ("EMPTY", "0": what a local server
without authentication is given) is no secret and is left alone: replacing so short a text would
change the samples a teacher returns ("10" would lose its "0").
Not covered: other encodings (a key enciphered or compressed is no longer the key's text, and each
new spelling is one more line here), what a C library writes to the file descriptors itself, and a
key split across two writes of a stream (a traceback and the error line are one write per line)."""
import base64
import html
import json
import re
import sys
import unicodedata
import urllib.parse

MIN_RUN = 12  # a run this long of a key's form is taken for a (cut-off) echo of the key
MIN_KEY = 8  # a shorter key is a placeholder, not a secret (see above); no form this short is replaced
MARK = "[API key]"
_GRAMS: set[str] = set()  # every MIN_RUN-character substring of every form of every key
_WHOLE: set[str] = set()  # forms shorter than MIN_RUN, replaced whole
_PATTERNS: list = []  # forms of many spellings (HTML numeric references), replaced whole
_SKELETON: set[str] = set()  # every MIN_RUN-character substring of every form's letters and digits alone


def forms(key: str) -> set[str]:
    """The key as a server may echo it (see the module's docstring)."""
    j = json.dumps(key)[1:-1]
    out = {key, j, json.dumps(key, ensure_ascii=False)[1:-1],
           "".join(f"\\u{ord(c):04x}" for c in key), "".join(f"\\u{ord(c):04X}" for c in key),
           html.escape(key), html.escape(key, quote=False), key.encode().hex()}
    pairs = [f"{b:02x}" for b in key.encode()]
    out |= {" ".join(pairs), ":".join(pairs), "-".join(pairs), "".join(f"\\x{p}" for p in pairs),
            " ".join(f"0x{p}" for p in pairs), ", ".join(f"0x{p}" for p in pairs), "".join(f"%{p}" for p in pairs)}
    for q in (urllib.parse.quote(key, safe=""), urllib.parse.quote(key, safe="/"), urllib.parse.quote_plus(key)):
        out.add(q)
    out.add(" ".join(key))  # spelt out, a space between characters
    out |= {json.dumps(list(key)), json.dumps(list(key), separators=(",", ":"))}  # a JSON array of its characters
    raw = key.encode()
    out |= {sep.join(str(b) for b in raw) for sep in (",", ", ", " ")}  # its bytes in decimal (a Node Buffer)
    out.add("".join(f"\\{b:03o}" for b in raw))  # octal escapes
    for enc in ("utf-16-be", "utf-16-le", "utf-32-be", "utf-32-le"):  # UTF-16, -32: hex, %XX, \\xXX, 0xXX, bytes repr
        wide = key.encode(enc)
        out |= {wide.hex(), " ".join(f"{b:02x}" for b in wide), "".join(f"%{b:02x}" for b in wide),
                "".join(f"\\x{b:02x}" for b in wide), " ".join(f"0x{b:02x}" for b in wide),
                ", ".join(f"0x{b:02x}" for b in wide), repr(wide)[2:-1], urllib.parse.quote(wide, safe="")}
    for raw in (key.encode(), *(key.encode(e) for e in ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"))):
        for pad in range(3):  # the characters that encode the key's bits alone, whatever comes before or after
            first, last = -(-8 * pad // 6), 8 * (pad + len(raw)) // 6
            for enc in (base64.b64encode, base64.urlsafe_b64encode):
                out.add(enc(b"\0" * pad + raw + b"\0\0").decode()[first:last])
        for pad in range(5):  # base32: five bytes in eight characters
            first, last = -(-8 * pad // 5), 8 * (pad + len(raw)) // 5
            out.add(base64.b32encode(b"\0" * pad + raw + b"\0" * 4).decode()[first:last])
        for pad in range(4):  # base85 and Ascii85: four bytes in five characters, whole groups of the key's only
            first, last = 5 * -(-pad // 4), 5 * ((pad + len(raw)) // 4)
            for enc in (base64.b85encode, base64.a85encode):
                out.add(enc(b"\0" * pad + raw + b"\0" * 4).decode()[first:last])
    out |= {f.replace("/", "\\/") for f in out}  # each with `/` as JSON's `\\/` (a base64 may be full of `/`)
    out |= {json.dumps(f)[1:-1] for f in out}  # each as a JSON body quotes it (`\\x73` as `\\\\x73`)
    return {_lower(f) for f in out if len(f) >= MIN_KEY}


def _entities(key: str) -> re.Pattern:
    """The key as HTML numeric character references, decimal or hex, zero-padded or not."""
    return re.compile("".join(f"&#(?:0*{ord(c)}|x0*{ord(c):x});" for c in key), re.IGNORECASE)


_FULLWIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}  # ＡＢ１ as AB1: one character for one


def _lower(text: str) -> str:
    """Lower case, fullwidth forms as ASCII, one character for one (so that a match's place is the same
    in the text)."""
    text = text.translate(_FULLWIDTH)
    low = text.lower()
    return low if len(low) == len(text) else "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def register(key: str | None) -> None:
    """Redact `key` from now on, in this process's Python streams and its error line."""
    if not key or len(key) < MIN_KEY:
        return
    _PATTERNS.append(_entities(key))
    for f in forms(key):
        if len(f) < MIN_RUN:
            _WHOLE.add(f)
        else:
            _GRAMS.update(f[i:i + MIN_RUN] for i in range(len(f) - MIN_RUN + 1))
    # the key's own letters and digits, and its bytes in decimal (a pretty-printed Node Buffer): the
    # forms a server spells with something between their characters (hex forms of UTF-16 are full of
    # 00s, which would join the digits of a text's "HTTP 400" to them)
    for f in (key, "".join(str(b) for b in key.encode())):
        if len(bones := _bones(_lower(f))) >= MIN_RUN:
            _SKELETON.update(bones[i:i + MIN_RUN] for i in range(len(bones) - MIN_RUN + 1))
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if not isinstance(stream, Redacting):
            setattr(sys, name, Redacting(stream))


def redact(text: str) -> str:
    """`text` with every echo of a registered key replaced by [API key]. A key spelt with invisible
    characters between its own (NULs: a UTF-16 body read as bytes; zero-width and other format
    characters) is found in the text without them, which is then what is returned, redacted."""
    if not (_GRAMS or _WHOLE) or not isinstance(text, str):
        return text
    out = _redact(text)
    visible = _visible(out)
    if visible != out and (again := _redact(visible)) != visible:
        return again
    # a key whose characters are escaped one by one, some and not others (an HTML encoder's &#45;, a
    # URL's %2D, JSON's \u002d, escaped twice), or with markup between them (<wbr>, &shy;): found in
    # the text with every escape read and the markup and what it stands for dropped, then returned that way
    plain = _visible(_unescaped(visible))
    if plain != visible and (again := _redact(plain)) != plain:
        return again
    if not text.isascii():  # a UTF-8 body decoded by a wrong label (UTF-16, either byte order: CJK-looking
        for label in ("utf-16-le", "utf-16-be"):  # text): read as the bytes it came from, in UTF-8
            reread = _visible(text.encode(label, "surrogatepass").decode("utf-8", "replace"))
            if (again := _redact(reread)) != reread:
                return again
    return out


def _visible(text: str) -> str:
    """`text` without NULs and format characters (zero-width spaces and joiners, soft hyphens)."""
    return "".join(c for c in text if c != "\x00" and unicodedata.category(c) != "Cf")


def _unescaped(text: str) -> str:
    """`text` with JSON's \\uXXXX and \\/, ES6's \\u{X}, URL %XX and HTML character references read (each where
    it is, an escape of an escape too), and HTML tags dropped (<wbr>, <span class="c">)."""
    for _ in range(3):  # an escape escaped again (&amp;#45;), up to three times
        before = text
        text = re.sub(r"\\u\{([0-9a-fA-F]{1,6})\}", lambda m: _chr(m.group(1)), text)  # ES6's \u{2d}
        text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
        text = text.replace("\\/", "/")  # JSON's escaped slash, which a form may have some of and not others
        text = html.unescape(urllib.parse.unquote(text, errors="replace"))
        text = re.sub(r"</?[A-Za-z][A-Za-z0-9]{0,15}(?:\s[^<>]{0,200})?/?>", "", text)  # markup between characters
        if text == before:
            break
    return text


def _chr(hex_digits: str) -> str:
    code = int(hex_digits, 16)
    return chr(code) if code <= 0x10FFFF else ""


_ALNUM = re.compile(r"[0-9a-z]")


def _bones(text: str) -> str:
    """A form's letters and digits alone (lower case): what is left of it whatever a server puts between
    its characters (a line break, commas, spaces of any kind, indentation, backslashes)."""
    return "".join(_ALNUM.findall(text))


def _skeleton_spans(text: str, low: str) -> list[list[int]]:
    """Spans of `text` whose letters and digits, read without what lies between them, hold a run of
    MIN_RUN of a form's letters and digits (_SKELETON): a key wrapped over lines, spelt with commas or
    no-break spaces between its characters, or pretty-printed as a JSON array."""
    where = [m.start() for m in _ALNUM.finditer(low)]
    bones = "".join(low[i] for i in where)
    return [[where[i], where[i + MIN_RUN - 1] + 1] for i in range(len(bones) - MIN_RUN + 1)
            if bones[i:i + MIN_RUN] in _SKELETON]


def _redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(MARK, text)
    if _WHOLE:
        text = re.sub("|".join(re.escape(f) for f in sorted(_WHOLE, key=len, reverse=True)), MARK, text,
                      flags=re.IGNORECASE)
    if not _GRAMS or len(text) < MIN_RUN:
        return text
    low = _lower(text)
    # runs of a form's characters, and runs of its letters and digits whatever lies between them
    spans = [[i, i + MIN_RUN] for i in range(len(text) - MIN_RUN + 1) if low[i:i + MIN_RUN] in _GRAMS]
    spans = sorted(spans + (_skeleton_spans(text, low) if _SKELETON else []))
    merged = []
    for a, b in spans:
        if merged and merged[-1][1] >= a:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    for a, b in reversed(merged):
        text = text[:a] + MARK + text[b:]
    return text


class Redacting:
    """A text stream whose writes are redacted; everything else is the stream's own."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        return self._stream.write(redact(text))

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def __getattr__(self, name):
        return getattr(self._stream, name)
