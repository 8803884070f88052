"""Change feeds.yaml in place (chat's ``feeds add``, ``watch alias`` …) without losing a comment.

An edit is load → change → dump → validate → atomic replace, all under a lock, so a bad edit
never reaches the disk and two admins editing at once never lose one another's change. The file
keeps ``${VAR}`` as written: the new text is validated with the environment filled in, but what
is written back is the round-tripped document, never the substituted values.

ruamel hangs the comment lines *between* two list entries on the end of the first one, so a
naive append lands below the next section's heading and a removal takes that heading with it.
Before ``change`` runs, :func:`edit_config` re-hangs those lines before the entry they introduce
(or at the end of the section); :func:`append_entry` and :func:`remove_entry` keep it that way.
"""

from __future__ import annotations

import fcntl
import io
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.tokens import CommentToken
from ruamel.yaml.util import load_yaml_guess_indent

from bot.config import Settings, parse_config, yaml_problem
from bot.errors import ConfigError

__all__ = ["append_entry", "edit_config", "find_entry", "remove_entry"]

_LOCK = threading.Lock()  # serialises this process's threads; the flock serialises processes


def edit_config(
    path: Path, change: Callable[[CommentedMap], None], *, environ: Mapping[str, str] | None = None
) -> Settings:
    """Apply ``change`` to the round-tripped document at ``path``; return the new Settings.

    ``change`` mutates the top-level mapping, preferably through the helpers below, finding
    entries by name (an index taken before the lock may be stale). If the result does not
    validate, ConfigError is raised and the file stays byte-for-byte as it was; so it does if
    ``change`` raises. ``environ`` (default os.environ) fills ``${VAR}`` for validation only.
    Not re-entrant: ``change`` must not call edit_config.
    """
    target = path.resolve()  # edit the file a symlink points at, keeping the link
    with _LOCK, _file_lock(target):
        try:
            text = target.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError([f"{path}: no such file"]) from None
        yaml = YAML(typ="rt")
        yaml.preserve_quotes = True
        yaml.width = 4096  # never fold a long URL onto a second line
        try:
            doc, indent, offset = load_yaml_guess_indent(text, yaml=yaml)
        except YAMLError as exc:
            raise ConfigError([yaml_problem(str(path), exc)]) from None
        doc = CommentedMap() if doc is None else doc
        if not isinstance(doc, CommentedMap):
            raise ConfigError([f"{path}:1: must be a mapping; refusing to edit"])
        if offset is None:  # no block list yet: write new ones in the house style
            yaml.indent(mapping=indent or 2, sequence=4, offset=2)
        else:
            yaml.indent(mapping=2, sequence=indent, offset=offset)
        for section in doc.values():
            _settle(section)
        change(doc)
        _unhang_emptied(doc)
        buffer = io.StringIO()
        yaml.dump(doc, buffer)
        new_text = buffer.getvalue()
        settings = replace(parse_config(new_text, source=str(path), environ=environ), source=path)
        if new_text != text:
            _write_atomically(target, new_text)
        return settings


def find_entry(doc: CommentedMap, section: str, name: str) -> CommentedMap | None:
    """The entry of ``doc[section]`` (feeds, entities) whose name matches, case-insensitively."""
    entries = doc.get(section)
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and str(entry.get("name", "")).casefold() == name.casefold():
            return entry  # type: ignore[return-value]
    return None


def append_entry(doc: CommentedMap, section: str, entry: Mapping[str, Any]) -> CommentedMap:
    """Append ``entry`` to ``doc[section]`` (created if missing); its lists are written inline."""
    entries = doc.get(section)
    if not isinstance(entries, CommentedSeq):
        entries = doc[section] = CommentedSeq()
    item = CommentedMap()
    for key, value in entry.items():
        if isinstance(value, list | tuple):
            value = CommentedSeq(value)
            value.fa.set_flow_style()
        item[key] = value
    entries.append(item)
    return item


def remove_entry(doc: CommentedMap, section: str, name: str) -> bool:
    """Remove the named entry; comment lines above it pass to the entry below, so no section
    heading is lost. False if there was no such entry."""
    entries, entry = doc.get(section), find_entry(doc, section, name)
    if entry is None:
        return False
    index = next(i for i, e in enumerate(entries) if e is entry)
    if not isinstance(entries, CommentedSeq):  # a plain list put there by an earlier change
        del entries[index]
        return True
    above = (entries.ca.items.get(index) or [None, None])[1] or []
    del entries[index]  # a non-negative index: ruamel shifts comments wrongly for -1
    _hang_before(entries, index, above)
    return True


def _settle(section: Any) -> None:
    """Hang the lines trailing entry i above entry i+1, the last entry's at the section end."""
    if not _is_block(section):
        return
    if isinstance(section, CommentedSeq):
        for i, entry in enumerate(section):
            if _is_block(entry):
                _hang_before(section, i + 1, _detach_trailing(entry))
    _hang_before(section, len(section), _detach_trailing(section))


def _unhang_emptied(doc: CommentedMap) -> None:
    """Move the comments under a section that is now empty to above the next section.

    ruamel writes ``feeds:``, the comment, then ``[]`` on its own line, which is not YAML.
    """
    keys = list(doc)
    for i, key in enumerate(keys):
        if not isinstance(doc[key], list | dict) or doc[key]:
            continue
        slots = doc.ca.items.get(key) or []
        lines = list(slots[3] or []) if len(slots) > 3 else []
        if lines:
            slots[3] = None
        ca = getattr(doc[key], "ca", None)
        if ca is not None:
            lines += list(ca.end or [])
            ca.comment, ca.end = None, []
        lines = [CommentToken(t.value.lstrip(" "), CommentMark(0), None) for t in lines]
        if lines and i + 1 < len(keys):
            after = doc.ca.items.setdefault(keys[i + 1], [None, None, None, None])
            after[1] = lines + list(after[1] or [])
        elif lines:
            _hang_before(doc, len(doc), lines)


def _detach_trailing(node: Any) -> list[CommentToken]:
    """Cut the lines after ``node``'s last value (keeping its end-of-line comment)."""
    key, slot = (next(reversed(node)), 2) if isinstance(node, CommentedMap) else (len(node) - 1, 0)
    if _is_block(node[key]):
        return _detach_trailing(node[key])
    entry = node.ca.items.get(key)
    token = entry[slot] if entry else None
    if token is None:
        return []
    eol, _, rest = token.value.partition("\n")
    if not rest:
        return []
    if eol:
        token.value = eol + "\n"
    else:
        entry[slot] = None
    return [CommentToken(line + "\n", CommentMark(0), None) for line in rest.splitlines()]


def _hang_before(node: Any, index: int, lines: list[CommentToken]) -> None:
    """Put ``lines`` above entry ``index`` of list ``node``, or at the end of ``node``."""
    if not lines:
        return
    if index < len(node) and isinstance(node, CommentedSeq):
        slots = node.ca.items.setdefault(index, [None, None, None, None])
        slots[1] = lines + list(slots[1] or [])
    else:
        if node.ca.comment is None:
            node.ca.comment = [None, None]  # the emitter only writes `end` when this exists
        node.ca.end = lines + list(node.ca.end or [])


def _is_block(node: Any) -> bool:
    return isinstance(node, CommentedMap | CommentedSeq) and bool(node) and not node.fa.flow_style()


@contextmanager
def _file_lock(target: Path) -> Iterator[None]:
    """Exclusive flock on a sidecar file: the config itself is replaced, so it cannot hold one."""
    fd = os.open(target.with_name(f".{target.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write_atomically(target: Path, text: str) -> None:
    """Temp file in the same directory + fsync + os.replace: readers see old or new, never half."""
    mode = target.stat().st_mode & 0o7777
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # make the rename itself durable
    finally:
        os.close(directory)
