"""Files and directories that hold secrets: private to their owner, whatever the umask.

The hash key and the daily salts live in ``FOOTFALL_SECRETS_DIR``. Anyone who can read them can
test guesses of client addresses against the stored hashes, so every directory footfall creates
on the way to them (the secrets dir, each parent of it that did not exist, ``salts/``) is mode
0700 and every file 0600, set explicitly rather than left to the process's umask; and a secrets
dir that already exists is refused when its group or others have any access to it
(:func:`check_private_dir`, called when settings are read from the environment).
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


class SecretsAccessError(ValueError):
    """The secrets dir is open to its group or to others; the message gives the ``chmod`` that fixes it."""


def check_private_dir(path: Path, setting: str = "FOOTFALL_SECRETS_DIR") -> None:
    """Refuse a directory of secrets that its group or others may read, write or enter.

    A directory that does not exist yet passes: footfall creates it private
    (:func:`make_private_dirs`).

    Args:
        path: the directory (already resolved: a symlink's target is what is checked).
        setting: the environment variable that names it, for the message.

    Raises:
        SecretsAccessError: its mode grants group or other permissions; the message names the
            mode and the exact ``chmod`` to run.
    """
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        raise SecretsAccessError(
            f"{setting} {path} is open to other users (mode {mode:04o}): anyone who reads its salts or key can "
            f"test guesses of client addresses against the stored hashes. Run: chmod 700 {_quoted(path)}"
        )


def _quoted(path: Path) -> str:
    text = str(path)
    return text if all(c.isalnum() or c in "/._-+,:@%" for c in text) else "'" + text.replace("'", "'\\''") + "'"


def make_private_dirs(path: Path) -> Path:
    """Create directory ``path`` and every missing parent, each with mode 0700.

    Directories that already exist keep their mode (the secrets dir's is checked at start-up);
    only the ones created here are set, with ``chmod`` after ``mkdir`` so that the umask cannot
    widen or narrow them. Safe when another process creates them at the same time.
    """
    missing = []
    for directory in (path, *path.parents):
        if directory.is_dir():
            break
        missing.append(directory)
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue  # created meanwhile by another process, which sets its mode
        os.chmod(directory, DIR_MODE)
    return path


def create_secret_file(path: Path, nbytes: int) -> bytes:
    """Create ``path`` (mode 0600, its missing directories 0700) with ``nbytes`` random bytes
    unless it exists, and return its content.

    Race-safe: the bytes are written to a private temporary file and linked into place, so a
    second process that gets there first wins and both return its bytes.
    """
    make_private_dirs(path.parent)
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        # Created 0600 from the first byte: no moment at which the umask's wider mode applies.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        os.fchmod(fd, FILE_MODE)  # a umask such as 0o177 would have left it narrower
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(nbytes))
        try:
            # link() fails if another process created the file first: both then use its bytes.
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_bytes()
