"""Small I/O helpers shared by every stage: one error type, atomic writes, checked JSONL.

Every stage writes through `atomic_path`/`write_jsonl`/`write_json` so that a killed job
never leaves a half-written output that Snakemake (or a user) could mistake for a result.
"""
from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
from pathlib import Path
from typing import Any, Iterable, Iterator

from .layout import TRAIN_LOG


class MotError(Exception):
    """A user-facing error: the CLI prints its message as one line and exits non-zero."""


# Every directory a mot command writes holds this file: it marks what a later command may replace.
# Its first line is what wrote it (WRITER); empty (written before mot recorded it, or published by
# library code that set no WRITER): any mot command's. Then "files:" and the files it was published
# with, one a line: a file that appeared in it since (the user's notes) is not replaced unasked.
MARKER = ".mot-output"
MANIFEST = "files:"
NOT_MOTS = (".snakemake_timestamp",)  # what Snakemake itself may leave in a directory output
# What the running command writes as (mot.cli sets it: the command's name, or the commands that
# write one kind of result, as "train/merge"): publish records it in MARKER, and a command replaces,
# or writes inside, only a directory that it (or a command of its kind) wrote (whose_output).
WRITER = ""


# The names _sibling gives (.<output>.<tag>-<4 random bytes in hex>), which mot removes beside an output
# it writes when no writer holds them: its own, as no user names a file (mot-tmp: being written,
# mot-old: the replaced output, being removed)
STALE = re.compile(r"mot-(tmp|old)-[0-9a-f]{8}")


def _sibling(path: Path, tag: str, is_dir: bool) -> Path:
    """A new, empty, hidden sibling of `path`, created with the user's umask (mkstemp/mkdtemp
    would make it 0600/0700, and colleagues on a shared cluster could not read the results)."""
    while True:
        tmp = path.parent / f".{path.name}.{tag}-{secrets.token_hex(4)}"
        try:
            if is_dir:
                os.mkdir(tmp)
            else:
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def share_modes(root: Path) -> None:
    """Give a result's files and folders the modes the user's umask gives new files (0644/0755 as a
    rule): libraries that write through temporary files leave 0600 (safetensors' weights among
    them), and colleagues on a shared cluster could not read the results."""
    mask = _umask()
    for d, dirs, files in os.walk(root):
        os.chmod(d, 0o777 & ~mask)
        for f in files:
            if not os.path.islink(os.path.join(d, f)):
                os.chmod(os.path.join(d, f), 0o666 & ~mask)


def publish(tmp: str | os.PathLike, path: str | os.PathLike, force: bool = False) -> None:
    """Move a finished directory into place (marked as mot's, readable as the umask allows),
    replacing an older `path`: one that mot wrote (it holds MARKER), an empty one, or one the caller
    was allowed to replace (`force`, or check_out with force=True). Anything else is refused even
    if no check ran before, or the directory appeared while the command ran."""
    from .process import check_stop, deferred_stops

    tmp, path = Path(tmp), Path(path)
    check_stop()  # a stop that a library took as its own error: never published as finished
    if path.is_dir() and not (force or replaceable(path)):
        raise MotError(f"{path}: {_not_yours(path)}; remove it or pass --force")
    (tmp / MARKER).write_text("\n".join([WRITER, MANIFEST, *_files(tmp)]) + "\n", encoding="utf-8")
    share_modes(tmp)
    old = None
    with deferred_stops():  # the old result, or the new one, is in place whenever a stop comes
        if path.exists():
            old = path.with_name(f".{path.name}.mot-old-{secrets.token_hex(4)}")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            _remove(old)


def _remove(path: Path, ignore_errors: bool = False) -> None:
    """Remove a file, a directory tree, or a symbolic link itself (never what it points to: an output
    given as a link to a directory is replaced by the new directory, and the directory it named kept)."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=ignore_errors)
    else:
        shutil.rmtree(path, ignore_errors=ignore_errors)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, is_dir: bool = False, force: bool = False,
                defer: list | None = None) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; move it into place only if the block succeeds (a
    directory: through publish, which never replaces one that mot did not write unless `force`).
    `defer` (a file, for atomic_files): the finished (temporary file, path) is appended there, to be
    moved into place by the caller."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if is_dir:  # one writer at a time
        lock_output(path)
    try:  # a stop or an error before the block (a long cleanup of leftovers) leaves no lock behind
        if not is_dir and path.is_symlink():  # a link to a file: the file it names is written (the link stays)
            path = path.resolve()
        if not is_dir and path.exists() and not path.is_file():
            raise MotError(f"{path}: exists and is not a file (a device, a pipe or a directory): mot writes "
                           "files; name another path")
        _remove_stale(path, is_dir)
        tmp = _sibling(path, "mot-tmp", is_dir)
    except BaseException:
        if is_dir:
            release_output(path)
        raise
    hold = None
    if not is_dir:  # held while it is written: _remove_stale of a writer beside this one leaves it
        import fcntl

        hold = os.open(tmp, os.O_RDONLY)
        fcntl.flock(hold, fcntl.LOCK_EX)
    try:
        yield tmp
        if is_dir:
            publish(tmp, path, force)
        else:
            from .process import check_stop

            check_stop()
            if defer is not None:
                defer.append((tmp, path))
            else:
                os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise
    finally:
        if hold is not None:
            os.close(hold)
        if is_dir:
            release_output(path)


@contextlib.contextmanager
def atomic_files(paths: Iterable[str | os.PathLike]) -> Iterator[list[Path]]:
    """Files written together (a table's .csv, .md, .tex and .html; a figure's .png and .pdf; stats'
    .csv and .md): a temporary sibling each (atomic_path), all moved into place once every one is
    written, with no stop between the moves. A full disk or a stop leaves the old files, every one:
    new ones beside old ones would be taken for a user's by the rerun (mot.placement's companions)."""
    from .process import check_stop, deferred_stops

    done: list = []
    try:
        with contextlib.ExitStack() as stack:
            yield [stack.enter_context(atomic_path(p, defer=done)) for p in paths]
        check_stop()
        with deferred_stops():
            while done:
                os.replace(*done.pop())
    finally:
        for tmp, _ in done:
            tmp.unlink(missing_ok=True)


def _remove_stale(path: Path, is_dir: bool) -> None:
    """Remove what a killed earlier attempt left beside `path` (a merge's directory: 100+ MB; a world
    file: MBs): _sibling's names (STALE), not a user's (.out.old-mine). A directory output is locked
    (lock_output), so its leftovers have no writer; a file's temporary file is held (flock) by the
    process writing it, and one that no process holds is a leftover."""
    import fcntl

    for stale in path.parent.glob(f".{glob.escape(path.name)}.mot-*-*"):
        if not STALE.fullmatch(stale.name.removeprefix(f".{path.name}.")):
            continue
        if is_dir or stale.is_dir() or stale.is_symlink():
            _remove(stale, ignore_errors=True)
            continue
        try:
            fd = os.open(stale, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            stale.unlink(missing_ok=True)
        except BlockingIOError:  # being written now
            pass
        finally:
            os.close(fd)


# The directories this process was allowed to replace although mot did not write them (the user's
# --force, through check_out): publish, the last step of every command, consults it.
_FORCED: set[str] = set()


def writer_of(path: str | os.PathLike) -> str | None:
    """What wrote a directory, as its MARKER records it: None if it holds no MARKER (mot did not
    write it), "" if any mot command may have."""
    marker = Path(path) / MARKER
    if not marker.is_file():
        return None
    try:
        return marker.read_text(encoding="utf-8", errors="replace").split("\n", 1)[0].strip()
    except OSError:
        return None


def _files(path: Path) -> list[str]:
    """The files under a directory (relative, sorted), but its MARKER; a directory below it that mot
    wrote (an output of its own: mot.cli's nesting), or an empty one, as `<dir>/`, without its files;
    a symbolic link to a directory as a file (it is not followed)."""
    out = []
    for root, dirs, files in os.walk(path):
        if Path(root) != path and (MARKER in files or not (dirs or files)):
            dirs[:] = []
            out.append(os.path.relpath(root, path) + "/")
            continue
        links = [d for d in dirs if os.path.islink(os.path.join(root, d))]
        dirs[:] = [d for d in dirs if d not in links]
        out += [os.path.relpath(os.path.join(root, f), path) for f in [*files, *links]
                if not (root == str(path) and f == MARKER)]
    return sorted(out)


def _listed(path: Path) -> set[str] | None:
    """What a directory that mot wrote was published with (its MARKER's list); None for a MARKER
    without one (written by hand, or by a mot before the lists: what else is in it, nobody knows)."""
    try:
        lines = (path / MARKER).read_text(encoding="utf-8", errors="replace").split("\n")
    except OSError:
        return None
    return set(lines[2:]) if len(lines) >= 2 and lines[1] == MANIFEST else None


def _unlisted(path: Path) -> list[str]:
    """The files in a directory that mot wrote which it was not published with, those in its own
    outputs inside it included (a round's branches); none known for a MARKER without a list."""
    listed = _listed(path)
    if listed is None:
        return []
    out = []
    for f in _files(path):
        if f not in listed and os.path.basename(f) not in NOT_MOTS:
            out.append(f)
        elif f.endswith("/") and (path / f / MARKER).is_file():
            out += [f + inner for inner in _unlisted(path / f)]
    return out


def _mine(writer: str | None) -> bool:
    return writer is not None and writer in ("", WRITER)


def written_by(writer: str) -> str:
    """A MARKER's writer as an error names it."""
    return f"`mot {writer}`" if writer else "mot (a version that did not record which command)"


def _not_yours(path: Path) -> str:
    writer = writer_of(path)
    if writer is None:
        return f"an existing directory that mot did not write (no {MARKER} in it)"
    if _mine(writer) and _listed(path) is None:
        return f"its {MARKER} lists no files (written by hand, or by a mot before 89e5a85): what else it holds is unknown"
    if _mine(writer) and (extra := _unlisted(path)):
        more = f" and {len(extra) - 1} more" if len(extra) > 1 else ""
        if (inner := writer_of(path / extra[0])) is not None:  # a later command's output inside this one,
            return f"holds {extra[0]}{more}, written there since by {written_by(inner)}"  # which a rerun would delete
        return f"holds {extra[0]}{more}, which mot did not write there (a file of yours?)"
    return f"an existing directory that {written_by(writer)} wrote, not `mot {WRITER}`"


def _work_inside(path: Path) -> str | None:
    """A job's work inside a directory, as --force must leave it: a resumable job's unfinished work
    (a stamped `<out>.partial`), or an output's lock that a running command holds."""
    import fcntl

    for root, dirs, files in os.walk(path):
        for d in dirs:
            if d.endswith(".partial") and (Path(root) / d / WORK_STAMP).is_file():
                return f"{Path(root) / d} (a resumable job's unfinished work)"
        for f in files:
            if f.startswith(".") and f.endswith(".lock"):  # lock_file's names
                try:
                    fd = os.open(Path(root) / f, os.O_RDONLY)
                except OSError:
                    continue
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    return f"{Path(root) / f} (the lock of a command writing there now)"
                finally:
                    os.close(fd)
    return None


def _nested_output(path: Path) -> tuple[Path, str] | None:
    """The first directory below `path` that mot wrote, and its writer, if any."""
    for root, dirs, files in os.walk(path):
        if MARKER in files and Path(root) != path:
            return Path(root), writer_of(root)
    return None


def replaceable(path: str | os.PathLike) -> bool:
    """Whether a directory output may be replaced: it is absent or empty, this command (or its
    family: WRITER) wrote it, or the user allowed it (check_out with force=True)."""
    path = Path(path)
    if not path.is_dir():
        return True
    return ((_mine(writer_of(path)) and _listed(path) is not None and not _unlisted(path))
            or not any(path.iterdir()) or str(path.resolve()) in _FORCED)


def whose_output(path: str | os.PathLike, nests: bool = True) -> tuple[Path, str] | None:
    """The nearest directory above `path` that mot wrote, and its writer, where writing `path` would
    change that finished result (a model's files) and a later run of its command would replace what
    was written there. `nests`: `path` is a directory output of a command that nests (mot.cli's add),
    which may lie inside one that its own command (or one of its kind, WRITER) wrote: a round's branch
    inside the round; a file (a log, a summary), a working directory, or another command's directory
    never may."""
    for parent in Path(path).resolve().parents:
        writer = writer_of(parent)
        if writer is not None and not (nests and _mine(writer)):
            return parent, f"the output of {written_by(writer)}"
        if parent.name.endswith(".partial") and (parent / WORK_STAMP).is_file():  # start_work's: deleted or
            return parent, "a resumable job's unfinished work"  # resumed by the job's next attempt
    return None


def check_placement(out: str | os.PathLike, inputs=(), flag: str = "--out", roots=()) -> None:
    """Refuse an output that would destroy or write into an input: `out` may not be an input, nor
    contain one (replacing it would delete the input), nor lie inside one (writing there changes
    what the command reads: a checkpoint, a tokenizer). `roots`: inputs that are trees read
    selectively (mot rehearsal check --results), which an output may lie inside but not be or hold."""
    resolved = Path(out).resolve()
    for i, is_root in [*((i, False) for i in inputs), *((r, True) for r in roots)]:
        if not i:
            continue
        ri = Path(i).resolve()
        # by path, and by the file itself: one directory may have two paths (a bind mount)
        if resolved == ri or resolved in ri.parents or _same_file(resolved, ri) or _below(ri, resolved):
            raise MotError(f"{flag} {out}: would replace the input {i}")
        if (ri in resolved.parents or _below(resolved, ri, strictly=True)) and not is_root:
            raise MotError(f"{flag} {out}: lies inside the input {i} (a command never writes into what it reads)")


def _below(path: Path, directory: Path, strictly: bool = False) -> bool:
    """Whether an existing directory of `path`'s parents (or `path` itself, unless strictly) is
    `directory` itself, whatever its path (mot.io.check_placement)."""
    try:
        d = directory.stat()
    except OSError:
        return False
    if not stat.S_ISDIR(d.st_mode):
        return False
    for p in [*([] if strictly else [path]), *path.parents]:
        try:
            s = p.stat()
        except OSError:
            continue
        if (s.st_dev, s.st_ino) == (d.st_dev, d.st_ino):
            return True
    return False


def _same_file(a: Path, b: Path) -> bool:
    """One file under two names (a hard link): writing one truncates the other."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # either is absent
        return False


def check_out(out: str | os.PathLike, inputs=(), force: bool = False, is_dir: bool = True, flag: str = "--out",
              roots=()) -> None:
    """Refuse an output that would destroy an input (check_placement), or a directory that mot did
    not write.

    An existing directory is replaced only if it is empty or holds MARKER, unless `force`, which
    also allows publish to replace it later in this process."""
    check_placement(out, inputs, flag, roots)
    path = Path(out)
    if path.is_symlink() and not path.exists():  # publish would replace the link, or fail at the very end
        raise MotError(f"{flag} {out}: a symbolic link to {os.readlink(path)}, which does not exist")
    if path.exists() and not (path.is_file() or path.is_dir()):  # a pipe would block, a device be written to
        raise MotError(f"{flag} {out}: exists and is not a file or a directory (a pipe, a device or a socket); "
                       "mot writes files")
    if not path.is_dir():
        return
    if not is_dir:
        raise MotError(f"{flag} {out}: is a directory, expected a file")
    if force:
        # --force lets a command replace the user's directory, not the results of other commands in it
        # (in a directory of mot's: those written into it since, which its MARKER does not list)
        later = [e for e in _unlisted(path) if writer_of(path / e) is not None] if writer_of(path) is not None else []
        inner = (_nested_output(path) if writer_of(path) is None else
                 (path / later[0].rstrip("/"), writer_of(path / later[0])) if later else None)
        if inner is not None:
            raise MotError(f"{flag} {out}: holds {inner[0]}, {written_by(inner[1])}, which --force does not "
                           "replace: move it out, or name another path")
        if (busy := _work_inside(path)) is not None:
            raise MotError(f"{flag} {out}: holds {busy}, which --force does not replace; let that job end "
                           "(or remove it), or name another path")
        _FORCED.add(str(path.resolve()))
    elif not replaceable(path):
        raise MotError(f"{flag} {out}: {_not_yours(path)}; remove it or pass --force")


# --------------------------------------------------------------------------- resumable work
_LOCKS: dict[str, int] = {}  # lock file -> the descriptor that holds it, for the process's lifetime
LOCK_TEXT = b"mot lock\n"  # what a lock file of mot holds (a user's file of that name holds anything else)


def lock_file(out: str | os.PathLike) -> Path:
    """The lock file of an output (lock_output): a hidden `.<name>.lock` beside it."""
    path = Path(out)
    return path.parent / f".{path.name}.lock"


def lock_output(out: str | os.PathLike) -> None:
    """Hold an exclusive lock on `out` (a hidden `.<name>.lock` beside it) until this process ends,
    or refuse at once: two writers on one `<out>.partial` (an orphaned job and its rerun) would
    interleave their work. The kernel drops the lock when the holder dies, however it dies."""
    import fcntl

    path, lock = Path(out), lock_file(out)
    if str(lock) in _LOCKS:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, created = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666), True
    except FileExistsError:
        try:
            fd, created = os.open(lock, os.O_RDWR | os.O_NOFOLLOW), False
        except OSError:  # a link, or a directory, of that name: the user's
            raise MotError(f"{out}: {lock} exists and is not mot's lock file; move it away, then rerun") from None
    except OSError as e:  # no space or inodes left, a read-only directory: the machine's, named so
        raise MotError(f"{out}: cannot make its lock file {lock}: {e.strerror or e}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise MotError(f"{out}: another process is writing it (it holds {lock}); wait for it to end or stop "
                       "it, then rerun") from None
    if created:
        os.write(fd, LOCK_TEXT)
    elif os.pread(fd, len(LOCK_TEXT) + 1, 0) != LOCK_TEXT:  # one a killed mot left holds LOCK_TEXT; anything
        os.close(fd)  # else, an empty file included, is the user's (release would delete it)
        raise MotError(f"{out}: {lock} exists and is not mot's lock file; move it away, then rerun")
    _LOCKS[str(lock)] = fd


def release_output(out: str | os.PathLike) -> None:
    """Drop the lock on `out` and its file, once `out` is in place (a lock file inside a run's work
    directory would otherwise travel into the published result)."""
    lock = str(lock_file(out))
    fd = _LOCKS.pop(lock, None)
    if fd is not None:
        Path(lock).unlink(missing_ok=True)
        os.close(fd)


def stage_code(*entries: str) -> str:
    """The version of the code a command runs (mot.codeversion, as its rule's `code` param), for
    work fingerprints: a rerun after a code change never resumes work that the old code started
    (Snakemake reruns the job, and the job would otherwise continue it)."""
    from .codeversion import version

    return version(str(Path(__file__).resolve().parents[1]), *entries)


WORK_STAMP = "fingerprint.json"  # what marks <out>.partial/ as a resumable job's work (start_work)


def start_work(out: str | os.PathLike, fingerprint, own: dict, log=print) -> Path:
    """`<out>.partial/`: the place where a resumable job works, stamped with a fingerprint of
    everything that shapes the output (input contents, settings). An earlier attempt's work is
    kept when its stamp matches; otherwise it is discarded, with one log line, and a fresh, empty
    directory is returned. Only one process works on `out` at a time (lock_output). Finish with
    `finish_work`, or `remove_work` once its result is written elsewhere. `own`: what the stage writes
    in its work (_foreign); anything else there, at any depth (a note a user left in a stopped job's
    work), is refused by name, never deleted nor published as mot's."""
    lock_output(out)
    work = Path(f"{out}.partial")
    stamp = work / WORK_STAMP
    fp = f"{stable_hash(fingerprint):016x}"
    if work.is_symlink() or (work.exists() and not _stamped(stamp) and (work.is_file() or any(work.iterdir()))):
        # not work of mot's (it stamps its work first, atomically): a user's file or directory is never deleted
        release_output(out)
        raise MotError(f"{work}: exists and is not the work of an earlier attempt (no {stamp.name} of mot's in "
                       "it); mot works there: move it away, then rerun")
    if work.is_dir():
        try:
            check_work(work, own)
        except MotError:
            release_output(out)
            raise
        if _stamped(stamp) == fp:
            return work
        log(f"{work}: discarding the work of an earlier attempt with other inputs or settings")
        shutil.rmtree(work)
    work.mkdir(parents=True)
    write_json(stamp, {"fingerprint": fp})
    return work


def _foreign(work: Path, own: dict) -> Path | None:
    """The first path in a work directory, at any depth, that its stage does not write, if any.
    `own` maps the names (glob patterns) of what the stage writes there to what each holds: None, a
    file, or a directory whose files a library names (save_pretrained's, accelerate's state); a dict,
    a directory of mot's whose entries are checked as this one's. Besides them: the stamp, the
    temporary names of mot's atomic writes and locks, and an output of mot's (a finished branch, a
    merged model), whose MARKER lists its files."""
    import fnmatch

    for p in sorted(work.iterdir()):
        if p.name == WORK_STAMP or (p.name.startswith(".") and (".mot-tmp-" in p.name or ".mot-old-" in p.name
                                                                or p.name.endswith(".lock"))):
            continue
        held = [own[pattern] for pattern in own if fnmatch.fnmatchcase(p.name, pattern)]
        if not held or p.is_symlink():  # mot writes no links
            return p
        if not p.is_dir():
            if isinstance(held[0], dict):  # a directory of mot's, where it writes none of its files
                return p
            continue
        if (writer := writer_of(p)) is not None:
            if not _mine(writer) or _listed(p) is None:
                return p
            if extra := _unlisted(p):
                return p / extra[0]
        elif isinstance(held[0], dict) and (found := _foreign(p, held[0])):
            return found
    return None


def check_work(work: Path, own: dict) -> None:
    """Refuse by name anything in a job's work directory that its stage does not write (start_work's
    `own`), before the work is published or removed."""
    if found := _foreign(work, own):
        raise MotError(f"{found}: not mot's (it is not what this command writes in its work directory {work}): "
                       "move it away, then rerun")


def remove_work(work: Path, own: dict) -> None:
    """Remove a finished job's work directory (its result is written elsewhere), unless something
    there is not mot's (start_work's `own`): that is refused by name, and nothing is deleted."""
    check_work(work, own)
    shutil.rmtree(work)


def _stamped(stamp: Path) -> str | None:
    """The fingerprint in a work directory's stamp, if it is one that start_work wrote: {"fingerprint":
    16 hex digits}, nothing else (a user's fingerprint.json is none)."""
    try:
        doc = json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    fp = doc.get("fingerprint") if isinstance(doc, dict) and set(doc) == {"fingerprint"} else None
    return fp if isinstance(fp, str) and re.fullmatch(r"[0-9a-f]{16}", fp) else None


def final_path(path: str | os.PathLike | None) -> str | None:
    """The path a file will have once its job's `<out>.partial/` is renamed to `<out>`: what
    provenance records (a `.partial` path stops existing after the rename)."""
    if path is None:
        return None
    return "/".join(part.removesuffix(".partial") for part in str(path).split("/"))


def finish_work(work: Path, out: str | os.PathLike, own: dict) -> None:
    """Unstamp a finished work directory and move it into place as `out`. What publish would refuse
    is asked first (a refusal keeps the stamp, so that the finished work is resumed, not stranded),
    and so is a file in it that the stage does not write (start_work's `own`), which publishing
    would list as mot's."""
    from .process import check_stop

    check_stop()
    check_work(work, own)
    if Path(out).is_dir() and not replaceable(out):
        raise MotError(f"{out}: {_not_yours(Path(out))}; remove it or pass --force (the finished work is kept "
                       f"in {work} and taken up by the rerun)")
    (work / WORK_STAMP).unlink(missing_ok=True)
    publish(work, out)
    release_output(out)


def model_fingerprint(path: str | os.PathLike) -> list:
    """What a checkpoint directory holds (the hash of each top-level file that shapes the model:
    weights, config, tokenizer), so resumed work notices retrained weights; a hub id: its name."""
    p = Path(path)
    if not p.is_dir():
        return [str(path)]
    skip = (MARKER, TRAIN_LOG)
    return [(f.name, file_xxh3(f)) for f in sorted(p.iterdir())
            if f.is_file() and f.name not in skip and not f.name.startswith("mot_")]


def dumps(obj: Any) -> str:
    """Canonical one-line JSON (stable key order as given, no NaN) so outputs are byte-stable."""
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(dumps(row) + "\n")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, allow_nan=False, indent=2)
        f.write("\n")


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def registry(table: dict):
    """A decorator factory that files functions or classes in `table` under a name."""
    def register(name: str):
        def wrap(obj):
            table[name] = obj
            return obj
        return wrap
    return register


def stable_hash(*parts: Any) -> int:
    """A 63-bit integer from any JSON-able parts; unlike hash() it is the same in every process."""
    digest = hashlib.sha256(dumps(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def file_xxh3(path: str | os.PathLike, chunk: int = 1 << 26) -> str:
    """xxh3-128 of a file's bytes: a content hash at memory speed (sha256 runs at about 1 GB/s
    here, slower than a whole merge of the same bytes). Read through mmap, a window at a time whose
    pages are then dropped from this process: no copy of the bytes (reading them into buffers took
    4x as long, beside a merge), and resident memory of one window, not the file."""
    import mmap

    import xxhash

    h = xxhash.xxh3_128()
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return h.hexdigest()
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m, memoryview(m) as view:
            for first in range(0, size, chunk):
                h.update(view[first:first + chunk])
                m.madvise(mmap.MADV_DONTNEED, first, min(chunk, size - first))
    return h.hexdigest()


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 24) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
