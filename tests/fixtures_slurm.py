"""The session's Slurm cluster: one real node (munged + slurmctld + slurmd, see ``tests/slurmcluster.py``),
started on first use and stopped at the end of the session. A missing package or a cluster that does not
come up is a failure that shows the daemons' logs, never a skip."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from helpers import require
from slurmcluster import ClusterError, SlurmCluster, missing_tools


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    missing = missing_tools()
    require(
        not missing, f"{', '.join(missing)} not installed (Debian packages slurm-wlm and munge)"
    )
    cluster = SlurmCluster()
    try:
        cluster.start()
    except ClusterError as exc:
        require(False, f"the test Slurm cluster did not start: {exc}")
    yield cluster
    cluster.stop()
    shutil.rmtree(cluster.folder, ignore_errors=True)
