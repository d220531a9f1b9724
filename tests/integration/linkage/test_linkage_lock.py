"""Linkage runs are serialised across processes, on SQLite (a file lock beside the database)
and PostgreSQL (an advisory lock): a second process waits until the first lets go."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from childlink.config import Settings
from childlink.linkage.lock import linkage_lock
from childlink.store.engine import create_session_factory

HOLD_S = 1.5

OTHER_PROCESS = """
import sys, time
from pathlib import Path
from childlink.config import Settings
from childlink.linkage.lock import linkage_lock
from childlink.store.engine import build_engine, create_session_factory
settings = Settings(database_url=sys.argv[1], data_dir=Path(sys.argv[2]), environment="test")
factory = create_session_factory(build_engine(settings))
print("waiting", flush=True)
with linkage_lock(factory, settings.data_dir):
    print(repr(time.time()), flush=True)
"""


def test_a_second_process_waits_for_the_linkage_lock(
    engine: sa.Engine, migrated_settings: Settings, tmp_path: Path
) -> None:
    factory = create_session_factory(engine)
    url = migrated_settings.effective_database_url
    with linkage_lock(factory, migrated_settings.data_dir):
        other = subprocess.Popen(
            [sys.executable, "-c", OTHER_PROCESS, url, str(migrated_settings.data_dir)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert other.stdout is not None
        assert other.stdout.readline().strip() == "waiting"
        time.sleep(HOLD_S)  # the other process is blocked on the lock meanwhile
        released = time.time()
    out, _ = other.communicate(timeout=120)
    assert other.returncode == 0
    acquired = float(out.strip())
    assert acquired >= released
    # Released for good: this process takes it again at once.
    with linkage_lock(factory, migrated_settings.data_dir):
        pass
