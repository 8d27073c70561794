"""The cluster tests' one cluster: started once per session in .cluster-test/ (ports 47200-47204),
stopped at the end; its logs stay there for a post-mortem until the next session purges it."""

from __future__ import annotations

import pytest

from .harness import REPO, Cluster

# Short enough for a test to see them act: an unacknowledged message is handed out again
# 15-20 s after its delivery (kombu sweeps every 5 s), a task is failed 60 s after its host's
# last heartbeat. So a killed host's message comes back first, finds its try still running
# and is dropped; then the heartbeat timeout fails the try and Airflow retries it elsewhere.
TEST_TUNABLES = {
    "CLUSTER_VISIBILITY_TIMEOUT": "15",
    "CLUSTER_RESTORE_INTERVAL_S": "5",
    "CLUSTER_HEARTBEAT_TIMEOUT": "60",
    "CLUSTER_HEARTBEAT_CHECK_S": "5",
    "CLUSTER_USE_JOB_SCHEDULE": "False",  # only the runs the tests trigger
    "CLUSTER_STOP_TIMEOUT": "60",
}


@pytest.fixture(scope="session")
def cluster():
    c = Cluster(REPO / ".cluster-test", 47200)
    c.down(purge=True)
    c.settings = {
        **TEST_TUNABLES,
        "FOOTFALL_LOG_GLOB": str(c.logs_dir / "*"),
        "FOOTFALL_CHUNK_BYTES": "1048576",
        "FOOTFALL_MAP_CHUNK_BYTES": "3000000",  # ~14 work units of the 39 MB wordpress log
        "FOOTFALL_PARSE_THREADS": "1",
    }
    c.up()
    yield c
    c.down()
