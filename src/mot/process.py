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


def _stop_on_signals() -> None:
    import signal

    def stop(signum, frame):
        raise Stopped(signum)

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):  # SIGINT: Ctrl-C, one line and no traceback
        if signal.getsignal(sig) in (signal.SIG_DFL, signal.default_int_handler):
            signal.signal(sig, stop)
