"""Object storage: input and output on s3:// against moto's S3 server on 127.0.0.1.

moto (`moto[server]`, a dev dependency) serves S3 from a thread of the test process on a free
loopback port; pyarrow's S3FileSystem reaches it through AWS_ENDPOINT_URL (no request leaves the
machine: the endpoint is http://127.0.0.1:<port>, and the EC2 metadata lookup is off). The runs use
the in-process executor, so that every read goes through the test's environment.

* Input on s3:// (the small JSONL dump of test_runner.py uploaded to a bucket) gives the same
  shards, byte for byte, as the same files read from a local folder.
* Output on s3:// (staged on the driver's disk and copied up when the run ends) gives the same
  shards as a local run, and a rerun into the same s3:// folder resumes from what is there.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from test_runner import config as small_config
from test_runner import dump

moto_server = pytest.importorskip("moto.server", reason="needs moto[server] (dev extra)")

from thresher.pipeline.config import parse_config  # noqa: E402
from thresher.pipeline.readers import expand_inputs  # noqa: E402
from thresher.pipeline.runner import run  # noqa: E402

BUCKET = "thresher-test"


@pytest.fixture(scope="module")
def s3_endpoint():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    assert host == "127.0.0.1"
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint, monkeypatch):
    """A fresh bucket on the moto server; pyarrow pointed at it through the environment."""
    import pyarrow.fs as pafs

    for key, value in {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    fs = pafs.S3FileSystem(
        endpoint_override=s3_endpoint, region="us-east-1", access_key="testing",
        secret_key="testing", scheme="http", allow_bucket_creation=True,
        allow_bucket_deletion=True,
    )  # fmt: skip
    fs.create_dir(BUCKET)
    yield fs
    fs.delete_dir_contents(BUCKET, missing_dir_ok=True)
    fs.delete_dir(BUCKET)


def upload(fs, local: Path, prefix: str) -> None:
    for p in sorted(local.rglob("*")):
        if p.is_file():
            with fs.open_output_stream(f"{BUCKET}/{prefix}/{p.relative_to(local)}") as f:
                f.write(p.read_bytes())


def shard_digests(run_dir: Path) -> dict[str, str]:
    return {
        str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run_dir.rglob("*.parquet"))
    }


def test_inputs_on_s3_are_listed_like_local_files(s3, tmp_path):
    upload(s3, dump(tmp_path), "dump")
    assert expand_inputs(f"s3://{BUCKET}/dump") == [
        f"s3://{BUCKET}/dump/a.jsonl",
        f"s3://{BUCKET}/dump/b.jsonl",
    ]
    assert expand_inputs(f"s3://{BUCKET}/dump/*.jsonl") == expand_inputs(f"s3://{BUCKET}/dump")


def test_run_with_input_on_s3_matches_the_local_run(s3, tmp_path):
    local_cfg = small_config(tmp_path / "local")
    upload(s3, Path(local_cfg.input), "dump")  # type: ignore[arg-type]
    run(local_cfg)
    data = local_cfg.model_dump() | {
        "input": f"s3://{BUCKET}/dump",
        "output": str(tmp_path / "from-s3"),
    }
    manifest = run(parse_config(data))
    assert manifest["inputs"] == [f"s3://{BUCKET}/dump/a.jsonl", f"s3://{BUCKET}/dump/b.jsonl"]
    got, want = shard_digests(tmp_path / "from-s3"), shard_digests(Path(local_cfg.output))
    assert got == want
    assert any(k.startswith("base/") for k in got)


def test_run_with_output_on_s3_matches_the_local_run(s3, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may appear in the working directory
    local_cfg = small_config(tmp_path / "local")
    run(local_cfg)
    data = local_cfg.model_dump() | {"output": f"s3://{BUCKET}/runs/one"}
    # a staging folder left by a crashed run with another config is not taken for the run: the
    # object store's copy is what a rerun resumes from
    import tempfile

    key = hashlib.sha256(data["output"].encode()).hexdigest()[:16]
    stale = Path(tempfile.gettempdir()) / "thresher-staging" / key
    stale.mkdir(parents=True, exist_ok=True)
    (stale / "config.toml").write_text('input = "other"\noutput = "x"\n')
    run(parse_config(data))
    want = shard_digests(Path(local_cfg.output))
    got = {}
    for rel in want:
        with s3.open_input_stream(f"{BUCKET}/runs/one/{rel}") as f:
            got[rel] = hashlib.sha256(f.read()).hexdigest()
    assert got == want
    assert sorted(p.name for p in tmp_path.iterdir()) == ["local"]  # no folder named "s3:"
    with s3.open_input_stream(f"{BUCKET}/runs/one/manifest.json") as f:
        assert f'"output": "s3://{BUCKET}/runs/one"' in f.read().decode()
    # a rerun resumes from what is on s3 (nothing to do) and leaves the same bytes
    manifest = run(parse_config(data))
    assert manifest["output"] == f"s3://{BUCKET}/runs/one"
    for rel, digest in want.items():
        with s3.open_input_stream(f"{BUCKET}/runs/one/{rel}") as f:
            assert hashlib.sha256(f.read()).hexdigest() == digest
