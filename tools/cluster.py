"""Grade submissions on a Dask cluster: one task per submission, every result back to the client.

    run_tasks(tasks, on_result=write_row)                          # 1 local worker process
    run_tasks(tasks, jobs=8, on_result=write_row)                  # 8 local worker processes
    run_tasks(tasks, scheduler="tcp://HOST:8786", on_result=...)   # an existing cluster

The interface ``tools.grade`` calls (``--jobs N``, ``--scheduler ADDRESS``)::

    run_tasks(tasks: list[SubmissionTask], *, jobs: int = 1, scheduler: str | None = None,
              on_result: Callable[[SubmissionResult], None], function=grade_submission,
              retries: int = 1, progress: bool | None = None,
              failed_result=failed_submission, warm=WARM_MODULES,
              worker_check=None) -> None

- Each task is sent to a worker whole (the notebook's and the other files' bytes travel inside
  it), so workers need no shared filesystem; ``function(task)`` runs there and its result comes
  back as data. ``on_result(result)`` is called in the client only, once per task, in the order
  the results arrive: the client alone writes ``OUT`` and the gradebook.
- With no ``scheduler`` a :class:`distributed.LocalCluster` of ``jobs`` worker *processes*, one
  thread each, is started for the call and closed after it. With ``scheduler`` an existing
  cluster is used (started by hand with ``dask scheduler`` / ``dask worker``, by dask-jobqueue on
  Slurm, by dask-kubernetes: see ``docs/deployment.md``) and ``jobs`` is ignored; its workers must
  be able to import this repository's ``tools`` (a checkout of the same commit, on their
  ``PYTHONPATH``), which is checked before anything is sent, and so is ``worker_check``
  (``tools.grade`` passes ``worker_check=sandbox_problem`` when it sandboxes: a worker
  host without a working bubblewrap then stops the run with the fix, as the client's does).
- Faults. A worker process that dies (a crash, a kill, out of memory) loses only the task it was
  running: the scheduler runs that task again on a worker that is alive, up to ``retries`` more
  times, after which ``failed_result(task, "worker died", reason)`` is delivered in its place.
  A ``function`` that raises, which ``grade_submission`` never does, is delivered as
  ``failed_result(task, "grader error", reason)``. No task reaches ``on_result`` twice.
  (A finished result not yet fetched from a worker that then dies is computed again by Dask;
  it is still delivered once.)
- Ctrl-C (``KeyboardInterrupt``), or an exception raised by ``on_result``: nothing more is
  submitted, the tasks not yet delivered are cancelled, the cluster is closed (a local one) and
  the exception is raised again. Everything delivered before it is already in ``OUT``, so
  ``--resume`` grades exactly what is left. The local workers ignore SIGINT, so a Ctrl-C at the
  terminal (which reaches the whole process group) stops the client, and the client stops them.
- Progress. With ``progress`` (default: when stderr is a terminal) a tqdm bar shows the count,
  the rate, the ETA and the outcomes so far; the dashboard's address is printed when the
  scheduler serves one (its pages need ``bokeh``).
- Warm workers. Each worker imports the task function's module and ``warm`` (the grading code:
  nbformat, nbclient, nbgrader's scoring) once, when it starts (a worker plugin), and keeps its
  interpreter between tasks. What ``function`` starts per task (a kernel, a sandbox) is still
  fresh per task.

What this takes from ``tools.submission``: ``grade_submission(task) -> SubmissionResult``, the
picklable ``SubmissionTask`` and ``SubmissionResult`` (which names its student and assignment:
``on_result`` receives only the result), and ``reference``; :func:`failed_submission` builds the
result of a submission that produced none, with the status ``"worker died"`` (add it to
``tools.submission.STATUSES``) or ``"grader error"`` (a bug: ``grade_submission`` raised).

Dask's own references: https://distributed.dask.org/en/stable/killed.html (what a worker's death
does to its task), https://distributed.dask.org/en/stable/plugins.html (worker plugins).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import itertools
import signal
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import cloudpickle

CONNECT_TIMEOUT_S = 30
# What grading a submission imports in the worker (tools.submission imports some of it late).
WARM_MODULES = ("tools.submission", "tools.feedback", "tools.integrity", "nbformat", "nbclient", "nbgrader.utils")


def run_tasks(
    tasks: Sequence[Any],
    *,
    jobs: int = 1,
    scheduler: str | None = None,
    on_result: Callable[[Any], None],
    function: Callable[[Any], Any] | None = None,
    retries: int = 1,
    progress: bool | None = None,
    failed_result: Callable[[Any, str, str], Any] | None = None,
    warm: Sequence[str] = WARM_MODULES,
    worker_check: Callable[[], str | None] | None = None,
) -> None:
    """Run ``function(task)`` for every task on a Dask cluster; hand each result to ``on_result``.

    Parameters
    ----------
    tasks : sequence of picklable tasks (``SubmissionTask``), each sent to a worker whole.
    jobs : number of local worker processes (one thread each) when ``scheduler`` is None.
    scheduler : address of an existing Dask scheduler (``"tcp://HOST:8786"``), or None for a
        local cluster started and closed by this call.
    on_result : called in the client with each result, exactly once per task.
    function : the task function, run on the workers (default ``tools.submission.grade_submission``).
    retries : how many more times a task whose worker died is run before it is reported.
    progress : show a progress bar (default: when stderr is a terminal).
    failed_result : ``(task, status, reason) -> result`` for a task that produced no result
        (default :func:`failed_submission`).
    warm : modules each worker imports once, when it starts, besides ``function``'s own.
    worker_check : run on each worker when it joins (picklable, e.g. ``tools.sandbox.sandbox_problem``):
        None when the worker can grade, else what is wrong and how to fix it, which stops the run.

    Raises
    ------
    ValueError / TypeError naming the argument for bad arguments; ``ConnectionError`` when no
    scheduler answers at ``scheduler``; ``RuntimeError`` when the workers cannot import the task
    function or the cluster goes away; whatever ``on_result`` raises, and ``KeyboardInterrupt``,
    after the cluster is stopped.
    """
    tasks = list(tasks)
    _check_arguments(jobs, scheduler, on_result, retries)
    if function is None:
        from tools.submission import grade_submission as function  # late: any picklable function will do
    failed_result = failed_result or failed_submission
    if not tasks:
        return
    show = sys.stderr.isatty() if progress is None else bool(progress)
    with _client(jobs=min(jobs, len(tasks)), scheduler=scheduler, retries=retries) as client:
        _prepare_workers(client, WarmWorker(function.__module__, warm, ignore_sigint=scheduler is None, check=worker_check))
        link = client.dashboard_link
        if link:
            note = "" if _has_bokeh() or scheduler else " (pip install bokeh to see its pages)"
            print(f"Dask dashboard: {link}{note}", file=sys.stderr)
        _deliver(client, tasks, function, on_result, failed_result, show)


def _check_arguments(jobs, scheduler, on_result, retries) -> None:
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a whole number of worker processes >= 1, got {jobs!r}")
    if scheduler is not None and (not isinstance(scheduler, str) or "://" not in scheduler):
        raise ValueError(f"scheduler must be a Dask scheduler's address such as 'tcp://HOST:8786', got {scheduler!r}")
    if not callable(on_result):
        raise TypeError(f"on_result must be callable (it receives each result), got {on_result!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be a whole number >= 0, got {retries!r}")


@contextlib.contextmanager
def _client(*, jobs: int, scheduler: str | None, retries: int) -> Iterator[Any]:
    """A connected ``distributed.Client``: to a new local cluster, or to the one at ``scheduler``.

    Two of the scheduler's settings are set for the call (and put back afterwards on an existing
    cluster): ``allowed_failures = retries``, how many more times a task whose worker died is run;
    and ``WORKER_SATURATION = 1.0``, so that a worker holds only the tasks it is running, and a
    worker's death counts against its own submission and not against one queued behind it.
    """
    from distributed import Client, LocalCluster

    settings = {"allowed_failures": retries, "WORKER_SATURATION": 1.0}
    if scheduler is None:
        # Worker processes started with SIGINT ignored inherit that (so do the nbgrader processes
        # they start): a Ctrl-C at the terminal stops the client only, which then closes them.
        with _sigint_ignored():
            cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=":0")  # any free port: two runs never collide on 8787
        _set_on_scheduler(cluster.scheduler, settings)
        try:
            with Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    try:
        client = Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s")
    except (OSError, TimeoutError) as err:
        raise ConnectionError(
            f"scheduler: no Dask scheduler answered at {scheduler} within {CONNECT_TIMEOUT_S} s "
            f"(is `dask scheduler` running there, and the port open?): {err}"
        ) from err
    with client:
        before = client.run_on_scheduler(_setter(), settings=settings)
        try:
            yield client
        finally:
            with contextlib.suppress(Exception):  # the cluster outlives this call: leave it as it was
                client.run_on_scheduler(_setter(), settings=before)
                client.unregister_worker_plugin(WarmWorker.name)


def _set_on_scheduler(dask_scheduler, settings: dict[str, Any]) -> dict[str, Any]:
    """On the scheduler: set its attributes named in ``settings``; return what they were."""
    return _setter()(dask_scheduler, settings)


def _setter():
    # A function made here is pickled by value, so a scheduler that cannot import this
    # repository (one started by hand, by dask-jobqueue or by the Kubernetes operator) runs it.
    def set_attributes(dask_scheduler, settings):
        before = {name: getattr(dask_scheduler, name) for name in settings}
        for name, value in settings.items():
            setattr(dask_scheduler, name, value)
        return before

    return set_attributes


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may change signal handlers
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _has_bokeh() -> bool:
    return importlib.util.find_spec("bokeh") is not None


def _prepare_workers(client, plugin: WarmWorker) -> None:
    """Register ``plugin`` on every worker, present and future: a worker that cannot grade stops the run here."""
    try:
        client.register_plugin(plugin)
    except Exception as err:
        hint = ""
        if isinstance(err, ImportError) or "No module named" in str(err):
            hint = "; run the workers from a checkout of this course at the same commit, with its folder on PYTHONPATH (docs/deployment.md)"
        raise RuntimeError(f"a Dask worker is not ready to grade: {type(err).__name__}: {err}{hint}") from err


def _deliver(client, tasks, function, on_result, failed_result, show: bool) -> None:
    """Submit ``tasks`` a window at a time; deliver each outcome once; on any exception cancel the rest."""
    from distributed import as_completed
    from tqdm.auto import tqdm

    run = uuid.uuid4().hex[:8]
    portable = _portable(function)
    pending = iter(enumerate(tasks))
    in_flight: dict[str, tuple[int, Any, Any]] = {}  # future's key -> (index, task, future), until delivered
    outcomes: Counter = Counter()
    completed = as_completed(with_results=True, raise_errors=False)

    def submit(n: int) -> None:
        batch = list(itertools.islice(pending, n))
        if not batch:
            return
        keys = [f"grade-{run}-{index}" for index, _ in batch]
        blobs = [cloudpickle.dumps(task) for _, task in batch]
        for (index, task), future in zip(batch, client.map(portable, blobs, key=keys, pure=False)):
            in_flight[future.key] = (index, task, future)
            completed.add(future)

    # The first window goes in one batch larger than twice the cluster's threads: Dask then treats
    # the tasks as "root-ish" and queues them on the scheduler, handing a worker a task only when
    # it has a free thread (WORKER_SATURATION 1.0), so that no task waits on a worker that another
    # submission then kills. The window stays that size (one task in per result out): a Ctrl-C has
    # little to cancel and the scheduler holds little of the class's bytes at once.
    submit(max(8, 2 * _threads(client) + 1))
    bar = tqdm(total=len(tasks), unit="submission", desc="grading", disable=not show, file=sys.stderr, dynamic_ncols=True)
    try:
        for future, value in completed:
            entry = in_flight.pop(future.key, None)
            if entry is None:  # already delivered: never twice
                continue
            result = _outcome(future, value, entry[1], failed_result)
            future.release()  # the result is ours: the cluster need not keep (or recompute) it
            on_result(result)
            outcomes[getattr(result, "status", "done")] += 1
            bar.set_postfix_str(", ".join(f"{n} {status}" for status, n in outcomes.most_common()), refresh=False)
            bar.update(1)
            submit(1)
    except BaseException:
        client.cancel([future for _, _, future in in_flight.values()], force=True)
        raise
    finally:
        bar.close()


def _portable(function: Callable[[Any], Any]) -> Callable[[bytes], Any]:
    """``function`` as a task the scheduler can hold without importing this repository.

    Dask's scheduler unpickles the tasks it is sent; a task naming ``tools.submission`` would
    need the course on the scheduler's path too. The function returned here is pickled by value
    (cloudpickle does that for a function defined inside another) and takes the task as bytes:
    only the worker that runs it unpickles ``function`` and the task, so a stock scheduler
    (``dask scheduler``, dask-jobqueue's, the Kubernetes operator's image) serves the grading.
    """
    blob = cloudpickle.dumps(function)

    def run_pickled(task: bytes):
        import pickle

        return pickle.loads(blob)(pickle.loads(task))

    return run_pickled


def _threads(client) -> int:
    return sum(w.get("nthreads", 1) for w in client.scheduler_info(n_workers=-1)["workers"].values())


def _outcome(future, value, task, failed_result):
    """What a completed future delivers: its result, or ``failed_result`` for a task that produced none."""
    from distributed import KilledWorker

    if future.status == "finished":
        return value
    if future.status != "error":  # cancelled: by the scheduler, not by us (we stop iterating first)
        raise RuntimeError(
            f"the Dask cluster lost task {future.key} (its scheduler went away or was restarted); the results "
            "delivered so far are kept: run again with --resume"
        )
    error = future.exception()
    if isinstance(error, KilledWorker):
        reason = (
            f"the worker process grading it died on each of its {error.allowed_failures + 1} attempts "
            f"(last on {error.last_worker.address}): a crash, a kill or running out of memory; see that worker's log"
        )
        return failed_result(task, "worker died", reason)
    return failed_result(task, "grader error", f"{type(error).__name__}: {error}")


def failed_submission(task, status: str, reason: str):
    """The ``SubmissionResult`` of a submission that produced none: score 0, ``status``, ``reason`` noted."""
    from tools.submission import SubmissionResult, reference

    result = SubmissionResult(task.student, task.assignment, status=status, notes=[reason], digest=task.digest)
    try:
        result.max_score = float(sum(reference(task.source).points.values()))
    except Exception as err:  # the instructor's notebook unreadable: grade_submission says so for the others
        result.notes.append(f"max_score unknown: the instructor's notebook did not parse ({type(err).__name__})")
    return result


try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:  # distributed is in the course extra; the message comes when run_tasks needs it
    WorkerPlugin = object


class WarmWorker(WorkerPlugin):
    """A worker plugin: import the grading code once per worker process, before its first task.

    Every submission still gets its own kernel (and sandbox); what is kept warm is the worker's
    interpreter with ``module`` (the task function's) and ``warm`` imported, which the first
    submission of each worker would otherwise pay for. Importing ``module`` and running ``check``
    (the sandbox's own probe, for one) on registration also makes sure, before any task is sent,
    that every worker can grade. On a local cluster it also makes the
    worker process ignore SIGINT (restarted workers included), so that only the client reacts to
    a Ctrl-C.
    """

    name = "ebm-course-warm-worker"

    def __init__(self, module: str, warm: Sequence[str] = (), ignore_sigint: bool = False, check: Callable[[], str | None] | None = None):
        self.module, self.warm, self.ignore_sigint, self.check = module, tuple(warm), ignore_sigint, check

    async def setup(self, worker) -> None:
        if self.ignore_sigint and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        # In a thread: imports of several seconds would otherwise stall the worker's event loop.
        await asyncio.to_thread(self._prepare, worker.address)

    def _prepare(self, address: str) -> None:
        try:
            importlib.import_module(self.module)  # the task function's own module: it must import
        except ImportError as err:
            raise ImportError(f"worker {address} cannot import {self.module} ({err})") from err
        for module in self.warm:
            with contextlib.suppress(ImportError):  # a warm-up only: what is missing fails in the task, reported
                importlib.import_module(module)
        problem = self.check() if self.check is not None else None
        if problem:
            raise RuntimeError(f"worker {address}: {problem}")
