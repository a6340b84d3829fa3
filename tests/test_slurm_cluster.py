"""The cluster path on a real one-node SLURM: a sweep submitted with hydra/launcher=slurm, tracked
on mlflow server over PostgreSQL, matched against the same sweep run locally; scancel, resume and
a job that fails on the node."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster import PARTITION, slurm_cluster
from conftest import run_cli
from mlflow.tracking import MlflowClient
from servers import mlflow_server, postgres

# Every SLURM job is a fresh process importing torch and mlflow: about 3 minutes of CPU in all,
# so these run with the slow tests (in CI too), not in the default run.
pytestmark = pytest.mark.slow

# The README's command, with only the partition and time limit set for the test cluster.
ON_SLURM = ["hydra/launcher=slurm", f"hydra.launcher.partition={PARTITION}", "hydra.launcher.timeout_min=10"]
SMALL = ["trainer.epochs=2", "dataset.n_samples=200", "tracking=server"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The SLURM cluster and a tracking server; the environment every sweep below runs in."""
    folder = tmp_path_factory.mktemp("tracking")
    with slurm_cluster() as slurm, postgres() as db, mlflow_server(db, folder) as uri:
        yield {**slurm, "ANNLAB_TRACKING_SERVER": uri, "ANNLAB_SLURM_RESULT_GRACE_S": "2"}


def client(env: dict[str, str]) -> MlflowClient:
    return MlflowClient(env["ANNLAB_TRACKING_SERVER"])


def runs(env: dict[str, str], experiment: str) -> list:
    exp = client(env).get_experiment_by_name(experiment)
    return client(env).search_runs([exp.experiment_id]) if exp else []


def wait_for(condition: object, what: str, timeout: float = 180.0) -> object:
    """Poll `condition` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while not (found := condition()):  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return found


def test_a_sweep_on_the_slurm_cluster_matches_the_same_sweep_run_locally(cluster: dict, tmp_path: Path) -> None:
    sweep = ["-m", "activation=relu,tanh", *SMALL]
    (tmp_path / "slurm").mkdir()
    (tmp_path / "local").mkdir()
    remote = run_cli([*sweep, *ON_SLURM, "tracking.experiment=on_slurm"], tmp_path / "slurm", env=cluster)
    local = run_cli([*sweep, "tracking.experiment=local"], tmp_path / "local", env=cluster)
    for proc in (remote, local):
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert "sweep summary: 2 jobs: 2 finished, 0 diverged, 0 failed, 0 killed, 0 skipped" in proc.stdout
    on_slurm = {r.info.run_name: r for r in runs(cluster, "on_slurm")}
    here = {r.info.run_name: r for r in runs(cluster, "local")}
    assert set(on_slurm) == set(here) == {"relu-kaiming-d3-moons-s0", "tanh-kaiming-d3-moons-s0"}
    for name, run in on_slurm.items():
        assert run.info.status == "FINISHED"
        assert run.data.tags["annlab.slurm_job"].split("_")[0].isdigit()  # it ran as a SLURM job
        assert "annlab.slurm_job" not in here[name].data.tags
        timed = "train_seconds"  # the one value two launches never share
        assert {k: v for k, v in run.data.metrics.items() if k != timed} == {
            k: v for k, v in here[name].data.metrics.items() if k != timed
        }  # the same numbers, bit for bit
        key = "grad_z_norm/layer_01"
        steps = [(m.step, m.value) for m in client(cluster).get_metric_history(run.info.run_id, key)]
        assert steps == [(m.step, m.value) for m in client(cluster).get_metric_history(here[name].info.run_id, key)]


def _running_job(env: dict[str, str], experiment: str, epochs: str) -> str | None:
    """The SLURM job id of the run training with `trainer.epochs=epochs`, once it trains."""
    for run in runs(env, experiment):
        if run.info.status == "RUNNING" and run.data.params.get("trainer.epochs") == epochs:
            return run.data.tags.get("annlab.slurm_job")
    return None


def _pending_job(env: dict[str, str]) -> str | None:
    out = subprocess.run(
        ["squeue", "-h", "-r", "-t", "PD", "-o", "%i"], env={**os.environ, **env}, capture_output=True, text=True
    )
    pending = out.stdout.split()
    return pending[-1] if pending else None


def test_scancel_on_the_slurm_cluster_ends_runs_killed_and_a_rerun_trains_only_those(
    cluster: dict, tmp_path: Path
) -> None:
    """Three jobs, one at a time: a long one is cancelled while it trains (SIGTERM, then SIGKILL
    10 s later: the run must end KILLED, not stay RUNNING), one is cancelled before it starts (no
    run, no result: the launcher records it), and one finishes; a rerun trains the other two."""
    sweep = ["-m", "trainer.epochs=1500,1,2", "dataset.n_samples=200", "tracking=server", "tracking.experiment=cancel"]
    args = [sys.executable, "-m", "annlab.run", *sweep, *ON_SLURM, "hydra.launcher.array_parallelism=1"]
    proc = subprocess.Popen(
        args, cwd=tmp_path, env={**os.environ, **cluster}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    long_job = wait_for(lambda: _running_job(cluster, "cancel", "1500"), "the long job to train")
    waiting = wait_for(lambda: _pending_job(cluster), "a job waiting its turn")
    env = {**os.environ, **cluster}
    subprocess.run(["scancel", waiting], env=env, check=True)
    subprocess.run(["scancel", str(long_job)], env=env, check=True)
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 1, out[-3000:]
    assert "3 jobs: 1 finished, 0 diverged, 0 failed, 2 killed, 0 skipped" in out, out[-3000:]
    assert "KILLED: relu-kaiming-d3-moons-s0 (SIGTERM" in out
    assert f"SLURM job {waiting} was cancelled before it started" in out
    by_epochs = {r.data.params["trainer.epochs"]: r.info.status for r in runs(cluster, "cancel")}
    assert by_epochs.pop("1500") == "KILLED"
    assert list(by_epochs.values()) == ["FINISHED"]  # the cancelled-before-start job made no run
    again = run_cli([*sweep, *ON_SLURM], tmp_path, env=cluster)
    assert again.returncode == 0, again.stdout[-3000:]
    assert "3 jobs: 2 finished, 0 diverged, 0 failed, 0 killed, 1 skipped" in again.stdout
    statuses = sorted(r.info.status for r in runs(cluster, "cancel"))
    assert statuses == ["FINISHED", "FINISHED", "FINISHED", "KILLED"]


def test_a_job_failing_on_the_slurm_cluster_is_recorded_failed_with_its_log(cluster: dict, tmp_path: Path) -> None:
    """A bias of -100 leaves no ReLU active: calibration fails on the node (the pre-check does not
    calibrate), the run ends FAILED naming the layer, and the summary points at the job's log."""
    sweep = ["-m", "init=calibrated", "init.bias=0.5,-100", *SMALL, "tracking.experiment=fails", *ON_SLURM]
    proc = run_cli(sweep, tmp_path, env=cluster)
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "2 jobs: 1 finished, 0 diverged, 1 failed, 0 killed, 0 skipped" in proc.stdout
    (line,) = [x for x in proc.stdout.splitlines() if "FAILED: relu-calibrated" in x]
    assert "layer 2 after layer 1" in line and "; log: " in line
    log = Path(line.split("; log: ")[1])
    assert log.is_file() and "the run is recorded FAILED" in log.read_text()
    failed = [r for r in runs(cluster, "fails") if r.info.status == "FAILED"]
    assert len(failed) == 1 and "layer 2 after layer 1" in failed[0].data.tags["annlab.error"]


def test_the_slurm_cluster_listens_on_loopback_only(cluster: dict) -> None:
    """slurmctld and slurmd accept connections on 127.0.0.1 alone (munged has only a Unix socket)."""
    if not shutil.which("ss"):
        pytest.skip("ss (iproute2) is not installed: cannot list listening sockets")
    lines = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout.splitlines()
    daemons = [line for line in lines if '"slurmctld"' in line or '"slurmd"' in line]
    assert len(daemons) >= 2, lines
    assert all(line.split()[3].startswith("127.0.0.1:") for line in daemons), daemons


def test_a_users_activation_on_the_slurm_cluster(cluster: dict, tmp_path: Path) -> None:
    """The launch folder is importable on the node: Mish from the user's package trains there. A
    module that imports where the sweep starts but not on the node fails that job alone, saying
    which import path did not import and why."""
    shutil.copytree(Path(__file__).parent / "userparts", tmp_path / "userparts")
    (tmp_path / "nodeless.py").write_text(
        "import os\nimport torch\n"
        "if 'SLURM_JOB_ID' in os.environ:\n    raise ImportError('needs a library the node lacks')\n"
        "def act(x):\n    return torch.tanh(x)\n"
    )
    targets = "activation._target_=userparts.acts.Mish,nodeless.act"
    sweep = ["-m", "activation=custom", targets, *SMALL, "tracking.experiment=user_parts", *ON_SLURM]
    proc = run_cli(sweep, tmp_path, env=cluster)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 jobs: 1 finished, 0 diverged, 1 failed, 0 killed, 0 skipped" in proc.stdout, proc.stdout[-3000:]
    (line,) = [x for x in proc.stdout.splitlines() if "FAILED:" in x]
    assert "nodeless.act" in line and "needs a library the node lacks" in line, line
    done = [r for r in runs(cluster, "user_parts") if r.info.status == "FINISHED"]
    assert [(r.data.tags["annlab.activation"], r.data.params["activation._target_"]) for r in done] == [
        ("mish", "userparts.acts.Mish")
    ]
    assert done[0].data.tags["annlab.slurm_job"]
