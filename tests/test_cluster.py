"""tools.cluster on real Dask: worker processes, a worker killed mid-task, an interrupt, an existing cluster.

The task functions here are small stand-ins for ``grade_submission`` (module level, so that the
workers import them by name); they leave a file per attempt in a folder the test reads, which is
how a test knows what ran where, and how often, without timing anything.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tools import cluster
from tools.cluster import run_tasks

GUARD_S = 120  # how long a stand-in waits for its condition before giving up (never reached when all is well)


@dataclass(frozen=True)
class Job:
    """A stand-in for SubmissionTask: an id, the folder where attempts are recorded, and what to do."""

    student: str
    folder: str
    behaviour: str = "ok"  # ok | meet (wait until two workers run at once) | die_once | die_always | block


@dataclass
class Done:
    """A stand-in for SubmissionResult."""

    student: str
    status: str
    pid: int = 0
    notes: tuple = ()


def attempts(folder: Path, student: str) -> list[int]:
    """The worker pids of every attempt at ``student``'s task, in the order they started."""
    return [int(p.read_text()) for p in sorted(folder.glob(f"{student}.attempt*"), key=lambda p: int(p.suffix.removeprefix(".attempt")))]


def stand_in(job: Job) -> Done:
    """Record the attempt, then behave as asked; return a ``Done`` naming the worker process."""
    folder, pid = Path(job.folder), os.getpid()
    (folder / f"{job.student}.attempt{len(list(folder.glob(f'{job.student}.attempt*')))}").write_text(str(pid))
    if job.behaviour == "meet":  # returns only once two different processes are running a "meet" task
        (folder / f"meet.{pid}").touch()
        deadline = time.monotonic() + GUARD_S
        while len(list(folder.glob("meet.*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    if job.behaviour == "die_once" and not (folder / f"{job.student}.died").exists():
        (folder / f"{job.student}.died").touch()
        os.kill(pid, signal.SIGKILL)
    if job.behaviour == "die_always":
        os.kill(pid, signal.SIGKILL)
    if job.behaviour == "block":  # runs until the cluster is closed under it
        time.sleep(GUARD_S)
    return Done(job.student, "graded", pid)


def failed(job: Job, status: str, reason: str) -> Done:
    return Done(job.student, status, notes=(reason,))


def run(jobs_list, **kwargs) -> list[Done]:
    delivered: list[Done] = []
    kwargs = {"function": stand_in, "failed_result": failed, "warm": (), "progress": False} | kwargs
    run_tasks(jobs_list, on_result=delivered.append, **kwargs)
    return delivered


def test_two_worker_processes_run_two_tasks_at_once_and_every_result_reaches_the_client_once(tmp_path):
    jobs_list = [Job(f"s{i}", str(tmp_path), "meet" if i < 2 else "ok") for i in range(6)]
    client_thread = []
    delivered: list[Done] = []

    def on_result(done):
        client_thread.append((os.getpid(), threading.current_thread() is threading.main_thread()))
        delivered.append(done)

    run_tasks(jobs_list, jobs=2, on_result=on_result, function=stand_in, failed_result=failed, warm=(), progress=False)
    assert sorted(d.student for d in delivered) == [j.student for j in jobs_list]
    assert all(d.status == "graded" for d in delivered)
    met = {int(p.suffix[1:]) for p in tmp_path.glob("meet.*")}
    assert len(met) == 2, f"the two 'meet' tasks ran in {len(met)} process(es), expected two at once"
    workers = {d.pid for d in delivered}
    assert os.getpid() not in workers and len(workers) == 2  # processes, not threads of the client
    assert client_thread == [(os.getpid(), True)] * len(jobs_list)  # on_result: in the client's own thread


@pytest.fixture(scope="module")
def faulty_class(tmp_path_factory):
    """One run of a two-worker cluster over a class holding a task that kills its worker once and one that always does."""
    folder = tmp_path_factory.mktemp("faulty")
    behaviours = {"ada": "ok", "bob": "die_once", "cy": "ok", "dee": "die_always", "eve": "ok", "fay": "ok"}
    jobs_list = [Job(student, str(folder), behaviour) for student, behaviour in behaviours.items()]
    return folder, behaviours, run(jobs_list, jobs=2, retries=1)


def test_a_task_whose_worker_is_killed_once_is_run_again_and_delivered_once(faulty_class):
    folder, behaviours, delivered = faulty_class
    assert sorted(d.student for d in delivered) == sorted(behaviours)  # each exactly once
    bob = next(d for d in delivered if d.student == "bob")
    assert bob.status == "graded"
    first, *later = attempts(folder, "bob")  # killed, then graded (again, if a worker died before the client fetched it)
    assert (folder / "bob.died").exists() and later and bob.pid in later and first not in later


def test_a_task_whose_worker_always_dies_is_reported_after_one_retry_and_the_rest_are_graded(faulty_class):
    folder, behaviours, delivered = faulty_class
    dee = next(d for d in delivered if d.student == "dee")
    assert dee.status == "worker died"
    assert "died on each of its 2 attempts" in dee.notes[0]
    assert len(attempts(folder, "dee")) == 2  # retries=1: run twice, then reported
    assert {d.student for d in delivered if d.status == "graded"} == set(behaviours) - {"dee"}


def test_an_interrupt_submits_nothing_more_stops_the_workers_and_is_raised_again(tmp_path):
    """A SIGINT to the client while tasks run, as a Ctrl-C at the terminal gives it."""
    jobs_list = [Job(f"s{i:02d}", str(tmp_path), "block") for i in range(20)]
    delivered: list[Done] = []

    def interrupt_once_a_task_runs():
        deadline = time.monotonic() + GUARD_S
        while not list(tmp_path.glob("*.attempt*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_once_a_task_runs, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        run_tasks(jobs_list, jobs=2, on_result=delivered.append, function=stand_in, failed_result=failed, warm=(), progress=False)
    assert delivered == []
    started = {p.name.split(".")[0] for p in tmp_path.glob("*.attempt*")}
    assert 1 <= len(started) < len(jobs_list)  # at most the submitted window ever started
    for pid in {int(p.read_text()) for p in tmp_path.glob("*.attempt*")}:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, f"worker {pid} left running"


def test_an_error_in_on_result_cancels_the_rest_and_reaches_the_caller(tmp_path):
    jobs_list = [Job(f"s{i:02d}", str(tmp_path)) for i in range(30)]
    calls = []

    def on_result(done):
        calls.append(done)
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        run_tasks(jobs_list, jobs=1, on_result=on_result, function=stand_in, failed_result=failed, warm=(), progress=False)
    assert len(calls) == 1
    assert len(list(tmp_path.glob("*.attempt*"))) < len(jobs_list)


def test_an_existing_cluster_is_used_by_address_and_left_as_it_was(tmp_path, capsys):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as existing:
        settings = (existing.scheduler.allowed_failures, existing.scheduler.WORKER_SATURATION)
        delivered = run([Job(f"s{i}", str(tmp_path)) for i in range(3)], scheduler=existing.scheduler_address, retries=0, progress=True)
        shown = capsys.readouterr().err
        assert f"Dask dashboard: {existing.dashboard_link}" in shown
        assert "3/3" in shown and "3 graded" in shown  # the bar: count and outcomes
        assert sorted(d.student for d in delivered) == ["s0", "s1", "s2"]
        worker_pid = next(iter(existing.scheduler.workers.values())).pid
        assert {d.pid for d in delivered} == {worker_pid}  # that cluster's worker did the work
        assert (existing.scheduler.allowed_failures, existing.scheduler.WORKER_SATURATION) == settings
        assert len(existing.scheduler.workers) == 1  # still running, not closed by run_tasks
        assert cluster.WarmWorker.name not in existing.scheduler.worker_plugins


def test_workers_that_cannot_import_the_task_function_fail_before_anything_is_sent(tmp_path):
    def orphan(job):  # its module, as the workers see it, does not exist
        return Done(job.student, "graded")

    orphan.__module__ = "no_such_course_module"
    with pytest.raises(RuntimeError, match="not ready to grade.*cannot import no_such_course_module.*PYTHONPATH"):
        run([Job("s0", str(tmp_path))], function=orphan)
    assert not list(tmp_path.glob("*.attempt*"))


def no_sandbox_here() -> str:
    return "bubblewrap (bwrap) is not on PATH: install bubblewrap"


def test_a_worker_whose_check_fails_stops_the_run_with_its_reason_before_any_task(tmp_path):
    with pytest.raises(RuntimeError, match=r"not ready to grade.*worker tcp://.*: bubblewrap \(bwrap\) is not on PATH: install"):
        run([Job("s0", str(tmp_path))], worker_check=no_sandbox_here)
    assert not list(tmp_path.glob("*.attempt*"))


@pytest.mark.parametrize(
    "kwargs, error, argument",
    [
        ({"jobs": 0}, ValueError, "jobs"),
        ({"jobs": 1.5}, ValueError, "jobs"),
        ({"scheduler": "localhost:8786"}, ValueError, "scheduler"),
        ({"retries": -1}, ValueError, "retries"),
        ({"on_result": None}, TypeError, "on_result"),
    ],
)
def test_bad_arguments_are_refused_by_name(tmp_path, kwargs, error, argument):
    kwargs = {"on_result": print, "function": stand_in, "failed_result": failed} | kwargs
    with pytest.raises(error, match=rf"^{argument} must"):
        run_tasks([Job("s0", str(tmp_path))], **kwargs)


def test_a_scheduler_that_does_not_answer_is_named_in_the_error(monkeypatch, tmp_path):
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 1)
    with pytest.raises(ConnectionError, match=r"^scheduler: no Dask scheduler answered at tcp://127\.0\.0\.1:9 "):
        run_tasks([Job("s0", str(tmp_path))], scheduler="tcp://127.0.0.1:9", on_result=print, function=stand_in, failed_result=failed)


def test_no_tasks_start_no_cluster(monkeypatch):
    import distributed

    monkeypatch.setattr(distributed, "LocalCluster", None)  # would fail if it were started
    run_tasks([], on_result=print, function=stand_in, failed_result=failed)


# --- The real command, on a class of short submissions ------------------------------------------
# Each submission is the first exercise of notebook 01 answered (the setup cell, the answer, its
# test cell) plus a cell of its own, so that a run costs a kernel start and a few seconds, not the
# whole notebook. They run with --no-sandbox (the sandbox has its own tests in test_grading.py):
# what is tested here is the Dask underneath, through `python -m tools.grade`.

NAME = "01_energy_and_partition"
ROOT = Path(__file__).resolve().parents[1]


def short_submission(extra_code: str) -> str:
    """The solution's cells up to its first graded test cell, then ``extra_code``: worth that test's points."""
    from tests.conftest import nbgrader_meta, read_notebook, solution_path

    notebook = read_notebook(solution_path(NAME))
    first_test = next(i for i, c in enumerate(notebook["cells"]) if nbgrader_meta(c).get("grade"))
    extra = {"cell_type": "code", "metadata": {}, "source": extra_code, "outputs": [], "execution_count": None}
    return json.dumps(notebook | {"cells": notebook["cells"][: first_test + 1] + [extra]})


def first_test_points() -> tuple[float, float]:
    """(points of the first test cell, points of the whole assignment), from the solution's metadata."""
    from tests.conftest import nbgrader_meta, read_notebook, solution_path

    points = [float(nbgrader_meta(c)["points"]) for c in read_notebook(solution_path(NAME))["cells"] if nbgrader_meta(c).get("grade")]
    return points[0], sum(points)


def write_class(folder: Path, notebooks: dict[str, str]) -> Path:
    for student, text in notebooks.items():
        (folder / student / NAME).mkdir(parents=True)
        (folder / student / NAME / f"{NAME}.ipynb").write_text(text)
    return folder


def grade_command(submissions: Path, out: Path, *extra: str) -> list[str]:
    """``python -m tools.grade`` on ``NAME`` without the sandbox; two local workers unless ``extra`` names a scheduler."""
    workers = () if "--scheduler" in extra else ("--jobs", "2")
    return [sys.executable, "-m", "tools.grade", str(submissions), str(out), "--assignment", NAME, *workers, "--no-sandbox", *extra]


def read_grades(out: Path) -> list[dict]:
    with (out / "grades.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def env() -> dict:
    return dict(os.environ, OMP_NUM_THREADS="1")


@pytest.mark.notebooks
def test_the_grade_command_on_two_workers_grades_the_class_and_a_submission_that_kills_its_worker_is_graded_on_retry(tmp_path):
    # bob's kernel kills the worker process running it (its parent, without the sandbox's PID
    # namespace) the first time; the retry finds the marker and runs through.
    kill_once = (
        "import os, pathlib, signal\n"
        f"marker = pathlib.Path({str(tmp_path / 'bob-killed-his-worker')!r})\n"
        "if not marker.exists():\n"
        "    marker.write_text(str(os.getppid()))\n"
        "    os.kill(os.getppid(), signal.SIGKILL)\n"
    )
    notebooks = {"ada": short_submission("x = 1\n"), "bob": short_submission(kill_once), "cy": short_submission("y = 2\n"), "dee": short_submission("z = 3\n")}
    submissions, out = write_class(tmp_path / "submitted", notebooks), tmp_path / "out"
    proc = subprocess.run(grade_command(submissions, out), cwd=ROOT, env=env(), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = read_grades(out)
    points, total = first_test_points()
    assert sorted(r["student_id"] for r in rows) == sorted(notebooks)  # every student, once
    assert {(r["status"], float(r["score"]), float(r["max_score"])) for r in rows} == {("graded", points, total)}
    killed = int((tmp_path / "bob-killed-his-worker").read_text())
    assert not _running(killed)  # a worker process really died (and the run went on)
    for student in notebooks:
        assert (out / "feedback" / student / NAME / f"{NAME}.html").is_file()


@pytest.mark.notebooks
def test_ctrl_c_in_the_middle_of_a_run_then_resume_grades_every_student_exactly_once(tmp_path):
    students = [f"s{i}" for i in range(6)]
    submissions = write_class(tmp_path / "submitted", {s: short_submission(f"import time\ntime.sleep(3)\nstudent = {s!r}\n") for s in students})
    out = tmp_path / "out"
    # A session of its own, so that the SIGINT goes to the whole process group, as a terminal's Ctrl-C does.
    proc = subprocess.Popen(grade_command(submissions, out), cwd=ROOT, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, rows, spawned = time.monotonic() + 600, [], set()
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(psutil.Error):
                spawned |= {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
            rows = read_grades(out) if (out / "grades.csv").is_file() else []
            if rows:
                break
            time.sleep(0.2)
        assert rows and proc.poll() is None, "the run ended, or graded nothing, before it could be interrupted"
        os.killpg(proc.pid, signal.SIGINT)
        output = proc.communicate(timeout=120)[0].decode(errors="replace")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130 and "run again with --resume" in output, output[-2000:]  # stopped by the interrupt, and says so
    first = {r["student_id"]: r for r in read_grades(out)}  # a whole file, written by the client alone
    assert 1 <= len(first) < len(students) and len(read_grades(out)) == len(first), output[-2000:]
    assert {r["status"] for r in first.values()} == {"graded"}
    deadline = time.monotonic() + 60  # workers and kernels go with the client (kernels poll their parent)
    while time.monotonic() < deadline and any(_running(pid) for pid in spawned):
        time.sleep(0.5)
    assert not [pid for pid in spawned if _running(pid)], "processes of the interrupted run left running"

    resumed = subprocess.run(grade_command(submissions, out, "--resume"), cwd=ROOT, env=env(), capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    final = read_grades(out)
    assert sorted(r["student_id"] for r in final) == students  # each exactly once
    assert {r["status"] for r in final} == {"graded"}
    by_student = {r["student_id"]: r for r in final}
    assert all(by_student[s] == row for s, row in first.items())  # kept as graded the first time, not graded again


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.notebooks
def test_the_grade_command_on_a_cluster_started_by_hand_whose_scheduler_has_no_copy_of_the_course(tmp_path):
    import socket

    with socket.socket() as probe:  # a free port for the scheduler
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    bare = {k: v for k, v in env().items() if k != "PYTHONPATH"}
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    scheduler = subprocess.Popen([*dask, "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], cwd=tmp_path, env=bare, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard"],
        cwd=tmp_path, env=bare | {"PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        notebooks = {"ada": short_submission("x = 1\n"), "bob": short_submission("y = 2\n")}
        submissions, out = write_class(tmp_path / "submitted", notebooks), tmp_path / "out"
        proc = subprocess.run(grade_command(submissions, out, "--scheduler", address), cwd=ROOT, env=env(), capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr[-3000:]
        points, total = first_test_points()
        rows = read_grades(out)
        assert sorted(r["student_id"] for r in rows) == ["ada", "bob"]
        assert {(r["status"], float(r["score"]), float(r["max_score"])) for r in rows} == {("graded", points, total)}
        assert scheduler.poll() is None and worker.poll() is None  # the cluster outlives the command
    finally:
        for process in (worker, scheduler):
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
