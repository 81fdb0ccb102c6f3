"""mot.redaction: an API key never leaves a mot process, in any encoding a server may echo it in."""
import base64
import html
import json
import re
import sys
import urllib.parse

import pytest

from mot import redaction

KEY = 'sk-ab/cd+ef=gh"ij<kl>&mn 0123456789ÄÖ'


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setattr(redaction, "_GRAMS", set())
    monkeypatch.setattr(redaction, "_WHOLE", set())
    monkeypatch.setattr(redaction, "_PATTERNS", [])
    monkeypatch.setattr(redaction, "_SKELETON", set())
    monkeypatch.setattr(sys, "stdout", sys.stdout)
    monkeypatch.setattr(sys, "stderr", sys.stderr)
    redaction.register(KEY)
    return KEY


ECHOES = {  # how servers and gateways quote a request's key, written here without mot.redaction
    "raw": KEY,
    "json": json.dumps({"error": KEY}),
    "json, non-ASCII kept": json.dumps({"error": KEY}, ensure_ascii=False),
    "json, slashes escaped": json.dumps({"error": KEY}).replace("/", "\\/"),
    "\\u escapes": "".join(f"\\u{ord(c):04x}" for c in KEY),
    "url, quote": urllib.parse.quote(f"https://h/v1?key={KEY}", safe=":/?="),
    "url, quote_plus": urllib.parse.urlencode({"key": KEY}),
    "url, lower-case hex": urllib.parse.quote(KEY, safe="").lower(),
    "html": f"<p>{html.escape(KEY)}</p>",
    "basic auth": "Authorization: Basic " + base64.b64encode(f"user:{KEY}".encode()).decode(),
    "bearer, base64": base64.b64encode(f"Bearer {KEY}".encode()).decode(),
    "url-safe base64": base64.urlsafe_b64encode(f"x{KEY}yz".encode()).decode(),
    "hex": KEY.encode().hex(),
    "upper-cased": f"BEARER {KEY.upper()}",
    "hex, bytes apart": " ".join(f"{b:02x}" for b in KEY.encode()),
    "hex, bytes apart, upper case": ":".join(f"{b:02X}" for b in KEY.encode()),
    "hex, \\x escapes": "".join(f"\\x{b:02x}" for b in KEY.encode()),
    "url, every byte": "".join(f"%{b:02X}" for b in KEY.encode()),
    "html, numeric entities": "".join(f"&#{ord(c)};" for c in KEY),
    "html, hex entities": "".join(f"&#x{ord(c):X};" for c in KEY),
    "html, padded entities": "".join(f"&#x{ord(c):04x};" for c in KEY),
    "html, padded decimal entities": "".join(f"&#{ord(c):05d};" for c in KEY),
    "\\x escapes in a JSON body": json.dumps({"m": "".join(f"\\x{b:02x}" for b in KEY.encode())}),
    "spelt out": " ".join(KEY),  # probe 8, case 17: these three reached the samples, the log and stderr
    "base32": base64.b32encode(f"Bearer {KEY}".encode()).decode(),
    "base64 of UTF-16": base64.b64encode(f"Bearer {KEY}".encode("utf-16")).decode(),
    "base64 of UTF-16-BE": base64.b64encode(f"k={KEY}".encode("utf-16-be")).decode(),
    # probe 9, cases 16 and 17: these reached stderr and the log
    "node buffer": json.dumps({"type": "Buffer", "data": list(f"Bearer {KEY}".encode())}),
    "json array of characters": json.dumps({"key": list(KEY)}),
    "octal escapes": "".join(f"\\{b:03o}" for b in KEY.encode()),
    "hex of UTF-16-BE": KEY.encode("utf-16-be").hex(),
    "fullwidth": "".join(chr(ord(c) + 0xFEE0) if 0x21 <= ord(c) <= 0x7E else c for c in KEY),
    "base85": "k=" + base64.b85encode(f"k={KEY}".encode()).decode(),  # probe 17, case 29: stderr and the log
    "ascii85": base64.a85encode(f"Bearer {KEY}".encode(), adobe=True).decode(),
    # probe 18, cases 15 and 16: the key's UTF-16 bytes percent-encoded, as \x escapes, as a bytes repr
    "url, every byte of UTF-16": "".join(f"%{b:02X}" for b in KEY.encode("utf-16-le")),
    "url, quote of UTF-16-BE": urllib.parse.quote(KEY.encode("utf-16-be")),
    "\\x escapes of UTF-16": "".join(f"\\x{b:02x}" for b in KEY.encode("utf-16-le")),
    "bytes repr of UTF-16": repr(KEY.encode("utf-16-le")),
    # probe 20, cases 1 to 7: these reached stderr, the log or the samples
    "html, escaped twice": html.escape("".join(c if c.isalnum() else f"&#{ord(c)};" for c in KEY)),
    "backslash-escaped": re.escape(KEY),
    "json array of characters, pretty": json.dumps(list(KEY), indent=2),
    "wrapped over lines": f"{KEY[:-8]}\n{KEY[-8:]}",
    "soft hyphens as entities": "&shy;".join(KEY[i:i + 4] for i in range(0, len(KEY), 4)),
    "wbr tags": "<wbr>".join(KEY[i:i + 4] for i in range(0, len(KEY), 4)),
    "zero-width spaces as entities": "&#8203;".join(KEY),
    "es6 escapes": "".join(f"\\u{{{ord(c):x}}}" for c in KEY),
    "hex of UTF-32": KEY.encode("utf-32-le").hex(),
    "base64 of UTF-32": base64.b64encode(f"Bearer {KEY}".encode("utf-32-be")).decode(),
    "commas between characters": ",".join(KEY),
    "no-break spaces between characters": "\u00a0".join(KEY),
    "node buffer, pretty": json.dumps({"type": "Buffer", "data": list(f"Bearer {KEY}".encode())}, indent=2),
    "cut off": f"invalid key {KEY[:14]}…",
    "cut off at the front": f"key …{KEY[-13:]} refused",
    # probe 21, case 26: a UTF-8 body that a wrong charset label decoded as UTF-16 (stderr and the log had
    # the whole key, as CJK-looking text), and case 30: each character in a tag with attributes
    "utf-8 read as utf-16-le": f"Bearer {KEY}!".encode().decode("utf-16-le", "replace"),
    "utf-8 read as utf-16-be": f"Bearer {KEY}!".encode().decode("utf-16-be", "replace"),
    "utf-8 read as utf-16-le, odd offset": f"xBearer {KEY}".encode().decode("utf-16-le", "replace"),
    "utf-16-be read as le": f"Bearer {KEY}".encode("utf-16-be").decode("utf-16-le"),
    "spans with attributes": "".join(f'<span class="c">{c}</span>' for c in KEY),
    "short tags with attributes": "".join(f"<b id=1>{c}</b>" for c in KEY),
}


@pytest.mark.parametrize("how", ECHOES)
def test_every_echo_of_the_key_is_replaced(registered, how):
    text = f"HTTP 400: {ECHOES[how]} (request 7)"
    out = redaction.redact(text)
    assert "[API key]" in out and out.startswith("HTTP 400: ") and out.endswith(" (request 7)"), out
    # no 12 characters of any encoding of the key survive, nor its alphanumeric tail (a line's break
    # before the last 8 characters left them)
    low = out.lower()
    assert not any(low[i:i + 12] in redaction._GRAMS for i in range(len(out) - 11)), out
    assert KEY[-8:] not in out and "".join(c for c in KEY[-12:] if c.isalnum()) not in re.sub(r"\W", "", out), out


def test_text_without_the_key_is_left_as_it_is(registered):
    text = "HTTP 400: {\"error\": \"model 'qwen' not found\", \"request\": \"0123456\"} " + base64.b64encode(b"x" * 40).decode()
    assert redaction.redact(text) == text


def test_the_process_streams_are_redacted_once_a_key_is_registered(capsys, monkeypatch):
    monkeypatch.setattr(redaction, "_GRAMS", set())
    monkeypatch.setattr(redaction, "_WHOLE", set())
    monkeypatch.setattr(redaction, "_PATTERNS", [])
    monkeypatch.setattr(sys, "stdout", sys.stdout)  # capsys's streams, wrapped by register
    monkeypatch.setattr(sys, "stderr", sys.stderr)
    redaction.register(KEY)
    print(f"echo: {json.dumps(KEY)}")
    print(f"echo: {urllib.parse.quote(KEY)}", file=sys.stderr)
    out, err = capsys.readouterr()
    assert out == 'echo: "[API key]"\n' and err == "echo: [API key]\n", (out, err)


def test_nothing_is_redacted_before_a_key_is_registered(monkeypatch):
    monkeypatch.setattr(redaction, "_GRAMS", set())
    monkeypatch.setattr(redaction, "_WHOLE", set())
    assert redaction.redact(KEY) == KEY


@pytest.mark.parametrize("key", ["0", "EMPTY", "none", "sk-1234"])
def test_a_placeholder_key_is_no_secret_and_changes_no_sample(registered, key):
    """A key shorter than 8 characters (what a local server without authentication is given) is left
    alone: replacing it would rewrite a teacher's answers ("\\boxed{10}" losing its "0"); a key of 8
    or more characters is still replaced whole."""
    redaction.register(key)
    trace = "2 * 5 = 10, so \\boxed{10}. EMPTY none sk-1234 0x30"
    assert redaction.redact(trace) == trace
    redaction.register("k3Y-9z!q")
    assert redaction.redact("echo K3Y-9Z!Q and 6b 33 59 2d 39 7a 21 71") == "echo [API key] and [API key]"


def test_a_servers_text_quoted_in_an_error_is_redacted_before_it_is_cut(registered):
    """Thirteenth probe, case 30: a message the server returned was cut at 120 characters, then
    redacted; the key's first 11 characters, left at the cut (under the length a part must have to
    be recognised), reached stderr and the log."""
    from mot.engines import Refused, message_trace

    with pytest.raises(Refused) as e:
        message_trace("A" * 109 + KEY, "stop", None, "http://x")  # not a chat message: quoted in the error
    assert KEY[:8] not in str(e.value) and "[API key]" in str(e.value), str(e.value)


@pytest.mark.parametrize("between", ["\x00", "\u200b", "\u2060\u200d"])
def test_a_key_spelt_with_invisible_characters_is_found(registered, between):
    """Fourteenth probe, cases 27 and 29: a UTF-16 body read as bytes (a NUL between the key's
    characters) or a key with zero-width characters between its own reached stderr and the log."""
    text = redaction.redact("error: Bearer " + between.join(KEY) + " refused")
    assert "[API key]" in text and KEY[:6] not in text.replace(between, ""), text
    assert redaction.redact("nothing\u200bhere") == "nothing\u200bhere"  # no key: the text as it was


@pytest.mark.parametrize("escape", [lambda c: f"&#{ord(c)};", lambda c: f"&#x{ord(c):x};",
                                    lambda c: f"%{ord(c):02X}", lambda c: f"\\u{ord(c):04x}"])
def test_a_key_escaped_character_by_character_in_part_is_found(registered, escape):
    """Fifteenth probe, case 30: a server that escapes some of a key's characters and not others (an
    HTML encoder's every non-alphanumeric one, every third one) defeated the whole-form match, and a
    key of short segments leaked whole."""
    key = "ab12cd34-ef56gh78-ij90kl12-mn34op56"
    redaction.register(key)
    for mixed in (key.replace("-", escape("-")), "".join(escape(c) if i % 3 == 0 else c for i, c in enumerate(key))):
        text = redaction.redact(f"error: {mixed} refused")
        assert "[API key]" in text and "ef56gh78" not in text and "ab12" not in text, text


@pytest.mark.parametrize("prefix", ["user:", "Bearer ", "x"])
@pytest.mark.parametrize("escape", [lambda t: t.replace("/", "\\/"), lambda t: t.replace("/", "%2F").replace("+", "%2B"),
                                    lambda t: t.replace("/", "&#47;")], ids=["json \\/", "url %2F", "html &#47;"])
def test_a_keys_base64_with_its_slashes_escaped_is_replaced_whole(registered, prefix, escape):
    """Probe 19 (noted): a key of `?` and `~` has a base64 full of `/`; a JSON body that writes `/` as
    `\\/` cut it into runs shorter than 12 characters, and up to 7 characters of each survived."""
    key = "sk-????~~~~????~~~~????~~~~"
    redaction.register(key)
    encoded = base64.b64encode(f"{prefix}{key}".encode()).decode()
    out = redaction.redact(json.dumps({"auth": escape(encoded)}))
    assert out.startswith('{"auth": "') and out.endswith('"}') and "[API key]" in out, out
    # what is left is the prefix's own characters and the last group's padding, nothing of the key's
    left = out[len('{"auth": "'):-2].split("[API key]")
    assert len(left) == 2 and len(left[0]) <= -(-4 * len(prefix) // 3) and len(left[1]) <= 4, out


@pytest.mark.parametrize("spell", [
    lambda k: html.escape("".join(c if c.isalnum() else f"&#{ord(c)};" for c in k)),  # HTML-escaped twice
    lambda k: re.escape(k),  # backslash-escaped (a regex's, Lucene's)
    lambda k: k[:-8] + "\n" + k[-8:],  # wrapped over lines, 8 characters on the second
    lambda k: "&shy;".join(k[i:i + 5] for i in range(0, len(k), 5)),  # HTML hyphenation of a long token
], ids=["html twice", "backslashes", "wrapped", "soft hyphens"])
def test_a_key_of_short_segments_spelt_with_something_between_them_is_found(registered, spell):
    """Probe 20, cases 1, 2, 4 and 5: a key whose segments are shorter than 12 characters reached
    stderr and the log whole (or its last 8 characters) when a server put escapes, entities or a line
    break between its characters."""
    key = "ab12-cd34-ef56-gh78-ij90-kl12-mn34"
    redaction.register(key)
    text = redaction.redact(f"error: {spell(key)} refused")
    assert "[API key]" in text and not [seg for seg in key.split("-") if seg in text], text
    assert text.startswith("error: ") and text.endswith(" refused"), text


SECRET = "sk-proj-A1b2C3d4E5f6G7h8I9j0K1l2M3n4"
QUERY = "base_url: it has a query or fragment (a key may hide there; /chat/completions is appended to the URL) (not shown)"


@pytest.mark.parametrize("params, said", [
    ({"base_url": f"http://user:{SECRET}@127.0.0.1:9/v1"}, "base_url: it carries credentials (user:password@) (not shown)"),
    ({"base_url": f"http://{SECRET}@127.0.0.1:9/v1"}, "base_url: it carries credentials (user:password@) (not shown)"),
    ({"base_url": f"http://127.0.0.1:9/v1?api_key={SECRET}"}, QUERY),
    ({"base_url": f"http://127.0.0.1:9/v1?pwd={SECRET}"}, QUERY),  # probe 17, case 30: any query's name
    ({"base_url": f"http://127.0.0.1:9/v1?code={SECRET}"}, QUERY),
    ({"base_url": f"http://127.0.0.1:9/v1#{SECRET}"}, QUERY),
    ({"base_url": "http://127.0.0.1:9/v1", "api_key_env": SECRET},
     "params.api_key_env: its value (not shown: it may be a secret) does not match"),
])
def test_a_secret_in_a_teachers_url_or_key_name_is_refused_unquoted(tmp_path, params, said):
    """Issue 33, probe 16, cases F3 and F4: a key inside base_url (user:key@, ?api_key=) was quoted by
    every error naming the URL, and in the config the provenance records; a key given as api_key_env
    (its variable's name) was quoted by the schema's error. Each is refused before any work, in one
    line that names the key and not the value, on stderr and in the log. Probe 17, case 30: a key under
    a query name that reads like none (?pwd=, ?code=) passed; no query is accepted now (an
    OpenAI-compatible base_url has none: /chat/completions was appended after it)."""
    from conftest import run_mot

    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"id": "a", "prompt": "1+1", "answer": "2"}) + "\n")
    teacher = {"name": "r1", "backend": "openai", "params": {"model": "m", "max_retries": 0, **params}}
    r = run_mot("--log", tmp_path / "g.log", "generate", "--prompts", prompts, "--teacher", json.dumps(teacher),
                "--sampling", json.dumps({"n": 1, "temperature": 0.6, "top_p": 0.95, "max_tokens": 8}),
                "--out", tmp_path / "g.jsonl")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and said in r.stderr, r.stderr
    for f in [*tmp_path.rglob("*")]:
        assert f.is_dir() or SECRET not in f.read_text(errors="replace"), f
    assert SECRET not in r.stderr + r.stdout
    assert not list(tmp_path.glob("g.jsonl*"))  # refused before any work
