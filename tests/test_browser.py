"""JupyterLab in a real browser: a student notebook runs, its slider renders and moves, no cell errors.

Starts JupyterLab on localhost, opens notebook 02 (the student version with every answer
filled in) in Chromium driven by Playwright, runs all cells from the Run menu, moves the
temperature slider with the keyboard, and saves a screenshot. Skipped, with the reason,
where Chromium (Debian's ``chromium`` at /usr/bin/chromium) or Playwright is missing;
``.ci/run`` installs both.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import nbgrader_meta, read_notebook, solution_path, student_path
from tests.test_grading import _with_answers

pytestmark = pytest.mark.notebooks

NAME = "02_boltzmann_and_temperature"
CHROMIUM = os.environ.get("EBM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = Path(os.environ.get("EBM_SCREENSHOT_DIR", Path(__file__).resolve().parents[1] / "benchmarks" / "results"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def jupyterlab(tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    root = tmp_path / "lab"
    root.mkdir()
    notebook = _with_answers(read_notebook(student_path(NAME)), read_notebook(solution_path(NAME)))
    (root / f"{NAME}.ipynb").write_text(json.dumps(notebook))
    port, token = _free_port(), "ebm-browser-test"
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--allow-root"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("JupyterLab did not start within 120 s")
                time.sleep(1)
        yield {"url": f"{base}/lab/tree/{NAME}.ipynb?token={token}", "root": root, "profile": tmp_path / "profile"}
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def test_student_notebook_runs_in_jupyterlab_and_its_slider_moves(jupyterlab):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    notebook_path = jupyterlab["root"] / f"{NAME}.ipynb"
    n_code = sum(c["cell_type"] == "code" for c in read_notebook(notebook_path)["cells"])
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(jupyterlab["profile"]), executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        page = context.new_page()
        try:
            page.goto(jupyterlab["url"])
            page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
            # A fresh JupyterLab may ask which kernel to start: take the notebook's own (Python 3).
            select = page.locator(".jp-Dialog button", has_text="Select")
            try:
                select.wait_for(timeout=10_000)
                select.click()
            except PlaywrightTimeout:  # no dialog: the kernel started by itself
                pass
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()
            # Every code cell has run when each input prompt shows a number.
            page.wait_for_function(
                """n => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                        .filter(e => /\\[\\d+\\]/.test(e.textContent)).length >= n""",
                arg=n_code, timeout=240_000, polling=1000,
            )
            slider = page.locator(".widget-slider").first
            slider.wait_for(timeout=60_000)
            readout = page.locator(".widget-slider .widget-readout").first
            summary = page.locator(".widget-vbox .widget-html-content").first
            before, summary_before = readout.inner_text(), summary.inner_text()
            handle = page.locator(".widget-slider .noUi-handle").first
            handle.focus()
            for _ in range(5):
                page.keyboard.press("ArrowRight")
            page.wait_for_function(
                "([sel, old]) => document.querySelector(sel).innerText !== old",
                arg=[".widget-vbox .widget-html-content", summary_before], timeout=30_000,
            )
            after = readout.inner_text()
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            slider.scroll_into_view_if_needed()
            page.screenshot(path=str(SCREENSHOTS / "jupyterlab_02_slider.png"))
            page.keyboard.press("Control+s")
            time.sleep(2)
        except Exception:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "jupyterlab_failure.png"), full_page=True)
            raise
        finally:
            context.close()
    assert after != before, f"the slider's readout did not move: {before!r} -> {after!r}"
    assert (SCREENSHOTS / "jupyterlab_02_slider.png").stat().st_size > 10_000
    saved = read_notebook(notebook_path)
    errors = [
        nbgrader_meta(c).get("grade_id", f"cell {i}")
        for i, c in enumerate(saved["cells"])
        if any(o.get("output_type") == "error" for o in c.get("outputs", []))
    ]
    assert not errors, f"cells showed errors in JupyterLab: {errors}"
    assert sum(c.get("execution_count") is not None for c in saved["cells"] if c["cell_type"] == "code") == n_code
