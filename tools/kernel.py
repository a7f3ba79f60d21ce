"""One Jupyter kernel driven cell by cell, with a time limit per cell (used by tools.check_exercises)."""

from __future__ import annotations

import queue
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from jupyter_client import KernelManager


@dataclass
class Outcome:
    """What running one cell gave: status 'ok', 'error', 'timeout' or 'died', and the error's message."""

    status: str
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class Kernel:
    """A python3 kernel started in ``cwd``; :meth:`run` executes code and waits at most ``timeout`` seconds.

    A cell that runs too long is interrupted (SIGINT, as the Interrupt button does) and reported
    as 'timeout'; a kernel that dies is reported as 'died' and must be :meth:`restart`-ed.
    """

    def __init__(self, cwd: Path, kernel_name: str = "python3"):
        self.manager = KernelManager(kernel_name=kernel_name)
        # The kernel's own log (a warning about TCP without encryption) is not the report's business.
        self.manager.start_kernel(cwd=str(cwd), stderr=subprocess.DEVNULL)
        self._connect()

    def _connect(self) -> None:
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=120)

    def restart(self) -> None:
        self.client.stop_channels()
        self.manager.restart_kernel(now=True)
        self._connect()

    def run(self, code: str, timeout: float) -> Outcome:
        msg_id = self.client.execute(code, store_history=False, allow_stdin=False)
        deadline = time.monotonic() + timeout
        interrupted = False
        error = ""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if interrupted or not self.manager.is_alive():
                    return Outcome("died", "the kernel stopped answering")
                self.manager.interrupt_kernel()
                interrupted = True
                deadline = time.monotonic() + 30
                continue
            try:
                message = self.client.get_iopub_msg(timeout=min(remaining, 1.0))
            except queue.Empty:
                if not self.manager.is_alive():
                    return Outcome("died", "the kernel died (a crash or out of memory)")
                continue
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "error":
                error = f"{content['ename']}: {content['evalue']}"
            elif kind == "status" and content["execution_state"] == "idle":
                break
        self._drain_shell(msg_id)
        if interrupted:
            return Outcome("timeout", f"ran longer than {timeout:.0f} s and was interrupted")
        return Outcome("error", error) if error else Outcome("ok")

    def _drain_shell(self, msg_id: str) -> None:
        while True:
            try:
                reply = self.client.get_shell_msg(timeout=5)
            except queue.Empty:
                return
            if reply["parent_header"].get("msg_id") == msg_id:
                return

    def shutdown(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)
