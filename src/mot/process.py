"""A command's process: its log (stdout and stderr redirected), the signals that stop it cleanly,
and the machine's errors (a full disk, a quota) told in one line."""
from __future__ import annotations

import os
import sys


def _redirect(log: str):
    """Send stdout/stderr (Python and C level: tqdm, transformers, torch) to the log file and
    return a handle on the original stderr, where the one-line error still goes."""
    import os
    from pathlib import Path

    Path(log).parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    # backslashreplace: a path's undecodable byte (surrogate-escaped) is written as \udcXX, not an error
    console = os.fdopen(os.dup(2), "w", errors="backslashreplace")
    if os.path.islink(log) or (os.path.isfile(log) and os.stat(log).st_nlink > 1):
        os.unlink(log)  # as an output's link is replaced: the file it named, or shares its data with, is kept
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = os.fdopen(1, "w", buffering=1, errors="backslashreplace")
    sys.stderr = os.fdopen(2, "w", buffering=1, errors="backslashreplace")
    return console


def _machine_error(e: BaseException) -> OSError | None:
    """The machine's I/O error behind an exception, if any: an OSError in its chain, or a library's
    message for one (safetensors: "I/O error: No space left on device (os error 28)"; torch.save:
    "[enforce fail at inline_container.cc] ... file write failed"), as an OSError with its errno."""
    import errno
    import re

    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError):
            return e
        text = str(e)
        if m := re.search(r"os error (\d+)", text):
            return OSError(int(m[1]), os.strerror(int(m[1])))
        for code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS):
            if os.strerror(code) in text:
                return OSError(code, os.strerror(code))
        if "file write failed" in text or "PytorchStreamWriter failed" in text:
            return OSError(errno.EIO, "a file write failed (a full disk or a quota, most likely)")
        e = e.__cause__ or e.__context__
    return None


def _os_error(e: OSError, args) -> str:
    """One line for an error of the machine (a full disk, a quota, a read-only file system, a
    permission): what failed, the file when Python names it, and where the command writes."""
    import errno

    outs = [str(getattr(args, k)) for k in args.outputs if getattr(args, k, None)]
    where = f" (writing {', '.join(outs)})" if outs else ""
    what = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
            errno.EROFS: "read-only file system", errno.EFBIG: "file too large (a file size limit)"}.get(
        e.errno, e.strerror or type(e).__name__)
    path = f": {e.filename}" if e.filename else ""
    return (f"{what}{path}{where}; nothing was published there (outputs appear whole or not at all), and "
            "a rerun resumes from the kept work, if any")


class Stopped(BaseException):
    """SIGTERM, SIGHUP or SIGINT (Snakemake cancelling a job, SLURM's time limit or scancel, a closed
    terminal, Ctrl-C): raised where the command is, so that every `finally` and atomic_path's cleanup
    runs (no `.mot-tmp-*` work or lock is left beside an output). A BaseException: no stage's `except Exception` takes it.
    A stage with its own way to stop (train saves its state, generate its samples) installs its own
    handler over this one while it runs."""


class _TqdmWithoutMonitor:
    """Switches tqdm's monitor thread off as tqdm is first imported (importing it here to set it would
    cost ~0.13 s in every command). A stop (Stopped) raised while a bar draws leaves the bar's lock
    taken (tqdm's refresh takes it without a `finally`); the monitor, awake after 10 s, then waits on
    that lock for ever, and the bar's close and the interpreter's exit join the monitor: a stopped
    command that never ends (tqdm/tqdm#1751, #469; CI on e086c32, a merge stopped by SIGINT still
    running after 60 s). The monitor only adjusts how often a stalled bar redraws."""

    def find_spec(self, name, path=None, target=None):
        if name != "tqdm.std":
            return None
        import importlib.util

        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            module.tqdm.monitor_interval = 0

        spec.loader.exec_module = exec_module
        return spec


def tqdm_without_monitor() -> None:
    if "tqdm.std" in sys.modules:
        sys.modules["tqdm.std"].tqdm.monitor_interval = 0
    elif not any(isinstance(f, _TqdmWithoutMonitor) for f in sys.meta_path):
        sys.meta_path.insert(0, _TqdmWithoutMonitor())


STOPS: list[int] = []  # the stop signals this process received (mot.process._stop_on_signals)


def stopped_by() -> int | None:
    """The first stop signal received, if any. Stopped raised inside a library may be taken there
    (an import that catches everything: the command went on, or failed for a half-imported module),
    so what publishes an output asks this first (mot.io), and the command's end reports it."""
    return STOPS[0] if STOPS else None


def check_stop() -> None:
    if (sig := stopped_by()) is not None:
        raise Stopped(sig)


DEFERRED: list[bool] = []  # inside deferred_stops: a stop is recorded, not raised


class deferred_stops:
    """A few steps that must not be cut apart (publish's two renames: a stop between them left the
    finished result moved aside and the new one not in place): a stop signal in them is recorded
    and raised once they are done."""

    def __enter__(self):
        DEFERRED.append(True)

    def __exit__(self, *exc):
        DEFERRED.pop()
        if exc[0] is None and not DEFERRED:
            check_stop()
        return False


def _stop_on_signals() -> dict:
    """Raise Stopped on SIGTERM, SIGHUP and SIGINT where they are still the default, and record it;
    returns the handlers replaced, for _restore_signals."""
    import signal

    def stop(signum, frame):
        STOPS.append(signum)
        if not DEFERRED:  # inside deferred_stops: raised as it ends
            raise Stopped(signum)

    def unraisable(info, shown=sys.unraisablehook):
        # raised where Python can only print it (a weakref's callback in the import machinery): the stop
        # is recorded all the same, and the command's end reports it in one line, without this traceback
        if not isinstance(info.exc_value, Stopped):
            shown(info)

    if not getattr(sys.unraisablehook, "mot", False):  # once, however often main() runs in a process
        unraisable.mot = True
        sys.unraisablehook = unraisable

    STOPS.clear()  # main() run again in one process starts unstopped
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):  # SIGINT: Ctrl-C, one line and no traceback
        if (handler := signal.getsignal(sig)) in (signal.SIG_DFL, signal.default_int_handler):
            previous[sig] = handler
            signal.signal(sig, stop)
    return previous


def _restore_signals(previous: dict, program: bool) -> None:
    """Once the command has ended (its outputs are in place or removed), a stop signal must not raise
    into the interpreter's exit: an exception in an atexit callback or a thread's join prints a
    traceback and exits 0, or leaves a lock taken halfway that the exit then waits on. The handlers
    found come back; in the program itself SIGINT's too is the system's (it ends the process, no
    KeyboardInterrupt traceback), while a caller of main() in its own process keeps Python's."""
    import signal

    for sig, handler in previous.items():
        signal.signal(sig, signal.SIG_DFL if program else handler)
    STOPS.clear()  # the command is over: what runs after it in this process is not stopped
