"""systemd's own rules for the values of unit settings, so that what the inventory says a service runs is
what systemd would run (systemd.service(5) "Command lines", systemd.exec(5) Environment=/EnvironmentFile=,
systemd.unit(5) "Specifiers"), following systemd 252 (Debian 12):

- words are split as extract_first_word() does with unquoting and C unescaping: quotes may start in the
  middle of a word, ``\\n``, ``\\x41``, ``\\s`` ... are decoded;
- Exec*= lines start with optional prefixes ``- @ : + ! !!``; ``@`` makes the second word argv[0];
  ``:`` turns environment expansion off;
- specifiers (``%i %n %p %h %t ...``) are resolved in every word, before environment expansion;
- environment expansion at run time: a word that is exactly ``$NAME`` becomes the variable's value split
  at whitespace (zero words when unset or empty), ``${NAME}`` anywhere in a word becomes the value as one
  piece (empty when unset), ``$$`` is a literal ``$``, any other ``$`` stays as written (so the shell of
  ``sh -c "... $FOO"`` sees it, as it does under systemd);
- EnvironmentFile= content is read with systemd's own env-file state machine (comments only at the start
  of a line, quotes and backslashes as in the shell, no ``export``, invalid names dropped).

Pure functions: no I/O here, the analyzer feeds them guest text.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable

WHITESPACE = " \t\n\r"
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
EXEC_PREFIX = re.compile(r"^([-@:+!|]*)")
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\",
                   '"': '"', "'": "'", "s": " "}


def _cunescape_at(text: str, i: int) -> tuple[str, int]:
    """Decode the C escape whose backslash is at ``text[i]``; returns (decoded, index after it)."""
    if i + 1 >= len(text):
        return "\\", i + 1
    c = text[i + 1]
    if c in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[c], i + 2
    if c == "x" and re.match(r"[0-9a-fA-F]{2}", text[i + 2:i + 4]):
        return chr(int(text[i + 2:i + 4], 16)), i + 4
    if c == "u" and re.match(r"[0-9a-fA-F]{4}", text[i + 2:i + 6]):
        return chr(int(text[i + 2:i + 6], 16)), i + 6
    if c == "U" and re.match(r"[0-9a-fA-F]{8}", text[i + 2:i + 10]):
        code = int(text[i + 2:i + 10], 16)
        return (chr(code) if code <= 0x10FFFF else ""), i + 10
    if c in "01234567" and re.match(r"[0-7]{3}", text[i + 1:i + 4]):
        return chr(int(text[i + 1:i + 4], 8)), i + 4
    return c, i + 2  # EXTRACT_RELAX: an unknown escape is the character itself


def split_words(text: str) -> list[str]:
    """Words of a setting value: whitespace-separated, single/double quotes (also mid-word), C escapes."""
    words: list[str] = []
    buf: list[str] = []
    in_word = False
    quote: str | None = None
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if quote is not None:
            if c == quote:
                quote = None
                i += 1
            elif c == "\\":
                s, i = _cunescape_at(text, i)
                buf.append(s)
            else:
                buf.append(c)
                i += 1
            continue
        if c in WHITESPACE:
            if in_word:
                words.append("".join(buf))
                buf, in_word = [], False
            i += 1
        elif c in "'\"":
            quote, in_word = c, True
            i += 1
        elif c == "\\":
            s, i = _cunescape_at(text, i)
            buf.append(s)
            in_word = True
        else:
            buf.append(c)
            in_word = True
            i += 1
    if in_word:
        words.append("".join(buf))
    return words


def split_exec_prefixes(value: str) -> tuple[str, str]:
    """(prefixes, rest) of an Exec*= value."""
    value = value.strip()
    m = EXEC_PREFIX.match(value)
    prefixes = m.group(1) if m else ""
    return prefixes, value[len(prefixes):]


# -- specifiers ------------------------------------------------------------------------------------------
def unit_name_unescape(text: str) -> str:
    """systemd-escape --unescape: ``-`` is ``/``, ``\\xNN`` a byte."""
    out = re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: "\0" + chr(int(m.group(1), 16)), text)
    out = out.replace("-", "/")
    return re.sub(r"\0(.)", lambda m: m.group(1), out)


def specifier_table(unit_name: str, instance: str | None, *, fragment: str | None = None,
                    hostname: str | None = None, os_id: str | None = None, os_version: str | None = None,
                    arch: str | None = None) -> dict[str, str]:
    """The specifiers of the system manager (systemd.unit(5) "Specifiers") for one unit. A template read
    for itself (no instance) keeps ``%i``/``%I``/``%f`` as written: there is nothing to put in them."""
    stem, _, _suffix = unit_name.rpartition(".")
    prefix = stem.split("@", 1)[0]
    table = {
        "n": unit_name, "N": stem, "p": prefix, "P": unit_name_unescape(prefix),
        "j": prefix.rsplit("-", 1)[-1], "J": unit_name_unescape(prefix.rsplit("-", 1)[-1]),
        # the system manager runs as root: %u %U %g %G %h %s describe root, not the User= of the unit
        "u": "root", "U": "0", "g": "root", "G": "0", "h": "/root", "s": "/bin/sh",
        "t": "/run", "S": "/var/lib", "C": "/var/cache", "L": "/var/log", "E": "/etc", "T": "/tmp",
        "V": "/var/tmp", "%": "%",
    }
    if instance is not None:
        table["i"], table["I"] = instance, unit_name_unescape(instance)
        table["f"] = "/" + unit_name_unescape(instance).lstrip("/")
    elif "@" not in stem:
        table["f"] = "/" + unit_name_unescape(prefix).lstrip("/")
    if fragment:
        table["y"] = fragment
        table["Y"] = fragment.rsplit("/", 1)[0] or "/"
    if hostname:
        table["H"], table["l"] = hostname, hostname.split(".", 1)[0]
    if os_id:
        table["o"] = os_id
    if os_version:
        table["w"] = os_version
    if arch:
        table["a"] = arch
    return table


def expand_specifiers(text: str, table: dict[str, str]) -> str:
    """``%x`` replaced from ``table``; a specifier it does not know (boot id, machine id, an instance
    specifier of a bare template) stays as written."""
    return re.sub(r"%(.)", lambda m: table.get(m.group(1), m.group(0)), text, flags=re.S)


# -- environment -------------------------------------------------------------------------------------------
def parse_environment(value: str, specifiers: Callable[[str], str] | None = None) -> list[tuple[str, str]]:
    """Environment= assignments: words (quotes, C escapes), specifiers resolved in each word, each word
    ``NAME=value``; invalid ones dropped."""
    out = []
    for word in split_words(value):
        if specifiers is not None:
            word = specifiers(word)
        name, eq, val = word.partition("=")
        if eq and ENV_NAME.match(name):
            out.append((name, val))
    return out


def parse_env_file(text: str) -> list[tuple[str, str]]:
    """EnvironmentFile= content as systemd's parse_env_file_internal() reads it; later assignments of a
    name win (the caller keeps the order)."""
    out: list[tuple[str, str]] = []
    state = "pre_key"
    key: list[str] = []
    value: list[str] = []
    last_ws: int | None = None

    def push() -> None:
        k = "".join(key).rstrip(WHITESPACE)
        v = "".join(value)
        if ENV_NAME.match(k):
            out.append((k, v))

    for c in text:
        if state == "pre_key":
            if c in "#;":
                state = "comment"
            elif c not in WHITESPACE:
                state, key, value = "key", [c], []
        elif state == "key":
            if c in "\n\r":
                state = "pre_key"
            elif c == "=":
                state, last_ws = "pre_value", None
            else:
                key.append(c)
        elif state == "pre_value":
            if c in "\n\r":
                push()
                state = "pre_key"
            elif c == "'":
                state = "single"
            elif c == '"':
                state = "double"
            elif c == "\\":
                state = "value_escape"
            elif c not in WHITESPACE:
                state = "value"
                value.append(c)
        elif state == "value":
            if c in "\n\r":
                if last_ws is not None:
                    del value[last_ws:]
                push()
                state = "pre_key"
            elif c == "\\":
                state, last_ws = "value_escape", None
            else:
                if c not in WHITESPACE:
                    last_ws = None
                elif last_ws is None:
                    last_ws = len(value)
                value.append(c)
        elif state == "value_escape":
            state = "value"
            if c not in "\n\r":
                value.append(c)
        elif state == "single":
            if c == "'":
                state = "pre_value"
            else:
                value.append(c)
        elif state == "double":
            if c == '"':
                state = "pre_value"
            elif c == "\\":
                state = "double_escape"
            else:
                value.append(c)
        elif state == "double_escape":
            state = "double"
            if c in '"\\`$':
                value.append(c)
            elif c != "\n":
                value.extend(("\\", c))
        elif state == "comment":
            if c == "\\":
                state = "comment_escape"
            elif c in "\n\r":
                state = "pre_key"
        elif state == "comment_escape":
            state = "pre_key" if c in "\n\r" else "comment"
    if state in ("pre_value", "value", "value_escape", "single", "double", "double_escape"):
        if state == "value" and last_ws is not None:
            del value[last_ws:]
        push()
    return out


def ignored_exports(text: str) -> list[tuple[str, str, int]]:
    """``export NAME=value`` lines of an environment file: systemd ignores them (the name ``export NAME``
    is not a valid variable name), a shell sourcing the same file does not. (name, value, line)."""
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        m = re.match(r"^\s*export\s+([A-Za-z_]\w*)=(.*)$", line)
        if m:
            value = parse_env_file(f"{m.group(1)}={m.group(2)}\n")
            out.append((m.group(1), value[0][1] if value else "", lineno))
    return out


def replace_env(word: str, env: dict[str, str]) -> str:
    """``${NAME}`` → value (empty when unset) and ``$$`` → ``$`` inside one word; other ``$`` kept."""
    out: list[str] = []
    i, n = 0, len(word)
    while i < n:
        c = word[i]
        if c != "$" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        nxt = word[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            end = word.find("}", i + 2)
            if end < 0:
                out.append(word[i:])
                break
            out.append(env.get(word[i + 2:end], ""))
            i = end + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def expand_env_argv(argv: list[str], env: dict[str, str]) -> list[str]:
    """systemd's replace_env_argv(): see the module docstring."""
    out: list[str] = []
    for word in argv:
        if word.startswith("$") and len(word) > 1 and word[1] not in "{$":
            value = env.get(word[1:])
            if value:
                out.extend(split_words(value))
            continue
        out.append(replace_env(word, env))
    return out


def redact_tokens(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each secret value replaced by ``****`` where it stands as a token of its own (not
    inside a longer word or path): a guest whose MySQL password is "mysql" keeps /usr/sbin/mysqld and
    /etc/mysql/ intact."""
    for value in sorted({v for v in secrets if len(v) >= 3}, key=len, reverse=True):
        if value in text:
            text = re.sub(rf"(?<![\w./-]){re.escape(value)}(?![\w./-])", "****", text)
    return text


# -- what finally runs ---------------------------------------------------------------------------------------
SHELLS = ("sh", "bash", "dash", "ash", "zsh", "ksh")
EXEC_IN_SCRIPT = re.compile(r"(?:^|[;&|\n({]|\bthen|\bdo|\belse)\s*(?:[A-Za-z_]\w*=\S*\s+)*exec\s+([^;&|\n]+)")


def main_executable(argv: list[str]) -> str | None:
    """The program the main process ends up being: argv[0]; for ``sh -c "...; exec /usr/sbin/foo ..."``
    (a wrapper that prepares and then replaces itself) the program of the script's last ``exec``; for
    ``sh /usr/libexec/tomcat10/tomcat-start.sh`` the script the shell runs (the file the service needs)."""
    if not argv:
        return None
    exe = argv[0]
    if exe.rsplit("/", 1)[-1] in SHELLS and "-c" not in argv[1:2]:
        operands = [a for a in argv[1:] if not a.startswith(("-", "+"))]
        if operands and operands[0].startswith("/") and "-c" not in argv:
            return operands[0]
    if exe.rsplit("/", 1)[-1] in SHELLS and len(argv) >= 3 and argv[1] == "-c":
        script = argv[2]
        for m in reversed(list(EXEC_IN_SCRIPT.finditer(script))):
            try:
                words = shlex.split(m.group(1), comments=True)
            except ValueError:
                words = m.group(1).split()
            words = [w for w in words if not re.match(r"^[A-Za-z_]\w*=", w)]
            if words and words[0].startswith("/") and "$" not in words[0]:
                return words[0]
    return exe
