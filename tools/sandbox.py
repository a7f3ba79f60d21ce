"""The sandbox a student's notebook runs in: a Jupyter kernel started through bubblewrap.

A student's code is untrusted. Each submission gets a kernel of its own, started as

    bwrap --ro-bind /usr /usr ... --tmpfs /tmp --bind SCRATCH SCRATCH --bind CONN CONN
          --unshare-net --unshare-pid --unshare-ipc --unshare-uts --die-with-parent --new-session
          --clearenv ... -- [setpriv --reuid UID ...] prlimit --as ... --cpu ... --nproc ... --
          python -m ipykernel_launcher -f CONN/kernel.json

so that it reads only the system (``/usr``, ``/etc``), the Python installation it runs on
(bound read-only, even where the virtual environment lives inside the repository: the rest
of the repository is not bound, hence not there), the grader's built copy of ``ebmlib``
(:func:`built_library`, never the editable checkout) and its own scratch folder, and writes
only that scratch folder, its connection folder and a size-capped ``/tmp``. The course
directory, ``solutions/``, the repository, the other submissions, ``OUT`` and any gradebook
are simply absent. It has no network (a fresh network namespace holds only a loopback), and
the kernel talks to the grader over jupyter_client's ``ipc`` transport (sockets in the
connection folder), so no TCP port has to cross the namespace.

Limits (:class:`Limits`) are set with ``prlimit`` inside the sandbox, after the namespaces
exist: address space (``RLIMIT_AS``), CPU seconds (``RLIMIT_CPU``), processes and threads
(``RLIMIT_NPROC``), file size (``RLIMIT_FSIZE``) and no core dumps. When the grader runs as
root the kernel runs under a uid of its own (``setpriv``), since root ignores ``RLIMIT_NPROC``;
otherwise a user namespace makes the count start at zero. The wall time of the whole notebook
and the size of its output are bounded by the caller (``tools.submission``). Every process the
kernel started lives in the sandbox's PID namespace, which the kernel tears down when its
first process ends: when the grader kills the kernel, nothing is left running.

``JPY_PARENT_PID`` is not passed in: across the PID namespace the kernel could not see its
parent and would shut itself down.
"""

from __future__ import annotations

import atexit
import compileall
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "ebmlib"
BWRAP_FIX = (
    "install bubblewrap (Debian/Ubuntu: `sudo apt-get install bubblewrap`; Fedora: `sudo dnf install bubblewrap`) "
    "and allow unprivileged user namespaces (`sudo sysctl kernel.unprivileged_userns_clone=1`), "
    "or pass --no-sandbox to run students' code unconfined (only for code you trust)"
)
_UID_BASE = 1_000_000  # as root, sandboxed kernels run as 1000000 + the grading process's pid: one uid per live grader


@dataclass(frozen=True)
class Limits:
    """Resource bounds of one submission's kernel (the README lists the defaults).

    Attributes
    ----------
    memory_mb : int
        Address space of each process (``RLIMIT_AS``), in MiB.
    cpu_s : int
        CPU seconds of each process (``RLIMIT_CPU``); the kernel dies past it.
    processes : int
        Processes and threads the kernel's uid may hold at once (``RLIMIT_NPROC``).
    file_mb : int
        Largest file it may write (``RLIMIT_FSIZE``), and the size of its ``/tmp``, in MiB.
    cell_timeout_s : int
        A cell running longer is interrupted and scores nothing; the rest still runs.
    notebook_timeout_s : int
        Wall time for the whole notebook; past it the kernel is killed and the status is ``timed out``.
    output_kb : int
        Total size of the outputs kept; what comes after is dropped and noted.
    """

    memory_mb: int = 4096
    cpu_s: int = 900
    processes: int = 128
    file_mb: int = 256
    cell_timeout_s: int = 30
    notebook_timeout_s: int = 600
    output_kb: int = 8192

    def __post_init__(self):
        for name in ("memory_mb", "cpu_s", "processes", "file_mb", "cell_timeout_s", "notebook_timeout_s", "output_kb"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _bwrap() -> str | None:
    return shutil.which("bwrap")


@lru_cache(maxsize=1)
def sandbox_problem() -> str | None:
    """None if sandboxed kernels can start here, else why not and how to fix it (checked once)."""
    bwrap = _bwrap()
    if bwrap is None:
        return f"bubblewrap (bwrap) is not on PATH: {BWRAP_FIX}"
    with tempfile.TemporaryDirectory(prefix="ebm-probe-") as probe:
        argv = _bwrap_argv(bwrap, Path(probe), Path(probe), None, [])
        proc = subprocess.run([*argv, "--", sys.executable, "-c", "print('ok')"], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0 or proc.stdout.strip() != "ok":
        return f"bubblewrap cannot start a sandbox here ({(proc.stderr or proc.stdout).strip()[:200]}): {BWRAP_FIX}"
    return None


def _python_roots() -> list[Path]:
    """The folders the kernel's Python needs: its environment and the installation it was made from."""
    roots = []
    for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix, str(Path(sys.executable).resolve().parents[1])):
        path = Path(prefix).resolve()
        if path == Path("/usr") or Path("/usr") in path.parents:
            continue  # bound with the system
        if not any(path == r or r in path.parents for r in roots):
            roots = [r for r in roots if path not in r.parents] + [path]
    return roots


def _parents(path: Path) -> list[Path]:
    return [p for p in reversed(path.parents) if p != Path("/")]


def _bwrap_argv(bwrap: str, scratch: Path, connection: Path, library: Path | None, hide: list[Path], file_mb: int = 256) -> list[str]:
    """bwrap's arguments up to (not including) ``--``: the filesystem, the namespaces, the environment."""
    argv = [bwrap, "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/") / top
        if host.is_symlink():
            argv += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            argv += ["--ro-bind", str(host), str(host)]
    argv += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", str(file_mb * 2**20), "--tmpfs", "/tmp"]
    binds = [(root, "--ro-bind") for root in _python_roots()]
    if library is not None:
        binds.append((library, "--ro-bind"))
    binds += [(scratch, "--bind"), (connection, "--bind")]
    made: set[Path] = set()
    for path, how in binds:
        for parent in _parents(path):  # bwrap would make missing parents mode 0700: unreadable to the kernel's uid
            if parent not in made and not (parent == Path("/tmp") or parent in (Path("/usr"), Path("/etc"), Path("/proc"), Path("/dev"))):
                argv += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        argv += [how, str(path), str(path)]
    for path in hide:  # a path inside a bound tree (a repository around its .venv, say) is covered over
        if any(root in path.parents for root, _ in binds):
            argv += ["--tmpfs", str(path), "--remount-ro", str(path)]
    argv += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    if os.geteuid() != 0:
        argv += ["--unshare-user"]
    argv += ["--die-with-parent", "--new-session", "--chdir", str(scratch), "--clearenv"]
    env = {
        "HOME": str(scratch),
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TMPDIR": "/tmp",
        "MPLCONFIGDIR": str(scratch / ".matplotlib"),
        "IPYTHONDIR": "/tmp/ipython",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        "MKL_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
    }
    if library is not None:
        env["PYTHONPATH"] = str(library)
    for name, value in env.items():
        argv += ["--setenv", name, value]
    return argv


def sandbox_uid() -> int | None:
    """The uid sandboxed kernels run under when the grader is root (one per grader process), else None."""
    return _UID_BASE + os.getpid() if os.geteuid() == 0 else None


def kernel_argv(scratch: Path, connection: Path, limits: Limits, library: Path, *, sandbox: bool = True, hide: list[Path] = ()) -> list[str]:
    """The command that starts one submission's kernel, with ``{connection_file}`` for jupyter_client."""
    # ebmlib.testing guards forbid() from the moment it is imported: before any student code.
    kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}", "--IPKernelApp.exec_lines=import ebmlib.testing"]
    if not sandbox:
        return kernel
    bwrap = _bwrap()
    if bwrap is None:
        raise RuntimeError(f"bubblewrap (bwrap) is not on PATH: {BWRAP_FIX}")
    argv = _bwrap_argv(bwrap, scratch, connection, library, list(hide), limits.file_mb) + ["--"]
    uid = sandbox_uid()
    if uid is not None:
        argv += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--"]
    argv += [
        "prlimit",
        f"--as={limits.memory_mb * 2**20}",
        f"--cpu={limits.cpu_s}:{limits.cpu_s + 5}",  # SIGXCPU at the limit (exit_reason names it), SIGKILL 5 s later
        f"--nproc={limits.processes}",
        f"--fsize={limits.file_mb * 2**20}",
        "--core=0",
        "--",
    ]
    return argv + kernel


def _library_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(LIBRARY.rglob("*.py")):
        digest.update(str(path.relative_to(LIBRARY)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


_built: dict[str, Path] = {}


def built_library() -> Path:
    """A folder holding a built, byte-compiled copy of ``ebmlib``, made once per process and source.

    The kernels import ``ebmlib`` from here (it goes first on their ``PYTHONPATH``), never from
    the editable checkout, so that no submission can write into the library that a later
    submission imports, and a change to the repository during a run reaches no kernel.
    The folder is removed when the process exits.
    """
    key = _library_digest()
    if key not in _built:
        folder = Path(tempfile.mkdtemp(prefix=f"ebm-lib-{key}-"))
        shutil.copytree(LIBRARY, folder / "ebmlib", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        compileall.compile_dir(folder / "ebmlib", quiet=1, legacy=False)
        folder.chmod(0o755)
        # matplotlib's font list, built once here rather than at each kernel's first import of pyplot.
        env = dict(os.environ, MPLCONFIGDIR=str(folder / "matplotlib"))
        subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=env, capture_output=True, timeout=300)
        for path in folder.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _built[key] = folder
    return _built[key]


class SandboxKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` whose connection file the sandboxed kernel's own uid can read."""

    kernel_uid: int | None = None

    def write_connection_file(self, **kwargs) -> None:
        super().write_connection_file(**kwargs)
        if self.kernel_uid is not None:
            os.chown(self.connection_file, self.kernel_uid, self.kernel_uid)


def make_kernel_manager(workdir: Path, scratch: Path, limits: Limits, *, sandbox: bool = True, hide: list[Path] = ()) -> SandboxKernelManager:
    """A kernel manager for one submission: its kernelspec under ``workdir``, its kernel in ``scratch``.

    ``workdir`` holds the kernelspec and the connection folder; ``scratch`` (inside
    ``workdir``) is the only folder of the host the kernel may write. With ``sandbox`` the
    kernel starts through bubblewrap and listens on ``ipc`` sockets in the connection folder;
    without it, it is a plain local kernel (for trusted code only).
    """
    connection = workdir / "connection"
    connection.mkdir(mode=0o700)
    spec_dir = workdir / "kernels" / "ebm-sandbox"
    spec_dir.mkdir(parents=True)
    library = built_library()
    if (library / "matplotlib").is_dir():
        shutil.copytree(library / "matplotlib", scratch / ".matplotlib")
    argv = kernel_argv(scratch, connection, limits, library, sandbox=sandbox, hide=list(hide))
    env = {} if sandbox else {"PYTHONPATH": str(library)}
    import json

    (spec_dir / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "ebm sandbox", "language": "python", "interrupt_mode": "message", "env": env})
    )
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager(kernel_dirs=[str(workdir / "kernels")], ensure_native_kernel=False)
    km = SandboxKernelManager(kernel_name="ebm-sandbox", kernel_spec_manager=specs)
    km.connection_file = str(connection / "kernel.json")
    if sandbox:
        km.transport = "ipc"
        km.ip = str(connection / "kernel")
        uid = sandbox_uid()
        if uid is not None:
            km.kernel_uid = uid
            for path in (connection, scratch):
                os.chown(path, uid, uid)
                for child in path.rglob("*"):
                    os.chown(child, uid, uid)
    return km


def exit_reason(returncode: int | None, limits: Limits) -> str:
    """Why a kernel process ended, read from its exit status (bwrap reports a signal N as 128 + N)."""
    import signal

    if returncode is None:
        return "it stopped answering"
    number = -returncode if returncode < 0 else returncode - 128 if returncode > 128 else None
    if number == signal.SIGXCPU:
        return f"it used up its {limits.cpu_s} s of CPU time"
    if number == signal.SIGKILL:
        return f"it was killed (out of memory, or past the CPU limit of {limits.cpu_s} s)"
    if number is not None and number in signal.Signals._value2member_map_:
        return f"it was killed by {signal.Signals(number).name}"
    return f"it exited with status {returncode} (os._exit, or a crash such as running out of its {limits.memory_mb} MiB)"
