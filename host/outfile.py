"""Files that appear whole or not at all, alone (replacing) or as a set (staged).

replacing: one file written under a temporary name beside the target, synced, then renamed
(os.replace is atomic on one file system); an existing file of the same name stays as it was
until the new one is complete.

staged: a set of files (SMEC's workbooks and their constancia) written into a staging folder
inside the target folder (the same file system), then renamed into place together; files of
the previous set are moved aside first and put back if any rename fails, so the folder holds
the old set or the new one, never a mix. On any failure nothing is left in the folder.

Every way of failing ends in OutputError (a ValueError: the CLI prints its message, exit 1)
naming the file and the reason, never a traceback. Temporaries are removed in every case a
process survives; those of a killed run (".opsm-staging-*" and ".staging-<pid>" folders,
".NAME.XXXXXXXX.part" files) are swept from the folder by the next write there once older
than STALE_AFTER_S, so a run still writing is left alone.
"""

import contextlib
import os
import re
import shutil
import tempfile
import time

STAGING_PREFIX = ".opsm-staging-"
STALE_AFTER_S = 3600.0
_STALE = re.compile(r"\.opsm-staging-.+|\.staging-\d+|\..+\.[A-Za-z0-9_]{8}\.part")


class OutputError(ValueError):
    """A file could not be written; `reason` is the system's word for why (e.g. No space left on device)."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OutputError):
        return exc.reason
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _folder(folder: str) -> bool:
    """Create folder if needed; whether it was created."""
    if os.path.isdir(folder):
        return False
    try:
        os.makedirs(folder)
    except OSError as exc:
        if os.path.isdir(folder):
            return False
        raise OutputError("out: cannot create folder %s: %s" % (folder, _reason(exc)), _reason(exc)) from None
    return True


def _remove_created(folder: str, created: bool) -> None:
    if created:
        with contextlib.suppress(OSError):
            os.rmdir(folder)  # only if empty


def sweep(folder: str, now: float | None = None) -> list:
    """Remove the temporaries of killed runs (by name) older than STALE_AFTER_S; what was removed."""
    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not _STALE.fullmatch(entry.name):
            continue
        try:
            if now - entry.stat(follow_symlinks=False).st_mtime < STALE_AFTER_S:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed.append(entry.name)
        except OSError:
            pass  # another run's, or gone already
    return removed


def _sync(path: str) -> None:
    """The file's bytes on disk before it is renamed into place (a full disk may only show here)."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_folder(folder: str) -> None:
    with contextlib.suppress(OSError, AttributeError):  # not every system syncs a folder
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def replacing(path: str):
    """Yield a temporary path to write; on success it becomes `path`, on any error it is removed.

    An OSError while writing or renaming becomes OutputError naming `path`."""
    folder = os.path.dirname(os.path.abspath(path))
    created = _folder(folder)
    sweep(folder)
    temporary = None
    try:
        handle, temporary = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".part", dir=folder)
        os.close(handle)
        yield temporary
        _sync(temporary)
        os.replace(temporary, path)
    except BaseException as exc:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        _remove_created(folder, created)
        if isinstance(exc, OSError):
            raise OutputError("out: cannot write %s: %s" % (path, _reason(exc)), _reason(exc)) from None
        raise
    _sync_folder(folder)


class Staging:
    """The staging folder of a set: file(name) is where the set's file `name` is written before it is published,
    scratch(name) where a file that is not published (a workbook packed into a zip) is."""

    def __init__(self, folder: str, path: str):
        self.folder = folder
        self.path = path
        self.names: list = []
        self.current = None  # the file being written, for the message when it fails

    def file(self, name: str) -> str:
        if os.path.basename(name) != name or name.startswith(".") or name in self.names:
            raise ValueError("out: %r is not a new file name of the set" % name)
        self.names.append(name)
        self.current = name
        return os.path.join(self.path, name)

    def scratch(self, name: str) -> str:
        self.current = name
        folder = os.path.join(self.path, ".scratch")
        os.makedirs(folder, exist_ok=True)
        return os.path.join(folder, name)


@contextlib.contextmanager
def staged(folder: str, replaces=()):
    """Yield a Staging; when the block ends, its files appear in `folder` together, and the files named in
    `replaces` (the previous set) are gone; on any failure `folder` is as it was. The staging folder is
    removed in every case."""
    folder = os.path.abspath(folder)
    created = _folder(folder)
    sweep(folder)
    try:
        path = tempfile.mkdtemp(prefix="%s%d-" % (STAGING_PREFIX, os.getpid()), dir=folder)
    except OSError as exc:
        _remove_created(folder, created)
        raise OutputError("out: cannot create a staging folder in %s: %s" % (folder, _reason(exc)),
                          _reason(exc)) from None
    staging = Staging(folder, path)
    try:
        try:
            yield staging
            for name in staging.names:
                staging.current = name
                _sync(os.path.join(path, name))
        except (OSError, OutputError) as exc:
            what = "%s in %s" % (staging.current, folder) if staging.current else "in %s" % folder
            raise OutputError("out: cannot write %s: %s; nothing was written" % (what, _reason(exc)),
                              _reason(exc)) from None
        _publish(staging, replaces)
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        _remove_created(folder, created)
        raise
    shutil.rmtree(path, ignore_errors=True)


def _publish(staging: Staging, replaces) -> None:
    """Move the previous set aside, the new one in; on a failure undo both."""
    folder, aside = staging.folder, os.path.join(staging.path, ".previous")
    moved, placed = [], []
    try:
        os.mkdir(aside)
        for name in sorted(set(replaces) | set(staging.names)):
            if os.path.lexists(os.path.join(folder, name)):
                os.replace(os.path.join(folder, name), os.path.join(aside, name))
                moved.append(name)
        for name in staging.names:
            staging.current = name
            os.replace(os.path.join(staging.path, name), os.path.join(folder, name))
            placed.append(name)
    except OSError as exc:
        for name in placed:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(folder, name))
        for name in moved:
            with contextlib.suppress(OSError):
                os.replace(os.path.join(aside, name), os.path.join(folder, name))
        raise OutputError("out: cannot move %s into %s: %s; the folder is as it was"
                          % (staging.current or "the files", folder, _reason(exc)), _reason(exc)) from None
    _sync_folder(folder)
