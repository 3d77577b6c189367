"""Node loss: the pipeline on a Ray test cluster on this machine (ray.cluster_utils.Cluster).

The cluster is a head node that runs no tasks (num_cpus=0: it holds the driver, and removing it
would end the cluster) and three worker nodes of one CPU each (a node cannot be added from
the test's thread while the run holds the main one: Ray's node start sets signal handlers).
The built-in sample (configs/demo.toml, every stage through the mixture) runs three times:
  one node   the in-process executor (the reference bytes),
  cluster    `ray_address` = the cluster,
  node loss  the same cluster, with two chosen tasks stalled on their first attempt by the
             executor's test-only hook (THRESHER_TEST_STALL, pipeline/executor.py): a map task
             (the extract+base chain, "extract extract+base@2": shard 2) and a task a barrier
             fans out (dedup's verify, "verify@1": partition 1). Each time the test reads which
             node the stalled attempt runs on and removes that node (its raylet and workers
             killed) while the task runs. Ray retries the task (max_retries=3 in Executor.map);
             the hook's record shows the same Ray task id running a second time, to its end, on
             another worker node. The shard writes are idempotent (temporary name, then rename),
             so the retry writes the same files.
All three must give the same Parquet shards, index files, token shards and mixture.json, byte for
byte; the per-shard stats JSON the same content (their key order varies between runs until the
value_counts() order fix: see test_kill_resume.py). The runs have no per-page extraction time
limit, so that a page timed out on a loaded machine cannot make them differ.

Measured (2 cores shared with other sessions): the module ~90 s (the one-node reference ~36 s,
the cluster run ~36 s, the run with two lost nodes ~13-40 s).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from conftest import REPO
from test_kill_resume import assert_same_run

from thresher.pipeline.config import load_config, with_runner
from thresher.pipeline.executor import STALL_ENV
from thresher.pipeline.runner import run

pytestmark = pytest.mark.slow


def demo(out: Path, **runner):
    cfg = load_config(REPO / "configs" / "demo.toml", output=str(out))
    # no per-page extraction time limit: a page that times out on a loaded machine in one run and
    # not in the other would differ for a reason that is not the cluster's
    cfg = cfg.model_copy(update={"extract": cfg.extract.model_copy(update={"timeout_s": 0.0})})
    return with_runner(cfg, progress=False, **runner)


@pytest.fixture(scope="module")
def cluster():
    import ray
    from ray.cluster_utils import Cluster

    if ray.is_initialized():  # another module's local cluster: this module needs its own
        ray.shutdown()
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    workers = [c.add_node(num_cpus=1) for _ in range(3)]
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
    assert len(alive(ray)) == 4
    out = tmp_path / "run"
    run(demo(out, executor="ray", ray_address=c.address, workers=3))
    assert_same_run(out, one_node, stats_bytes=False)


def alive(ray) -> set[str]:
    return {n["NodeID"] for n in ray.nodes() if n["Alive"]}


# a map task of the runner (its chain's desc @ the call index, here the shard) and a barrier's
CHOSEN = ("extract extract+base@2", "verify@1")


def test_node_lost_under_a_running_task_reruns_it_elsewhere(
    cluster, one_node, tmp_path, monkeypatch
):
    import ray

    c, _ = cluster
    out, hooks = tmp_path / "run", tmp_path / "stall"
    hooks.mkdir()
    for key in CHOSEN:
        (hooks / key).touch()
    monkeypatch.setenv(STALL_ENV, str(hooks))
    removed: dict[str, str] = {}  # chosen task -> the node removed under it
    failure: list[str] = []
    finished = threading.Event()

    def remove_the_nodes_of_stalled_tasks() -> None:
        for key in CHOSEN:
            attempts = hooks / f"{key}.attempts"
            deadline = time.monotonic() + 300
            while not attempts.exists() or not attempts.read_text().endswith("\n"):
                if time.monotonic() > deadline or finished.is_set():
                    failure.append(f"{key}: never ran")
                    return
                time.sleep(0.05)
            node = json.loads(attempts.read_text().splitlines()[0])["node"]
            victim = [n for n in c.worker_nodes if n.node_id == node]
            if not victim:
                failure.append(f"{key}: ran on {node}, not a worker node")
                return
            c.remove_node(victim[0])
            removed[key] = node

    nodes = {n.node_id for n in c.worker_nodes}
    killer = threading.Thread(target=remove_the_nodes_of_stalled_tasks, daemon=True)
    killer.start()
    t = time.monotonic()
    try:
        run(demo(out, executor="ray", ray_address=c.address, workers=3))
    finally:
        finished.set()
    seconds = time.monotonic() - t
    killer.join(timeout=60)
    assert not failure, failure
    assert set(removed) == set(CHOSEN)
    now = alive(ray)
    assert len(now) == 2  # the head and the one worker left
    for key, node in removed.items():
        lines = (hooks / f"{key}.attempts").read_text().splitlines()
        first, *again = (json.loads(x) for x in lines)
        assert first["node"] == node and node not in now
        # the same Ray task ran once more, to its end (the run finished), on another worker
        # node (the first task's retry may have run on the node removed for the second)
        assert [a["task"] for a in again] == [first["task"]], again
        assert again[0]["node"] in nodes - {node}
    assert seconds < 240, f"the run with two lost nodes took {seconds:.0f} s"
    assert_same_run(out, one_node, stats_bytes=False)
