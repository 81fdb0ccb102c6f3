"""Where a command may write: every output argument's targets (Out), checked once before any
command runs (check_outputs): no output is, holds or lies inside an input, no two outputs are one
path, and a directory that mot did not write is not replaced (mot.io.check_out)."""
from __future__ import annotations

import os
from pathlib import Path


# What a command reads besides its arguments, the config schema and mot's own code (check_outputs):
# the function of its arguments that lists it, named by a string, so that only that command's code
# version holds it (mot.codeversion follows names: every command runs check_outputs; an edit of the
# results layout is no other command's)
IMPLICIT = {"rehearsal": "mot.rehearsal:implicit_inputs", "provenance": "mot.provenance:implicit_inputs",
            "diagnostics": "mot.diagnostics:implicit_inputs"}


def _implicit(args) -> list:
    """What the command reads that no argument names: IMPLICIT's."""
    import importlib

    if args.cmd not in IMPLICIT:
        return []
    module, name = IMPLICIT[args.cmd].split(":")
    return getattr(importlib.import_module(module), name)(args)


def _paths(value, setting: bool = False) -> list[str]:
    """The paths an argument may name: a path, each of a list, the PATH of KEY=PATH, or the strings
    of a JSON setting, at any depth (--spec: init_optimizer, --teacher: a local model, --config:
    data files). A setting's string that names the file system's root is an operator, not a path
    (world.held_out_op "//"): every output lies inside the root."""
    if isinstance(value, dict):
        return [*filter(None, [getattr(value, "source", None)]), *(p for v in value.values() for p in _paths(v, True))]
    if isinstance(value, list):
        return [p for v in value for p in _paths(v, setting)]
    if not isinstance(value, str) or not value:
        return []
    if setting and Path(value).resolve() == Path(value).resolve().parent:
        return []
    return [value.partition("=")[2] if "=" in value and not os.path.exists(value) else value]


def _reads(args) -> tuple[list[str], list[str]]:
    """The command's inputs (every argument but its outputs that names an existing path) and, of
    them, its roots (trees read selectively: an output may lie inside one)."""
    keys = getattr(args, "reads", None)
    if keys is None:  # a namespace not made by parser(): every argument but the outputs and the log
        keys = [k for k in vars(args) if k not in args.outputs and k not in ("fn", "outputs", "roots", "log", "cmd")]
    inputs, roots, declared = [], [], getattr(args, "roots", {})
    for key in keys:
        named = _paths(getattr(args, key, None))
        paths = [p for p in named if os.path.exists(p)]
        paths += _hub_cached([p for p in named if not os.path.exists(p)])
        (roots if key in declared else inputs).extend(paths)
        for p in paths if key in declared else ():  # what it reads of the tree: inputs as any other
            inputs += [str(Path(p) / sub) for sub in declared[key] if (Path(p) / sub).exists()]
    return inputs, roots


def _hub_cached(names: list[str]) -> list[str]:
    """The local copies of the models named by a hub id (org/name): their directories in the Hugging
    Face cache, which transformers reads (a snapshot's files link to its blobs there)."""
    from .models import is_hub_id

    ids = [n for n in names if isinstance(n, str) and is_hub_id(n)]
    if not ids:
        return []
    from huggingface_hub.constants import HF_HUB_CACHE

    cached = [os.path.join(HF_HUB_CACHE, "models--" + i.replace("/", "--")) for i in ids]
    return [c for c in cached if os.path.isdir(c)]


NAME_MAX = 255  # bytes in a file's name, on every file system Linux clusters use


def _writes(args) -> list[tuple[str, str, str]]:
    """Everything the command writes, as (path, kind, the argument that names it): each output
    argument's targets (Out.targets) and the log (--log, read after main adds a process's .rankN)."""
    from .io import MotError

    targets = []
    for key, out in args.outputs.items():
        value, flag = getattr(args, key, None), f"--{key.replace('_', '-')}"
        if value is None:
            continue
        if str(value) in ("", ".", "..") or not Path(value).resolve().name:  # "", "/", "..": no file's name
            raise MotError(f"{flag} {str(value)!r}: names no file or directory to write")
        if str(value).endswith(os.sep) and getattr(out, "kind", out) not in ("dir", "workdir"):
            # a stem "x/" would write the hidden files x/.csv, x/.md; a file "u/" a file u
            raise MotError(f"{flag} {value}: ends in '{os.sep}', a directory; give the name of the file to write")
        targets += out.targets(str(value), flag)
    if getattr(args, "log", None):
        targets.append((str(args.log), "file", "--log"))
    for path, _, flag in targets:
        parts = Path(path).parts
        for k in range(1, len(parts)):
            if parts[k] == ".." and not os.path.lexists(os.path.join(*parts[:k])):
                # checked as the parent (the path read lexically), then written once mot has made the
                # missing directory: a path that means another until then is refused, not checked twice
                raise MotError(f"{flag} {path}: '..' after {os.path.join(*parts[:k])}, which does not exist "
                               "(mot would create it first); name the path without it")
    for path, _, flag in targets:  # mot writes .<name>.mot-tmp-<8 hex> beside it, and a lock .<name>.lock
        if len(os.fsencode(Path(path).name)) > NAME_MAX - len(".mot-tmp-01234567") - 1:
            raise MotError(f"{flag} {path}: a name of {len(os.fsencode(Path(path).name))} bytes; mot writes beside "
                           f"it a temporary file of 18 more, and the file system takes {NAME_MAX}: shorten it")
    return targets


def check_outputs(args) -> None:
    """_check_outputs, with a symbolic link that leads back to itself (which Path.resolve refuses with
    a RuntimeError in Python 3.11, an OSError later) one line naming it."""
    from .io import MotError

    try:
        _check_outputs(args)
    except RuntimeError as e:
        if "Symlink loop" not in str(e):
            raise
        raise MotError(f"{e}: a symbolic link that leads back to itself; remove it or name another path") from None


def _check_outputs(args) -> None:
    """One check for every command, before it runs and before its log is opened (it writes
    nothing): no output (--log included) may be, hold or lie inside one of the command's inputs
    (any other argument naming an existing path; mot.io.check_placement), nor be a file where a
    directory is written or the other way round, nor a directory that mot did not write (unless
    --force), nor lie inside a directory that another command wrote (mot.io.whose_output); and no
    two outputs may be one path, or one lie inside the other."""
    from .io import MotError, _same_file, check_out, check_placement, lock_file, whose_output, writer_of, written_by
    from .spec import SCHEMA

    inputs, roots = _reads(args)
    # what every command may read without an argument naming it: the config schema (the checks of
    # --spec and --sampling, check-config's default) and mot's own code
    inputs += [str(p) for p in (SCHEMA, Path(__file__).resolve().parent, *_implicit(args))
               if p.exists()]
    force = bool(getattr(args, "force", False))
    targets = _writes(args)
    from .io import STALE

    named = {str(getattr(args, key)) for key in args.outputs if getattr(args, key, None) is not None}
    cwd = Path.cwd().resolve()
    for path, kind, flag in targets:
        if kind != "file" and (resolved := Path(path).resolve()) in (cwd, *cwd.parents):
            # --out "$PWD" --force replaced the working directory, the user's files in it with it
            what = "is the working directory" if resolved == cwd else "holds the working directory"
            raise MotError(f"{flag} {path}: {what} ({cwd}), which a command never replaces; name a directory "
                           "beside it")
        if flag == "--log" and (_device(path) or any(os.path.abspath(p).startswith(("/dev/", "/proc/")) for p in (
                os.path.realpath(path), *([os.readlink(path)] if os.path.islink(path) else [])))):
            # /dev/stderr, a link to /proc/self/fd/2: the log replaces a link it names by a file (a file
            # reached through /proc/self/cwd is a file: issue 33, probe 20, case 27)
            raise MotError(f"--log {path}: the console or a device, not a file; give a file (the console gets "
                           "the error line anyway)")
        if Path(path).is_symlink() and path not in named and flag != "--log":
            # a file mot writes beside the one named (stats' .md, a table's .tex): the user named
            # the link to no command; written through, it would overwrite the file it names
            raise MotError(f"{flag} {path}: a symbolic link (to {os.readlink(path)}), which mot would write "
                           "through; it writes this file beside the one named: move the link away")
        for link in Path(path).absolute().parents:  # a link to a missing directory fails late, without its name
            if link.is_symlink() and not link.exists():
                raise MotError(f"{flag} {path}: {link} is a symbolic link to {os.readlink(link)}, which does not exist")
        parent = Path(path).resolve().parent  # its nearest existing directory: a file there fails late,
        while not parent.exists():  # after another output may have been published
            parent = parent.parent
        if not parent.is_dir():
            raise MotError(f"{flag} {path}: {parent} is a file, not a directory to write into")
        if kind in ("dir", "file"):  # beside an output, mot removes its own leftovers (.OUT.mot-tmp-<hex>)
            for i, what in [*((i, "the input") for i in inputs), *((p, f"the output {f}") for p, _, f in targets)]:
                ri, ro = Path(i).resolve(), Path(path).resolve()
                if ri.parent == ro.parent and STALE.fullmatch(ri.name.removeprefix(f".{ro.name}.")):
                    raise MotError(f"{flag} {path}: {what} {i} has the name of its leftovers, which mot removes")
        if kind in ("workdir", "work"):  # no ownership rule (Out): where it goes, only
            check_placement(path, inputs, flag, roots)
        else:
            check_out(path, inputs, force=force, is_dir=kind == "dir", flag=flag, roots=roots)
        base = flag.split(" (", 1)[0]  # "--out (its .md)": a file that --out's command writes beside it
        group = [p for p, _, f in targets if f.split(" (", 1)[0] == base and p != path]
        missing = [p for p in group if not Path(p).exists()]
        if base != flag and Path(path).is_file() and not force and missing:
            # a file mot writes beside the one named (stats' .md, a table's .tex, a stem's .png) that is
            # there while one it is written with is not: no run of this command left it; a rerun
            # (all there) replaces them all
            raise MotError(f"{flag} {path}: exists, and {missing[0]} does not: mot writes them together, and "
                           f"this one is not mot's (a file of yours?); move it away"
                           f"{' or pass --force' if hasattr(args, 'force') else ''}")
        inside = whose_output(path, nests=kind in ("dir", "work") and args.nests)
        if inside:  # --force too: it lets a command replace a directory, not write into another's
            raise MotError(f"{flag} {path}: lies inside {inside[0]}, {inside[1]} (a command "
                           "never writes into another's result: its next run would replace it); name a path outside it")
        if kind == "workdir" and (writer := writer_of(path)) is not None:  # its files would land in that result
            raise MotError(f"{flag} {path}: the output of {written_by(writer)}, not a directory to "
                           "work in; name another")
        if kind in ("dir", "workdir") and Path(path).is_file():
            raise MotError(f"{flag} {path}: is a file, expected a directory")
    resolved = [Path(path).resolve() for path, _, _ in targets]
    locks = {lock_file(r): targets[i] for i, r in enumerate(resolved)}
    for j, (path, _, flag) in enumerate(targets):
        if resolved[j] in locks:  # removed when the command ends
            raise MotError(f"{flag} {path}: the lock file of {locks[resolved[j]][2]} {locks[resolved[j]][0]}")
        for i in range(j):
            if resolved[j] == resolved[i] or _same_file(resolved[j], resolved[i]):  # or one file's two names
                raise MotError(f"{flag} {path}: the same path as {targets[i][2]} {targets[i][0]} (two outputs, "
                               "one file)")
            inner, outer = (j, i) if resolved[i] in resolved[j].parents else (i, j)
            if resolved[outer] in resolved[inner].parents:
                raise MotError(f"{targets[inner][2]} {targets[inner][0]}: lies inside the output "
                               f"{targets[outer][2]} {targets[outer][0]}")


def _device(path: str) -> bool:
    """Whether `path` is spelt as a device or a process's file descriptor (/dev/stderr,
    /proc/self/fd/2), whatever it resolves to now (a console, a pipe, the file stderr goes to)."""
    import re

    return bool(re.match(r"/dev/|/proc/[^/]+/fd/", os.path.abspath(path)))
