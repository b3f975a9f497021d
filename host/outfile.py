"""Files that appear whole or not at all: written under a temporary name beside the target, then renamed.

A failed or interrupted export leaves no partial file behind (os.replace is atomic on one
file system), and an existing file of the same name stays as it was until the new one is complete.
"""

import contextlib
import os
import tempfile


@contextlib.contextmanager
def replacing(path: str):
    """Yield a temporary path to write; on success it becomes `path`, on any error it is removed."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise ValueError("out: cannot create folder %s: %s" % (folder, exc.strerror)) from None
    handle, temporary = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".part", dir=folder)
    os.close(handle)
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
