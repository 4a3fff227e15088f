"""Caps on untrusted YAML and JSON input: file size, alias expansion and nesting depth.

``hyperpod.yaml`` and the templates the replacement guard compares come from users and from
other tools. Without caps, three kinds of small input stop a run instead of failing it:

* a YAML alias bomb (``a: &a [x, x]``, ``b: &b [*a, *a]``, ...): PyYAML shares the aliased
  nodes, so loading is fast, but every later walk (validation, a diff, an error message that
  prints the value) visits the expanded tree, which grows exponentially;
* a recursive alias (``&a [*a]``), which never ends when walked;
* deep nesting (``[[[[...]]]]``), which overflows the Python stack (``RecursionError``) in the
  YAML composer, in ``json.loads`` or in any recursive walk afterwards.

:func:`load_yaml` and :func:`load_json` reject these with :class:`InputLimitError` before
anything walks the data; :func:`read_text` refuses oversized files before reading them.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import re
import stat
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class InputLimitError(ValueError):
    """The input exceeds a :class:`Limits` cap; the message is one line (no file name)."""


@dataclass(frozen=True)
class Limits:
    """Caps for one kind of input.

    Args:
        max_bytes: largest file accepted.
        max_nodes: most values (mappings, lists and scalars, keys included) after expanding
            YAML aliases.
        max_depth: deepest nesting of mappings and lists.
        string_keys: mapping keys must be strings (CloudFormation templates are JSON objects).
        max_text_chars: most characters in all scalars (keys included) after expanding YAML
            aliases; default ``EXPANDED_TEXT_FACTOR * max_bytes``. JSON has no aliases, so its text
            is already within ``max_bytes``.
    """

    max_bytes: int
    max_nodes: int
    max_depth: int
    string_keys: bool = False
    max_text_chars: int | None = None

    @property
    def text_chars(self) -> int:
        return self.max_text_chars if self.max_text_chars is not None else EXPANDED_TEXT_FACTOR * self.max_bytes


# Anchors and aliases written by hand rarely double a file; a bomb multiplies it thousands of times. Capping
# the expanded text (not only the count of values) bounds every later walk that copies, joins, hashes or
# prints the strings: one aliased 1 MB string 1,000 times is 1,000 values but 1 GB of text (review rounds
# 9 to 14, tools: each found a new walk that built that text).
EXPANDED_TEXT_FACTOR = 4


# hyperpod.yaml is a few KB; add-on configuration values nest perhaps ten levels.
CONFIG_LIMITS = Limits(max_bytes=1024 * 1024, max_nodes=100_000, max_depth=64)
# CloudFormation accepts template bodies of at most 1 MB (https://docs.aws.amazon.com/AWSCloudFormation/
# latest/UserGuide/cloudformation-limits.html); cdk.out templates are indented, so allow some more.
TEMPLATE_LIMITS = Limits(max_bytes=8 * 1024 * 1024, max_nodes=2_000_000, max_depth=100, string_keys=True)


def read_text(path: Path, limits: Limits) -> str:
    """The file's text; :class:`InputLimitError` when it is larger than ``limits.max_bytes``.

    Raises OSError and UnicodeDecodeError as :meth:`Path.read_text` does; a FIFO is an OSError too,
    opened without blocking (review round 9, tools, L8: ``--config``/``--price-table`` of a FIFO hung
    forever). A device is read up to the cap (``/dev/zero`` is "too large").
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(descriptor, "rb") as handle:
        if stat.S_ISFIFO(os.fstat(handle.fileno()).st_mode):
            raise OSError(errno.EINVAL, "a named pipe, not a file")
        data = handle.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise InputLimitError(f"too large: more than {_size(limits.max_bytes)}")
    return data.decode("utf-8")


def read_regular_bytes(path: Path, max_bytes: int, *, follow_links: bool = False) -> bytes:
    """At most ``max_bytes + 1`` bytes of a regular file, opened without blocking on a FIFO.

    A symbolic link (unless ``follow_links``), a FIFO, a socket or a device raises ``OSError``
    (``EINVAL``) naming it, before anything is read: a FIFO would block the reader forever and a
    link could point anywhere on the machine (``/dev/zero``, another user's file). The caller
    compares the length with ``max_bytes``.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow_links else getattr(os, "O_NOFOLLOW", 0))
    try:
        descriptor = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_links:  # O_NOFOLLOW on a link
            raise OSError(exc.errno, "a symbolic link, not a file cdk synth writes") from None
        raise
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise OSError(errno.EINVAL, "a pipe, socket, device or directory, not a regular file")
        return handle.read(max_bytes + 1)


def read_regular_text(path: Path, limits: Limits, *, follow_links: bool = False) -> str:
    """:func:`read_input_text` through :func:`read_regular_bytes`: links (unless ``follow_links``), FIFOs
    and devices are refused as :class:`UnreadableInputError` of kind ``"os"``."""
    try:
        data = read_regular_bytes(path, limits.max_bytes, follow_links=follow_links)
    except FileNotFoundError as exc:
        raise UnreadableInputError("missing", exc.strerror or str(exc)) from None
    except OSError as exc:
        raise UnreadableInputError("os", exc.strerror or str(exc)) from None
    if len(data) > limits.max_bytes:
        raise UnreadableInputError("limit", f"too large: more than {_size(limits.max_bytes)}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UnreadableInputError("encoding", "not UTF-8 text") from None


class UnreadableInputError(ValueError):
    """A file :func:`read_input_text` could not read.

    ``kind`` is ``"limit"`` (too large), ``"missing"``, ``"os"`` (any other OS error) or ``"encoding"``
    (not UTF-8); ``reason`` says why in one line without the file name, so each command words the
    error its own way.
    """

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def read_input_text(path: Path, limits: Limits) -> str:
    """:func:`read_text`, with every way it fails as one :class:`UnreadableInputError`."""
    try:
        return read_text(path, limits)
    except InputLimitError as exc:
        raise UnreadableInputError("limit", str(exc)) from None
    except FileNotFoundError as exc:
        raise UnreadableInputError("missing", exc.strerror or str(exc)) from None
    except OSError as exc:
        raise UnreadableInputError("os", exc.strerror or str(exc)) from None
    except UnicodeDecodeError:
        raise UnreadableInputError("encoding", "not UTF-8 text") from None


def _size(count: int) -> str:
    return f"{count // (1024 * 1024)} MiB" if count >= 1024 * 1024 else f"{count // 1024} KiB"


class BoundedSafeLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no type hints: SafeLoader is Any
    """``yaml.SafeLoader`` that stops composing past ``max_depth`` levels (before the stack overflows)."""

    max_depth = CONFIG_LIMITS.max_depth

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > self.max_depth:
                mark = self.peek_event().start_mark
                raise InputLimitError(f"nested too deeply: more than {self.max_depth} levels (line {mark.line + 1})")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        """A constructor's ``ValueError`` (``2001-02-30``, ``!!float "x"``, ``!!int "0xZZ"``) as one
        :class:`InputLimitError` naming the line, not a traceback (seventh review, M1); an integer too long
        to print is refused before it is built (:func:`_refuse_long_integer`)."""
        if isinstance(node, yaml.ScalarNode) and node.tag == _INT_TAG:
            _refuse_long_integer(node)
        try:
            return super().construct_object(node, deep)
        except InputLimitError:
            raise
        except OverflowError:  # a sexagesimal float of 200 parts: PyYAML's int base overflows float
            raise InputLimitError(f"a number is too large (line {node.start_mark.line + 1})") from None
        except ValueError as exc:
            error = _number_too_long(exc)
            if isinstance(error, InputLimitError):
                raise error from None
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            reason = reason if len(reason) <= 80 else reason[:77] + "..."
            raise InputLimitError(f"could not read the value at line {node.start_mark.line + 1}: {reason}") from None


_INT_TAG = "tag:yaml.org,2002:int"


def _refuse_long_integer(node: yaml.ScalarNode) -> None:
    """Refuse an integer written with more than ``sys.get_int_max_str_digits()`` digits before PyYAML builds it.

    PyYAML builds a YAML 1.1 sexagesimal integer (``1:0:0:...``) part by part on a growing big integer:
    n^2 steps for n parts, 40 s for 1 MB of lint input before :func:`check_tree` refused the result (review
    round 15, tools, M3). Counting the digits is linear; underscores are not digits (``1_000``), and no
    integer this long is within :data:`MAX_INT_BITS` anyway, save one with thousands of leading zeros.
    """
    text: str = node.value
    digits = len(text) - text.count("_") - (text[:1] in ("+", "-"))
    if digits > MAX_INT_DIGITS:
        raise InputLimitError(
            f"a number is too long: more than {MAX_INT_DIGITS} digits (line {node.start_mark.line + 1})"
        )


def load_yaml(text: str, limits: Limits, loader: type[BoundedSafeLoader] = BoundedSafeLoader) -> Any:
    """Parse one YAML document within ``limits``.

    Raises :class:`InputLimitError` for too deep or too large (after alias expansion) input and
    ``yaml.YAMLError`` for invalid YAML.
    """
    parser = loader(text)
    parser.max_depth = limits.max_depth
    try:
        node = parser.get_single_node()
        if node is None:
            return None
        _check_node_graph(node, limits)
        data = parser.construct_document(node)
    except InputLimitError:
        raise
    except ValueError as exc:
        raise _number_too_long(exc) from None
    finally:
        parser.dispose()
    check_tree(data, limits)
    return data


def _check_node_graph(root: yaml.Node, limits: Limits) -> None:
    """Count the values the composed YAML expands to, without expanding it.

    Aliased nodes are shared objects in the graph; the expanded size of a node (values, and
    characters of its scalars) is computed once (post-order, with an explicit stack) and reused, so
    a bomb costs as many steps as it has distinct nodes. A node reached again while its children
    are still being counted is a recursive alias.
    """
    sizes: dict[int, tuple[int, int]] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            children = _children(node)
            total = 1 + sum(sizes[id(child)][0] for child in children)
            chars = sum(sizes[id(child)][1] for child in children) if children else _scalar_chars(node)
            on_path.discard(key)
            if total > limits.max_nodes:
                raise InputLimitError(
                    f"too large once YAML aliases are expanded: more than {limits.max_nodes:,} values "
                    f"(line {node.start_mark.line + 1})"
                )
            if chars > limits.text_chars:
                raise InputLimitError(
                    f"too large once YAML aliases are expanded: more than {_size(limits.text_chars)} of text "
                    f"(line {node.start_mark.line + 1})"
                )
            sizes[key] = (total, chars)
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise InputLimitError(f"a YAML alias refers to itself (line {node.start_mark.line + 1})")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)


def _scalar_chars(node: yaml.Node) -> int:
    return len(node.value) if isinstance(node, yaml.ScalarNode) else 0


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def load_json(text: str, limits: Limits) -> Any:
    """``json.loads`` within ``limits``; raises ``ValueError`` for invalid JSON."""
    return load_json_counted(text, limits)[0]


def load_json_counted(text: str, limits: Limits) -> tuple[Any, int]:
    """:func:`load_json`, and the number of values it holds (for a cap over several files)."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise InputLimitError(f"nested too deeply: more than {limits.max_depth} levels") from None
    except ValueError as exc:
        raise _number_too_long(exc) from None
    return data, check_tree(data, limits)


def _number_too_long(exc: ValueError) -> ValueError:
    """Python refuses to convert integers of more than ``sys.get_int_max_str_digits()`` digits
    (4300 by default) and says to raise the limit: an input error, not a reason to raise it."""
    if "integer string conversion" in str(exc):
        return InputLimitError(f"a number is too long: more than {sys.get_int_max_str_digits()} digits")
    return exc


# YAML 1.1 builds hexadecimal, binary, octal and sexagesimal integers with no digit limit; the first
# str() or repr() of one past sys.get_int_max_str_digits() decimal digits raises ValueError (seventh
# review, M1). Refused here, before a message or a rule prints one.
MAX_INT_DIGITS = sys.get_int_max_str_digits() or 4300
MAX_INT_BITS = math.ceil(MAX_INT_DIGITS * math.log2(10))


def check_tree(value: Any, limits: Limits) -> int:
    """Check parsed data (JSON, a YAML document, a template body an API returned) against ``limits``.

    Walks with an explicit stack, so it cannot overflow on the input it is meant to reject; a
    cyclic structure stops at ``max_nodes``. Returns the number of values counted.
    """
    count = 0
    # (value, depth, trail); a trail is (parent trail, key or index, is_index), joined only for a message.
    stack: list[tuple[Any, int, Any]] = [(value, 1, None)]
    while stack:
        node, depth, trail = stack.pop()
        count += 1
        if count > limits.max_nodes:
            raise InputLimitError(f"too large: more than {limits.max_nodes:,} values")
        if not isinstance(node, Mapping | list):
            if isinstance(node, int) and node.bit_length() > MAX_INT_BITS:
                raise InputLimitError(
                    f"a number is too long: more than {sys.get_int_max_str_digits()} digits (at {_path(trail)})"
                )
            continue
        if depth > limits.max_depth:
            raise InputLimitError(f"nested too deeply: more than {limits.max_depth} levels (at {_path(trail)})")
        if isinstance(node, Mapping):
            for key, item in node.items():
                count += 1
                if limits.string_keys and not isinstance(key, str):
                    raise InputLimitError(f"{_path((trail, key, False))}: keys must be strings (quote the key)")
                stack.append((item, depth + 1, (trail, key, False)))
        else:
            stack.extend((item, depth + 1, (trail, index, True)) for index, item in enumerate(node))
    return count


MAX_PATH_SHOWN = 120


def _path(trail: Any) -> str:
    """``Resources.Cluster.Properties[0]`` from a trail; keys cut to 40 characters, the whole to 120."""
    parts: list[str] = []
    while trail is not None:
        trail, step, is_index = trail
        parts.append(f"[{step}]" if is_index else f".{_short(step)}")
    text = "".join(reversed(parts)).removeprefix(".") or "the top level"
    return text if len(text) <= MAX_PATH_SHOWN else "..." + text[-(MAX_PATH_SHOWN - 3) :]


def _short(key: Any) -> str:
    text = key if isinstance(key, str) else repr(key)
    return text if len(text) <= 40 else text[:37] + "..."


# Characters a terminal acts on: C0 and C1 controls (ESC, CSI starts, BEL, CR), DEL, and the Unicode
# bidirectional overrides and isolates ("Trojan Source"). lint and the guard print them escaped
# (\x1b, \u202e): a template's names and values must not move the cursor, retitle the window or
# reorder a line.
# Lone UTF-16 surrogates (valid in JSON text, "\\ud800") cannot be encoded to UTF-8: printing one raises
# UnicodeEncodeError (seventh review, M4), so they are escaped too.
_TERMINAL_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def escape_controls(text: str) -> str:
    """``text`` with every terminal control character escaped (newlines too: escape line by line)."""

    def escape(match: re.Match[str]) -> str:
        code = ord(match.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _TERMINAL_CONTROLS.sub(escape, text)


def escape_lines(text: str) -> str:
    """Each line of ``text`` through :func:`escape_controls`, the line breaks kept."""
    return "\n".join(escape_controls(line) for line in text.split("\n"))


def bounded_json(value: Any, limit: int) -> str:
    """The first ``limit`` characters (or all, when shorter) of ``value``'s compact JSON text with sorted
    keys, as ``json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)`` writes it,
    without building the rest: a YAML alias repeats one large object any number of times, and its
    whole text may be gigabytes (review rounds 10 and 13, tools)."""
    parts: list[str] = []
    room = limit

    def add(text: str) -> bool:
        nonlocal room
        parts.append(text[:room])
        room -= len(text)
        return room > 0

    def write(node: Any) -> bool:
        if isinstance(node, Mapping):
            if not add("{"):
                return False
            for index, key in enumerate(sorted(node, key=str)):
                if (index and not add(",")) or not add(json.dumps(str(key)) + ":") or not write(node[key]):
                    return False
            return add("}")
        if isinstance(node, list):
            if not add("["):
                return False
            for index, item in enumerate(node):
                if (index and not add(",")) or not write(item):
                    return False
            return add("]")
        if isinstance(node, str):
            return add(json.dumps(node[:room]) if len(node) > room else json.dumps(node))
        return add(json.dumps(node, default=str))

    write(value)
    return "".join(parts)


class ValueDigests:
    """16-byte digests of JSON-like values, computed once per container and per long string (by id).

    Two values get the same digest when their compact, sorted-key JSON texts are equal (up to the
    ``scalar`` and ``entries`` hooks), and the text is never built: a YAML alias repeats one object,
    whose expanded text may be gigabytes for a few KB of input (review round 14, tools, M2: lint's
    reference keys were that text). Each object the memo holds is kept alive with it, so an id is
    never reused while the digest is.

    Args:
        scalar: the bytes a number, boolean or null is hashed as (default: its JSON text).
        entries: the entries a mapping is hashed as (default: the mapping; the guard spells
            ``Fn::GetAtt`` one way here).
    """

    _MEMO_STRING_CHARS = 80  # shorter strings are hashed again each time: cheaper than the memo

    def __init__(
        self,
        scalar: Callable[[Any], bytes] | None = None,
        entries: Callable[[Mapping[Any, Any]], Mapping[Any, Any]] | None = None,
    ) -> None:
        self._scalar = scalar or (lambda value: json.dumps(value, default=str).encode())
        self._entries = entries or (lambda mapping: mapping)
        self._memo: dict[int, tuple[Any, bytes]] = {}

    def __call__(self, value: Any) -> bytes:
        memo = isinstance(value, Mapping | list) or (isinstance(value, str) and len(value) > self._MEMO_STRING_CHARS)
        if memo:
            held = self._memo.get(id(value))
            if held is not None:
                return held[1]
        hasher = hashlib.blake2b(digest_size=16)
        if isinstance(value, Mapping):
            entries = self._entries(value)
            hasher.update(b"{")
            for key in sorted(entries, key=str):
                hasher.update(self(str(key)) + self(entries[key]))
        elif isinstance(value, list):
            hasher.update(b"[")
            for item in value:
                hasher.update(self(item))
        elif isinstance(value, str):
            hasher.update(b'"' + value.encode("utf-8", "surrogatepass"))
        else:
            hasher.update(b"=" + self._scalar(value))
        digest = hasher.digest()
        if memo:
            self._memo[id(value)] = (value, digest)
        return digest
