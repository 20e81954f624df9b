"""Atomic writing: a file or a whole output directory is prepared beside its target, then
renamed over it, so readers see either the previous outputs or the complete new ones."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

#: the file that marks a directory as a gpu-moa output (so a later command may replace it whole)
OUTPUT_MARKER = ".gpu-moa-output"


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it to ``path``.

    If the block raises (or the process is interrupted), the temporary file is removed and any
    existing file at ``path`` is left untouched, so readers never see a half-written file.
    File-system errors name ``path``, not the temporary file.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as exc:
        raise _naming(exc, target) from None
    os.close(fd)
    tmp_path = Path(tmp)
    _usual_mode(tmp_path, 0o666)  # mkstemp creates 0600; give the file the usual mode
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        if exc.filename in (str(tmp_path), tmp_path):
            raise _naming(exc, target) from None
        raise
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _naming(exc: OSError, target: Path) -> OSError:
    """The same error about ``target`` (the user's path) instead of a temporary one."""
    return type(exc)(exc.errno, exc.strerror, str(target))


def check_file_target(path: str | os.PathLike[str]) -> None:
    """Raise the :class:`OSError` writing a file at ``path`` would end in, before any work.

    ``path`` must not be a directory, and its nearest existing ancestor must be a writable
    directory (missing directories in between are created at write time).

    Parameters
    ----------
    path : str or path-like
        Where a command will write its output file.

    Raises
    ------
    OSError
        IsADirectoryError, NotADirectoryError or PermissionError naming the offending path.
    """
    target = Path(os.path.abspath(path))
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory, expected a file name", str(target))
    parent = target.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "a path component is not a directory", str(target))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, "the directory is not writable", str(parent))


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def _usual_mode(path: Path, mode: int) -> None:
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, mode & ~umask)


def _check_replaceable(
    target: Path, replaceable: Collection[str] | Callable[[str], bool], what: str
) -> None:
    """Raise unless ``target`` is empty, marked as a gpu-moa output, or holds only the names
    that ``replaceable`` accepts (the outputs of an earlier run)."""
    if not target.is_dir():
        raise NotADirectoryError(
            errno.ENOTDIR, f"{what} exists and is not a directory", str(target)
        )
    names = [entry.name for entry in target.iterdir()]
    accept = replaceable if callable(replaceable) else set(replaceable).__contains__
    foreign = [n for n in names if n != OUTPUT_MARKER and not accept(n)]
    if foreign and OUTPUT_MARKER not in names:
        from gpu_moa._validation import _preview, data_error

        raise data_error(
            str(target),
            f"{what} already exists and holds files gpu-moa did not write "
            f"({_preview(sorted(foreign), 3)}); the command replaces its output directory whole",
            "choose a new or empty directory, or remove or rename the existing one",
        )


@contextmanager
def atomic_dir(
    path: str | os.PathLike[str],
    *,
    replaceable: Collection[str] | Callable[[str], bool] = (),
    what: str = "the output directory",
) -> Iterator[Path]:
    """Yield an empty staging directory beside ``path``; on success swap it in for ``path``.

    The staging directory is created at once (so an unwritable location fails before any
    computation). On success it gets the :data:`OUTPUT_MARKER` file and replaces ``path``: the
    previous directory is renamed aside, the staging one renamed to ``path``, and only then the
    previous one removed (it is put back if the second rename fails). If the block raises or is
    interrupted, the staging directory is removed and ``path`` is left byte-identical.

    Parameters
    ----------
    path : str or path-like
        The output directory.
    replaceable : collection of str or callable
        Names of the entries an earlier run writes (or a predicate on a name): an existing
        ``path`` without the marker is replaced only when it holds nothing else.
    what : str
        How messages name the directory (e.g. "--out").

    Yields
    ------
    Path
        The staging directory to write into.

    Raises
    ------
    DataError
        When ``path`` exists and holds files gpu-moa did not write.
    OSError
        When ``path`` is not a directory or its parent is not writable (naming ``path``).
    """
    target = Path(os.path.abspath(path))  # "." or "out/.." get a real name and parent
    cwd = Path.cwd()
    if target == cwd or target in cwd.parents:
        from gpu_moa._validation import data_error

        raise data_error(
            str(target),
            f"{what} is the working directory (or holds it), which the command would replace",
            "choose a subdirectory, e.g. --out results",
        )
    if target.exists() or target.is_symlink():
        _check_replaceable(target, replaceable, what)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(
            tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".staging", dir=target.parent)
        )
    except OSError as exc:  # name the user's path, not the temporary one
        raise _naming(exc, target) from None
    try:
        _usual_mode(stage, 0o777)
        yield stage
        (stage / OUTPUT_MARKER).write_text("written by gpu-moa; replaced whole by the next run\n")
        _swap(stage, target)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _swap(stage: Path, target: Path) -> None:
    """Rename ``stage`` to ``target``, keeping the previous ``target`` until that succeeded."""
    if not target.exists():
        os.rename(stage, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    os.rmdir(old)
    os.rename(target, old)
    try:
        os.rename(stage, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)
