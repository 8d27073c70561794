"""Bearer tokens of the analytics API: created, listed and revoked by the CLI, checked per request.

A token is ``ff_<id>_<secret>``: ``id`` (8 hex digits) names it in listings and revocation,
``secret`` is 32 random bytes (URL-safe base64). It is shown once, when created. The store,
``$FOOTFALL_SECRETS_DIR/api_tokens.json`` (mode 0600), keeps per token its id, role, label,
creation time and ``HMAC-SHA256(key, token)`` in hex, never the token. The key is 32 random
bytes in ``$FOOTFALL_SECRETS_DIR/api_token.key`` (mode 0600, created with the first token), so a
copy of the store alone cannot be used to test guesses.

The API re-reads the store whenever the file changes (it is replaced atomically on every
change), so a revocation applies to the next request. Nothing here logs a token, a hash or
the key.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from transforms.secret_files import FILE_MODE, create_secret_file, make_private_dirs

ROLES = ("viewer", "analyst")  # each role may do what the ones before it may
STORE_NAME = "api_tokens.json"
KEY_NAME = "api_token.key"
_TOKEN_RE = re.compile(r"ff_([0-9a-f]{8})_[A-Za-z0-9_-]{43}")


class TokenError(ValueError):
    """A token command cannot be done (unknown role or token id); the message says why."""


@dataclass(frozen=True)
class TokenRecord:
    """What the store keeps of one token (no secret).

    Attributes:
        token_id: 8 hex digits, the public name of the token.
        role: ``viewer`` or ``analyst``.
        label: who or what it is for (free text, may be empty).
        created_at: ISO-8601 UTC.
        hmac_sha256: hex HMAC of the whole token with the store's key.
    """

    token_id: str
    role: str
    label: str
    created_at: str
    hmac_sha256: str


def role_allows(role: str, needed: str) -> bool:
    """True when a token of ``role`` may call an endpoint that needs ``needed``."""
    return ROLES.index(role) >= ROLES.index(needed)


class TokenStore:
    """The token file of one secrets dir.

    Args:
        secrets_dir: ``FOOTFALL_SECRETS_DIR``.
    """

    def __init__(self, secrets_dir: Path) -> None:
        self.secrets_dir = Path(secrets_dir)
        self.path = self.secrets_dir / STORE_NAME
        self._lock = threading.Lock()
        self._stamp: tuple | None = None
        self._by_id: dict[str, TokenRecord] = {}
        self._key: bytes | None = None

    # -- the file ----------------------------------------------------------------------------

    def _key_bytes(self) -> bytes:
        if self._key is None:
            self._key = create_secret_file(self.secrets_dir / KEY_NAME, 32)
        return self._key

    def _digest(self, token: str) -> str:
        return hmac.new(self._key_bytes(), token.encode("ascii"), hashlib.sha256).hexdigest()

    def records(self) -> list[TokenRecord]:
        """Every token in the store, oldest first."""
        if not self.path.exists():
            return []
        data = json.loads(self.path.read_text(encoding="utf-8"))
        return [TokenRecord(**row) for row in data.get("tokens", [])]

    def _write(self, records: list[TokenRecord]) -> None:
        make_private_dirs(self.secrets_dir)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        body = json.dumps({"version": 1, "tokens": [asdict(r) for r in records]}, indent=2) + "\n"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        os.fchmod(fd, FILE_MODE)  # whatever the umask
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(body)
        os.replace(tmp, self.path)

    # -- the CLI -----------------------------------------------------------------------------

    def create(self, role: str, label: str = "", *, now: dt.datetime | None = None) -> tuple[TokenRecord, str]:
        """Make a new token; returns its record and the token itself (shown once, never stored).

        Raises:
            TokenError: ``role`` is not one of :data:`ROLES`.
        """
        if role not in ROLES:
            raise TokenError(f"unknown role {role!r}; use one of: {', '.join(ROLES)}")
        records = self.records()
        known = {r.token_id for r in records}
        token_id = secrets.token_hex(4)
        while token_id in known:
            token_id = secrets.token_hex(4)
        secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii").rstrip("=")
        token = f"ff_{token_id}_{secret}"
        created = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat(timespec="seconds")
        record = TokenRecord(token_id, role, label, created.replace("+00:00", "Z"), self._digest(token))
        self._write([*records, record])
        return record, token

    def revoke(self, token_id: str) -> TokenRecord:
        """Remove a token by id; the API refuses it from its next request on.

        Raises:
            TokenError: no token has that id.
        """
        records = self.records()
        gone = [r for r in records if r.token_id == token_id]
        if not gone:
            raise TokenError(f"no token with id {token_id!r} (see `make token-list`)")
        self._write([r for r in records if r.token_id != token_id])
        return gone[0]

    # -- the API -----------------------------------------------------------------------------

    def _current(self) -> dict[str, TokenRecord]:
        """The tokens by id, re-read when the file changed (a stat per call)."""
        try:
            st = self.path.stat()
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp:
                    self._by_id = {r.token_id: r for r in self.records()} if stamp else {}
                    self._stamp = stamp
        return self._by_id

    def verify(self, token: str) -> TokenRecord | None:
        """The record of ``token`` when it is a current token, else None (constant-time compare)."""
        match = _TOKEN_RE.fullmatch(token)
        if not match:
            return None
        record = self._current().get(match.group(1))
        if record is None:
            return None
        return record if hmac.compare_digest(self._digest(token), record.hmac_sha256) else None
