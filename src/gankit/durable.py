"""Atomic, durable writes: a file or folder is the old version or the new one, never half.

A rename is atomic, but only once the data it points at and the folder entry
are on the disk; otherwise a power cut after the rename can leave an empty or
truncated file under the final name. So each write follows one order:

- a file: write it under a temporary name in the same folder (``.NAME.tmp``),
  flush and fsync it, rename it over the final name, fsync the folder;
- a folder: write and fsync every file inside a temporary folder, fsync that
  folder, move any previous version aside (``.NAME.old``), rename the new one in,
  fsync the parent, then delete the old one - so there is never a moment with
  neither copy on disk.

A crash leaves at most a hidden ``.NAME.tmp`` or ``.NAME.old`` beside the real
name; ``tidy`` deletes them, or moves an ``.old`` back when the real one is missing.
Writers choose *when* to write; this module only says *how*.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from pathlib import Path

from gankit import faults

# The leftovers this module (and the writers that follow its naming) may leave behind;
# a suffix after .tmp keeps a file type some libraries insist on (".losses.png.tmp.png").
_LEFTOVER_TMP = re.compile(r"^\..+\.tmp(\.\w+)?$")
_LEFTOVER_OLD = re.compile(r"^\.(.+)\.old$")


def temp_path(path: Path) -> Path:
    """The temporary name ``path`` is written under before it is renamed into place."""
    return path.with_name(f".{path.name}.tmp")


def aside_path(path: Path) -> Path:
    """Where the previous version of folder ``path`` waits while the new one moves in."""
    return path.with_name(f".{path.name}.old")


def write_file(path: str | Path, data: str | bytes, *, fault: str | None = None) -> Path:
    """Writes ``data`` to ``path`` atomically and durably (text as UTF-8).

    Args:
        fault: the fault point reached once the temporary file is synced, before the
            rename (see ``gankit.faults``).

    Raises:
        OSError: the write failed; ``path`` still holds its previous content.
    """
    path = Path(path)
    tmp = temp_path(path)
    payload = data.encode() if isinstance(data, str) else data
    try:
        with open(tmp, "wb") as f:
            f.write(payload)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return replace_file(tmp, path, fault=fault)


def replace_file(tmp: str | Path, path: str | Path, *, fault: str | None = None) -> Path:
    """Moves the complete file ``tmp`` over ``path`` durably; for files a library writes.

    The caller has written and closed ``tmp`` in the same folder as ``path`` (e.g. a
    figure saved by matplotlib, a PNG by Pillow); this syncs it, renames it into
    place and syncs the folder. ``tmp`` is deleted when anything fails.

    Args:
        fault: the fault point reached once ``tmp`` is synced, before the rename.

    Raises:
        OSError: the sync or the rename failed; ``path`` still holds its previous content.
    """
    tmp, path = Path(tmp), Path(path)
    try:
        sync_file(tmp)
        if fault:
            faults.point(fault)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    sync_folder(path.parent)
    return path


def sync_file(path: str | Path) -> None:
    """Forces a file written by someone else (e.g. safetensors) onto the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_tree(folder: str | Path) -> None:
    """Forces every file and folder under ``folder``, and ``folder`` itself, onto the disk.

    For a folder filled by several writers before it is renamed into place as a whole.
    """
    folder = Path(folder)
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not path.is_symlink():
            sync_folder(path)
        elif path.is_file() and not path.is_symlink():
            sync_file(path)
    sync_folder(folder)


def sync_folder(path: str | Path) -> None:
    """Forces a folder's entries (files created, renamed or deleted in it) onto the disk."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as e:  # some file systems cannot fsync a folder; the rename stays atomic
        if e.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def replace_folder(tmp: Path, final: Path, *, fault: str | None = None) -> Path:
    """Moves the complete folder ``tmp`` to ``final``, replacing any previous version.

    The caller has written and synced every file in ``tmp``, and ``tmp`` itself.

    Args:
        fault: the fault point reached while the previous version is aside and the new
            one not yet in place (only when there is a previous version).

    Raises:
        OSError: the move failed; ``final`` is back to its previous version.
    """
    old = aside_path(final)
    had_old = final.exists()
    if had_old:
        remove(old)
        os.replace(final, old)
    try:
        if had_old and fault:
            faults.point(fault)
        os.replace(tmp, final)
    except BaseException:
        if had_old:
            os.replace(old, final)
        raise
    sync_folder(final.parent)
    if had_old:
        remove(old)
    return final


def remove(path: Path) -> None:
    """Deletes a file or a folder tree if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def describe(e: OSError) -> str:
    """A failed write's cause for a one-line message, e.g. "no space left on device"."""
    if e.errno == errno.ENOSPC:
        return "no space left on device"
    return (e.strerror or str(e)).lower()


def is_leftover(name: str) -> bool:
    """Whether a file or folder called ``name`` is what an interrupted write left behind."""
    return bool(_LEFTOVER_TMP.match(name) or _LEFTOVER_OLD.match(name))


def tidy(folder: Path) -> None:
    """Cleans what an interrupted write left in ``folder``.

    Temporary files and folders are deleted; a previous version set aside is moved back
    when its real name is missing (the crash came between the two renames), else deleted.
    """
    if not folder.is_dir():
        return
    for child in sorted(folder.iterdir()):
        old = _LEFTOVER_OLD.match(child.name)
        if old:
            final = folder / old.group(1)
            if final.exists():
                remove(child)
            else:
                os.replace(child, final)
        elif _LEFTOVER_TMP.match(child.name):
            remove(child)
