"""Grade one submission: its bytes in, its outcome, scores and feedback out, as data.

    result = grade_submission(SubmissionTask(student="ada", assignment=NAME, notebook=data, source=instructor))

This is the unit of work of ``tools.grade`` (and of each Dask task in ``tools.cluster``): it
reads nothing but the task and writes nothing but a scratch folder it removes, so it runs
the same in the grader's process, a process pool or a worker on another machine. It never
raises: whatever goes wrong becomes the result's ``status`` and a note saying why.

The steps, as nbgrader's ``autograde`` takes them, without its database:

1. the bytes must be at most ``max_bytes``, JSON, and a notebook by ``nbformat``'s schema;
2. every locked cell and every test cell is restored from the instructor's version (the
   ``source`` notebook, hidden tests included), matched by ``grade_id``; a student's extra or
   duplicated cells keep their code but lose any nbgrader metadata, so they score nothing;
   a deleted test cell scores zero and is noted;
3. the notebook runs top to bottom in a fresh kernel in the sandbox (``tools.sandbox``), each
   cell under ``cell_timeout_s`` (an interrupted cell scores zero, the rest still runs), the
   whole under ``notebook_timeout_s``, the outputs under ``output_kb``;
4. each test cell scores as nbgrader's ``determine_grade`` says (no error and no stderr output:
   its points), and zero too when the kernel's reply says the cell failed, whatever its outputs;
5. the integrity scan (``tools.integrity``) adds flags for a person to review; it never
   changes a score; the feedback (``tools.feedback``) never shows a hidden test.

A status other than ``graded`` scores zero; ``cell_scores`` still holds what the cells that ran
scored, for the TA.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from tools.instructor import Reference, cell_source, nbgrader_meta, reference
from tools.sandbox import Limits

MAX_BYTES = 32 * 2**20

STATUSES = ("graded", "missing", "too large", "not a notebook", "timed out", "kernel died", "sandbox failed", "grader error", "worker died", "unreadable")


@dataclass(frozen=True)
class SubmissionTask:
    """One student's submission of one assignment, with everything needed to grade it.

    Attributes
    ----------
    student, assignment : str
        Whose, and which (``assignment`` names ``solutions/<assignment>/``).
    notebook : bytes or None
        The submitted notebook's bytes; None when the student submitted none (status ``missing``).
    source : bytes
        The instructor's notebook (``solutions/<assignment>/<assignment>.ipynb``), hidden tests
        included: the tests are restored from it.
    extra_files : tuple of str
        Names of the other files in the student's folder: reported, never run or copied (only
        the notebook is graded, as released).
    limits : Limits
        The sandbox's bounds and the timeouts.
    sandbox : bool
        Run the kernel in bubblewrap (False only for trusted code: ``--no-sandbox``).
    max_bytes : int
        A larger notebook is not run (status ``too large``).
    hide : tuple of str
        Host paths that must not be visible in the sandbox even when they lie inside a tree it
        binds (the repository around a virtual environment, the submissions, OUT).
    """

    student: str
    assignment: str
    notebook: bytes | None
    source: bytes
    extra_files: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    sandbox: bool = True
    max_bytes: int = MAX_BYTES
    hide: tuple[str, ...] = ()

    @property
    def digest(self) -> str:
        """sha256 of the notebook's bytes ('' when missing): what ``--resume`` compares."""
        return hashlib.sha256(self.notebook).hexdigest() if self.notebook is not None else ""


@dataclass
class SubmissionResult:
    """What grading one submission gave: plain data, picklable, written to OUT by the client alone.

    ``cell_scores`` maps each graded cell's ``grade_id`` to ``(score, max_score)``; ``cell_times``
    maps each executed cell (``grade_id`` or ``cell N``) to its run time in seconds.
    """

    student: str
    assignment: str
    status: str = "graded"
    score: float = 0.0
    max_score: float = 0.0
    cell_scores: dict[str, tuple[float, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    feedback_html: str = ""
    wall_s: float = 0.0
    cell_times: dict[str, float] = field(default_factory=dict)
    digest: str = ""


def _read(task: SubmissionTask, result: SubmissionResult):
    """The submission as an nbformat notebook and as plain JSON, or None with the status set."""
    import nbformat

    if task.notebook is None:
        result.status = "missing"
        result.notes.append(f"no {task.assignment}.ipynb submitted")
        return None
    if len(task.notebook) > task.max_bytes:
        result.status = "too large"
        result.notes.append(f"the notebook has {len(task.notebook)} bytes, more than the {task.max_bytes} allowed")
        return None
    try:
        data = json.loads(task.notebook.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        result.status = "not a notebook"
        result.notes.append(f"not valid JSON ({err.__class__.__name__}: {str(err)[:120]})")
        return None
    try:
        if not isinstance(data, dict) or not isinstance(data.get("nbformat"), int):
            raise nbformat.ValidationError("the top level is not an object with an integer 'nbformat'")
        cells = data.get("cells")
        if not isinstance(cells, list):
            raise nbformat.ValidationError(f"'cells' is {type(cells).__name__}, not a list of cells")
        odd = next((i for i, cell in enumerate(cells) if not isinstance(cell, dict)), None)
        if odd is not None:
            raise nbformat.ValidationError(f"cells[{odd}] is {json.dumps(cells[odd])[:40]}, not a cell")
        if data["nbformat"] == 4:
            nbformat.validate(data, version=4, version_minor=data.get("nbformat_minor"))
        notebook = nbformat.reads(json.dumps(data), as_version=4)
        nbformat.validate(notebook)
    except Exception as err:  # nbformat raises several types for malformed input
        message = getattr(err, "message", None) or str(err)
        result.status = "not a notebook"
        result.notes.append(f"not a valid notebook by nbformat's schema: {message.splitlines()[0][:200] if message else type(err).__name__}")
        return None
    return notebook, data


def _restored(notebook, ref: Reference, result: SubmissionResult):
    """The notebook to run: the student's cells, with the instructor's tests and locked cells put back."""
    import nbformat

    cells, seen = [], set()
    for cell in notebook.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in ref.restore and grade_id not in seen:
            cell = nbformat.from_dict(json.loads(json.dumps(ref.restore[grade_id])))
            cell.source = cell_source(cell)
            if grade_id in ref.visible and ref.imports:
                # A student may rebind forbid, torch or np in the notebook's globals: the test
                # imports them again, on its first line, so that it uses the real ones.
                cell.source = f"{ref.imports}  # put back by the grader\n{cell.source}"
            seen.add(grade_id)
        elif grade_id in seen or (grade_id and grade_id not in ref.points and grade_id not in ref.restore and nbgrader_meta(cell).get("grade")):
            result.notes.append(f"cell {grade_id!r} is a copy or is not the instructor's: not scored")
            cell.metadata.pop("nbgrader", None)
        elif grade_id:
            seen.add(grade_id)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    deleted = [g for g in ref.points if g not in seen]
    if deleted:
        result.notes.append("test cells deleted (scored 0): " + ", ".join(deleted))
    out = nbformat.v4.new_notebook(cells=cells, metadata=json.loads(json.dumps(ref.metadata)))
    return out


def _cell_name(cell, index: int) -> str:
    return nbgrader_meta(cell).get("grade_id") or f"cell {index}"


def _seconds(execution: dict) -> float | None:
    try:
        start = datetime.fromisoformat(execution["iopub.execute_input"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(execution["shell.execute_reply"].replace("Z", "+00:00"))
    except (KeyError, ValueError, AttributeError):
        return None
    return (end - start).total_seconds()


def _score(executed, ref: Reference, replies: dict[int, str], timed_out_cells: list, limits: Limits, result: SubmissionResult) -> None:
    """Per-cell scores as nbgrader's determine_grade gives them, and zero where the kernel replied 'error'."""
    from nbgrader.utils import determine_grade

    result.cell_scores = {g: (0.0, points) for g, points in ref.points.items()}
    for index, cell in enumerate(executed.cells):
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id not in ref.points or cell.cell_type != "code" or index not in replies:
            continue
        cell.metadata.nbgrader["points"] = ref.points[grade_id]  # the instructor's points, whatever the cell says
        score, _ = determine_grade(cell)
        if replies[index] != "ok" or any(o.get("output_type") == "error" for o in cell.outputs):
            score = 0.0
        result.cell_scores[grade_id] = (min(float(score or 0.0), ref.points[grade_id]), ref.points[grade_id])
    timed_out = [_cell_name(cell, index) for index, cell in enumerate(executed.cells) if any(cell is c for c in timed_out_cells)]
    if timed_out:
        result.notes.append(f"timed out after {limits.cell_timeout_s} s and interrupted (scored 0 where a test): " + ", ".join(timed_out))
    result.max_score = float(sum(ref.points.values()))
    result.score = float(sum(s for s, _ in result.cell_scores.values())) if result.status == "graded" else 0.0
    for index, cell in enumerate(executed.cells):
        seconds = _seconds(cell.metadata.get("execution", {})) if cell.cell_type == "code" else None
        if seconds is not None:
            result.cell_times[_cell_name(cell, index)] = round(seconds, 3)


def _client_class():
    from nbclient import NotebookClient

    class LimitedClient(NotebookClient):
        """nbclient's client, keeping at most ``output_budget`` bytes of output and each cell's reply status."""

        def __init__(self, *args, output_budget: int, **kwargs):
            super().__init__(*args, **kwargs)
            self.output_budget, self.dropped, self.replies, self.timed_out = output_budget, 0, {}, []
            self.on_cell_executed = self._record_reply

        async def _async_handle_timeout(self, timeout, cell=None):
            self.timed_out.append(cell)
            return await super()._async_handle_timeout(timeout, cell)

        def _record_reply(self, cell, cell_index, execute_reply):
            self.replies[cell_index] = (execute_reply or {}).get("content", {}).get("status", "error")

        def output(self, outs, msg, display_id, cell_index):
            size = len(json.dumps(msg.get("content", {}), default=str))
            if size > self.output_budget:
                self.output_budget, self.dropped = 0, self.dropped + 1
                return None
            self.output_budget -= size
            return super().output(outs, msg, display_id, cell_index)

    return LimitedClient


async def _execute(notebook, task: SubmissionTask, workdir: Path, result: SubmissionResult):
    """Run ``notebook`` in a fresh (sandboxed) kernel; returns the client's per-cell reply statuses."""
    from nbclient.exceptions import DeadKernelError

    from tools.sandbox import make_kernel_manager

    limits = task.limits
    scratch = workdir / "scratch"
    scratch.mkdir()
    (scratch / f"{task.assignment}.ipynb").write_bytes(task.notebook)
    km = make_kernel_manager(workdir, scratch, limits, sandbox=task.sandbox, hide=[Path(p) for p in task.hide])
    client = _client_class()(
        notebook,
        km=km,
        timeout=limits.cell_timeout_s,
        interrupt_on_timeout=True,
        allow_errors=True,
        record_timing=True,
        startup_timeout=120,
        output_budget=limits.output_kb * 1024,
        resources={"metadata": {"path": str(scratch)}},
    )
    log = (workdir / "kernel.log").open("wb")
    running = asyncio.ensure_future(client.async_execute(stdout=log, stderr=log))
    try:
        done, _ = await asyncio.wait({running}, timeout=limits.notebook_timeout_s)
        if not done:  # not wait_for: nbclient reports a cancelled cell as a dead kernel
            result.status = "timed out"
            result.notes.append(f"the whole notebook ran past {limits.notebook_timeout_s} s and was stopped")
            running.cancel()
            await asyncio.wait({running})
        else:
            running.result()
    except DeadKernelError:
        from tools.sandbox import exit_reason

        process = getattr(km.provisioner, "process", None)
        returncode = process.poll() if process is not None else None
        result.status = "kernel died"
        result.notes.append(f"the kernel died while running the notebook: {exit_reason(returncode, limits)}")
    except RuntimeError as err:
        if km.has_kernel and await km.is_alive():
            raise
        result.status = "kernel died" if client.kc is not None else "sandbox failed"
        log.flush()
        said = (workdir / "kernel.log").read_text(errors="replace").strip().splitlines()[-1:]
        result.notes.append(f"the kernel did not start or stopped: {str(err)[:200]} {' '.join(said)[:200]}".strip())
    finally:
        try:
            if km.has_kernel:
                await km.shutdown_kernel(now=True)
        finally:
            if getattr(client, "kc", None) is not None:
                client.kc.stop_channels()
            await km.cleanup_resources()
            log.close()
    if client.dropped:
        result.notes.append(f"output past {limits.output_kb} KiB dropped ({client.dropped} outputs)")
    return client.replies, client.timed_out


def grade_submission(task: SubmissionTask) -> SubmissionResult:
    """Grade one submission in its own sandbox; never raises (an error becomes a status and a note)."""
    started = time.perf_counter()
    result = SubmissionResult(task.student, task.assignment, digest=task.digest)
    try:
        ref = reference(task.source)
        result.max_score = float(sum(ref.points.values()))
        if task.extra_files:
            result.notes.append("extra files ignored: " + ", ".join(task.extra_files))
        read = _read(task, result)
        if read is not None:
            notebook, data = read
            result.flags = _flags(data, task.source)
            runnable = _restored(notebook, ref, result)
            workdir = Path(tempfile.mkdtemp(prefix="ebm-submission-"))
            try:
                replies, timed_out = asyncio.run(_execute(runnable, task, workdir, result))
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
            _score(runnable, ref, replies, timed_out, task.limits, result)
            from tools.feedback import render_feedback

            result.feedback_html = render_feedback(runnable, ref, result)
    except Exception as err:  # one submission's failure must never reach the others
        result.status, result.score = "grader error", 0.0
        result.notes.append(f"the grader failed on this submission: {err.__class__.__name__}: {str(err)[:200]}")
        result.notes.append("at " + traceback.format_exc(limit=-2).strip().splitlines()[-3].strip()[:200])
    result.wall_s = round(time.perf_counter() - started, 3)
    return result


@lru_cache(maxsize=16)
def _test_names(source: bytes) -> frozenset:
    from tools.integrity import test_names

    return frozenset(test_names(json.loads(source)))


def _flags(data: dict, source: bytes) -> list[str]:
    """The integrity scan's flags for the submission as submitted (never a change of score)."""
    try:
        from tools.integrity import scan_notebook

        return list(scan_notebook(data, set(_test_names(source))))
    except Exception as err:
        return [f"integrity scan failed ({err.__class__.__name__}: {str(err)[:100]}): review by hand"]
