"""Node loss: the pipeline on a 3-node Ray test cluster on this machine (ray.cluster_utils.Cluster).

The built-in sample (configs/demo.toml, every stage through the mixture) runs three times:
  one node   the in-process executor (the reference bytes),
  cluster    a head and two worker nodes of one CPU each, `ray_address` = the cluster,
  node loss  the same cluster, with one worker node removed (its raylet and workers killed) as
             soon as the near-dedup clustering starts (fingerprints/labels/ appears): its tasks
             fail and Ray retries them elsewhere (max_retries=3 in Executor.map); the shard writes
             are idempotent (temporary name, then rename), so a retried task writes the same file.
All three must give the same Parquet shards, index files, token shards and mixture.json, byte for
byte; the per-shard stats JSON the same content (their key order varies between runs until the
value_counts() order fix: see test_kill_resume.py).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from conftest import REPO
from test_kill_resume import assert_same_run

from thresher.pipeline.config import load_config, with_runner
from thresher.pipeline.runner import run

pytestmark = pytest.mark.slow


def demo(out: Path, **runner):
    cfg = load_config(REPO / "configs" / "demo.toml", output=str(out))
    return with_runner(cfg, progress=False, **runner)


@pytest.fixture(scope="module")
def cluster():
    import ray
    from ray.cluster_utils import Cluster

    if ray.is_initialized():  # another module's local cluster: this module needs its own
        ray.shutdown()
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    workers = [c.add_node(num_cpus=1) for _ in range(2)]
    c.wait_for_nodes()
    ray.init(address=c.address, configure_logging=False, log_to_driver=False)
    try:
        yield c, workers
    finally:
        ray.shutdown()
        c.shutdown()


@pytest.fixture(scope="module")
def one_node(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("one-node") / "run"
    run(demo(out, executor="local"))
    return out


def test_cluster_run_matches_one_node(cluster, one_node, tmp_path):
    import ray

    c, _ = cluster
    assert len([n for n in ray.nodes() if n["Alive"]]) == 3
    out = tmp_path / "run"
    run(demo(out, executor="ray", ray_address=c.address, workers=3))
    assert_same_run(out, one_node, stats_bytes=False)


def test_node_removed_mid_run_does_not_change_the_output(cluster, one_node, tmp_path):
    import ray

    c, workers = cluster
    victim = workers[-1]
    out = tmp_path / "run"
    removed = threading.Event()

    def remove_when_clustering_starts() -> None:
        deadline = time.monotonic() + 600
        while not (out / "fingerprints" / "labels").exists():
            if time.monotonic() > deadline or (out / "manifest.json").exists():
                return
            time.sleep(0.01)
        c.remove_node(victim)
        removed.set()

    killer = threading.Thread(target=remove_when_clustering_starts, daemon=True)
    killer.start()
    run(demo(out, executor="ray", ray_address=c.address, workers=3))
    killer.join(timeout=60)
    assert removed.is_set(), "the run finished before the node could be removed"
    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    assert_same_run(out, one_node, stats_bytes=False)
