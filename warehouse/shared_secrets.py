"""Check that every host pseudonymised with the same secrets before a commit counts its events.

A visitor id is keyed with the salt of its day, and the salt is created on first use in
``FOOTFALL_SECRETS_DIR/salts/``. When work units run on several hosts (the CeleryExecutor
deployment, docs/operators/scaling.md), each host must reach the same secrets dir: two hosts with a
secrets dir each would create two salts for one day and split every visitor whose lines they
shared into two unique visitors, silently. Two hash keys (a host without the Airflow Variable
``footfall_hash_key`` generates its own) would do the same to ``client_ip_hash``,
``user_agent_id`` and ``user_hash``.

Each parse result carries a keyed fingerprint of the salts it used
(:meth:`transforms.privacy.KeyStore.salt_fingerprints`); :func:`check_shared_secrets`
compares them with each other and with the warehouse host's before anything is committed.

Also here: the daily salts' end (:func:`purge_salts`), the ingest's first task.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Iterable

from transforms.privacy import KeyStore
from warehouse.settings import ConfigError, Settings


class SecretsNotShared(ConfigError):
    """Work units of one day were pseudonymised with different salts or hash keys."""


def check_shared_secrets(keys: KeyStore, results: Iterable[dict]) -> None:
    """Raise when the parse results' salts differ from each other or from ``keys``' (this host's).

    Args:
        keys: the committing host's key store (its ``FOOTFALL_SECRETS_DIR`` and hash key).
        results: :func:`warehouse.ingest.parse_job.parse_source` results; their ``salts`` (ISO date ->
            fingerprint) are compared. A result without ``salts`` is not checked.

    Raises:
        SecretsNotShared: naming the days, the work units and what to fix; nothing has been
            committed yet, and the next run parses the same bytes again.
    """
    seen: dict[str, collections.defaultdict] = {}
    for result in results:
        unit = result["unit"]
        where = f"{unit['plan']['path']} from byte {unit['start_offset']:,}"
        for day, fingerprint in (result.get("salts") or {}).items():
            seen.setdefault(day, collections.defaultdict(list))[fingerprint].append(where)
    if not seen:
        return
    own = keys.salt_fingerprints(dt.date.fromisoformat(day) for day in seen)
    problems = []
    for day, by_fingerprint in sorted(seen.items()):
        if len(by_fingerprint) > 1 or own.get(day) not in by_fingerprint:
            groups = "; ".join(f"{len(units)} unit(s) such as {units[0]}" for units in by_fingerprint.values())
            here = "none" if day not in own else "one of these" if own[day] in by_fingerprint else "another"
            n = len(by_fingerprint)
            problems.append(f"  {day}: {n} salt(s) in the units ({groups}); the warehouse host has {here}")
    if problems:
        raise SecretsNotShared(
            "work units were pseudonymised with different daily salts or hash keys, which would split each "
            "visitor into several unique visitors:\n" + "\n".join(problems) + "\nNothing was committed. Point "
            "FOOTFALL_SECRETS_DIR of every worker at one shared directory and give all of them the Airflow "
            "Variable footfall_hash_key (docs/operators/scaling.md#secrets-and-salts); the next run parses these "
            "bytes again."
        )


def purge_salts(settings: Settings, now: dt.datetime) -> list[str]:
    """Delete daily salts older than ``salt_max_age_h`` hours at ``now``; returns their days."""
    keys = KeyStore(settings.secrets_dir, settings.hash_key)
    return keys.purge_salts(now, dt.timedelta(hours=settings.salt_max_age_h))
