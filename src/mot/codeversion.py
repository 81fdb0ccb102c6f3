"""A stage's code version: a hash of exactly the code its command runs, as definitions, not files.

A rule's job is `python3 -m mot <command>` (or a module's `main`, `python3 -m mot.multinode`). Its
version is a hash over every package definition that command reaches by name from its entry point:
`cli.main` (without the parser of the other commands), the command's block of `cli.parser` (which
names its `commands.cmd_<x>`), `mot/__init__.py`'s import-time code, and, transitively, every
function, class, module-level assignment or import-time statement those name, lazily imported or
not, in any module. A registry brings every entry filed into it (a `@register(...)` class, a
`TABLE[key] = ...`), wherever it is filed; a job that runs one teacher backend names it
(`evaluate[hf]`: of mot.backends.BACKENDS, only the entry filed as "hf", and the import-time code of
the modules that file the others, which its process still imports).

So an edit reruns the stages whose commands reach it and nothing else: a change to the corpus
command's argument default reruns corpora; a new helper nothing calls, a comment or a docstring
reruns nothing; a definition moved to another module, its importers updated, reruns nothing (the
module is not part of the key), unless that module runs statements on import (a registry's entries,
mot/__init__.py): the command now runs them too, so they count. Over-inclusion is safe, under-inclusion is not: a class is hashed
whole (a method called on an instance is not resolved), and a name that could mean a global counts.
Data files a stage reads (templates, the schema) are its rules' inputs, not code.

Normalization: docstrings and package-internal import statements dropped, `module.attr` of a
package module written as `attr`; the hash of each statement is that of its `ast.dump` (a Python
upgrade that changes the AST's fields may rerun everything once)."""
from __future__ import annotations

import ast
import copy
import functools
import hashlib
import os

PKG = "mot"


class Index:
    """The package's modules, parsed once: per module, its global names and the top-level statements
    that bind them, its package-internal imports, its import-time statements, and every registration."""

    def __init__(self, src: str):
        self.mods, self._links, self._digests, self._texts = {}, {}, {}, {}
        d = os.path.join(src, PKG)
        for f in sorted(os.listdir(d)):
            if f.endswith(".py"):
                with open(os.path.join(d, f), encoding="utf-8") as fh:
                    self.mods[f[:-3]] = ast.parse(fh.read())
        self.defs, self.imports, self.side = {}, {}, {}
        for m, tree in self.mods.items():
            defs, imps, side = {}, {}, []
            for st in tree.body:
                for n in bound(st):
                    defs.setdefault(n, []).append(st)
                if isinstance(st, ast.ImportFrom) and internal(st):
                    imps.update(import_map(st))
                elif not bound(st) and not is_doc(st) and not isinstance(st, (ast.Import, ast.ImportFrom)):
                    side.append(st)  # import-time statements: X[...] = ..., X.update(...), if/try blocks
            self.defs[m], self.imports[m], self.side[m] = defs, imps, side
        self.keys = {}
        self.registrations = self._registrations()
        # A registrar files into what its definition names (`figure = registry(FIGURES)`, `def
        # method(...): METHODS[name] = ...`): reaching the registry reaches every entry filed through
        # any registrar of it. Only data (an assignment) is a registry, never a helper function.
        for r in list(self.registrations):
            for st in self.defs.get(r[0], {}).get(r[1], []):
                for t in self.refs(r[0], st):
                    data = all(isinstance(s, (ast.Assign, ast.AnnAssign)) for s in self.defs[t[0]].get(t[1], [None]))
                    if t != r and data:
                        self.registrations.setdefault(t, []).extend(self.registrations[r])

    def _registrations(self) -> dict:
        """(module, registry name) -> the top-level statements, anywhere, that file into it: a def or
        class decorated by a registrar, `TABLE[key] = ...`."""
        regs = {}
        for m, tree in self.mods.items():
            for st in tree.body:
                targets = []
                if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    for dec in st.decorator_list:
                        call = dec.func if isinstance(dec, ast.Call) else dec
                        if isinstance(call, ast.Name):
                            targets.append(self.resolve(m, call.id))
                elif isinstance(st, ast.Assign) and isinstance(st.targets[0], ast.Subscript) \
                        and isinstance(st.targets[0].value, ast.Name):
                    targets.append(self.resolve(m, st.targets[0].value.id))
                for t in filter(None, targets):
                    regs.setdefault(t, []).append((m, st))
                key = st.targets[0].slice if isinstance(st, ast.Assign) and targets else next(
                    (d.args[0] for d in getattr(st, "decorator_list", []) if isinstance(d, ast.Call) and d.args), None)
                if targets and isinstance(key, ast.Constant):
                    self.keys[id(st)] = key.value  # the name it is filed under: @register("hf"), TABLE["x"] =
        return regs

    def resolve(self, m: str, name: str, depth: int = 0):
        """(module, name) of the definition `name` means among module m's globals, through its
        imports; (module, None) for a package module; None for anything outside the package."""
        if depth > 10:
            return None
        if name in self.defs.get(m, {}):
            return (m, name)
        if name in self.imports.get(m, {}):
            mod, attr = self.imports[m][name]
            if attr is None:
                return (mod, None) if mod in self.mods else None
            if attr in self.defs.get(mod, {}):
                return (mod, attr)
            return self.resolve(mod, attr, depth + 1) if mod in self.mods else None
        return None

    def refs(self, m: str, node) -> set:
        """The package definitions a statement names: m's globals, the names its own `from . import`
        statements bind (lazy imports), and `module.attr` of package modules."""
        return {r for _, r in self.links(m, node)}

    def digest(self, m: str, st) -> tuple[str, str]:
        """A top-level statement's (name, hash of its normalized AST)."""
        if id(st) not in self._digests:
            # `X.attr` is normalized only where X names a package module here (`from . import layout
            # as L`, module-wide or in the statement itself): a local variable `world` is no module
            imported = {**self.imports.get(m, {}), **{k: v for n in ast.walk(st) if isinstance(n, ast.ImportFrom)
                                                       and internal(n) for k, v in import_map(n).items()}}
            text = _dump(st, {name for name, (mod, attr) in imported.items() if attr is None and mod in self.mods})
            # what each name stands for is part of the statement: its text alone reads the same after
            # an import that renames (`from .chat import THINK_CLOSE as THINK_OPEN`), or now takes the
            # name from another module (`register`, `layout.MODELS`). The definition a name reaches, by
            # its own text (a move to another module keeps it; an edit of it reruns anyway).
            # (cli.parser, which main calls, stands for each command's own block: mot.codeversion._entry)
            text += "".join(sorted({f";{name}={target[1]}:{self._text(*target)}" for name, target in self.links(m, st)
                                    if target != ("cli", "parser")}))
            self._digests[id(st)] = (",".join(bound(st)) or type(st).__name__,
                                     hashlib.sha256(text.encode()).hexdigest()[:16])
        return self._digests[id(st)]

    def _text(self, m: str, name: str) -> str:
        """The normalized text of `name`'s definitions in module m, hashed (no links: one level)."""
        if (m, name) not in self._texts:
            imported = self.imports.get(m, {})
            modules = {n for n, (mod, attr) in imported.items() if attr is None and mod in self.mods}
            text = "".join(_dump(st, modules) for st in self.defs.get(m, {}).get(name, []))
            self._texts[(m, name)] = hashlib.sha256(text.encode()).hexdigest()[:16]
        return self._texts[(m, name)]

    def links(self, m: str, node) -> set:
        """(name as written, (module, name) of the definition it reaches) for the package definitions
        a statement names: its free names (through the imports that bind them) and `module.attr`."""
        key = (m, id(node))
        if key not in self._links:
            self._links[key] = self._find_links(m, node)
        return self._links[key]

    def _find_links(self, m: str, node) -> set:
        if getattr(node, "decorator_list", None):  # decorators run in the enclosing scope: a lazy import in
            bare = copy.copy(node)  # the body (OpenAITeacher's `from .redaction import register`) is not theirs
            bare.decorator_list = []
            return set().union(self._find_links(m, bare), *(self._find_links(m, d) for d in node.decorator_list))
        local = {}
        for n in ast.walk(node):
            if isinstance(n, ast.ImportFrom) and internal(n):
                local.update(import_map(n))
        out, free = set(), _free_loads(node)
        for n in ast.walk(node):
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id not in self.defs.get(m, {}):
                mod = local.get(n.value.id) or ((self.resolve(m, n.value.id) or (None, None))[0], None)
                if mod and mod[1] is None and mod[0] in self.mods and (r := self.resolve(mod[0], n.attr)):
                    out.add((n.attr, r))
            elif isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Store):  # a name bound here (a field)
                if n.id in local:  # a lazy `from .x import y`
                    mod, attr = local[n.id]
                    r = self.resolve(mod, attr) if attr else None
                else:  # a global, unless a parameter or a local variable of that name is what it reads
                    r = self.resolve(m, n.id) if id(n) in free else None
                if r and r[1] is not None:
                    out.add((n.id, r))
        return out


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
           ast.GeneratorExp)


def _bound(scope) -> set[str]:
    """The names a function (or lambda, or comprehension) binds in its own scope: its parameters and
    what it assigns, imports from outside the package or catches (Python's rule: assigned anywhere in
    a function, a name is its local throughout), less what it declares global."""
    names, declared = set(), set()
    if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        a = scope.args
        names |= {x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs, *filter(None, [a.vararg, a.kwarg])]}
        body = scope.body if isinstance(scope.body, list) else [scope.body]
    else:  # a comprehension: its targets
        body = [g.target for g in scope.generators]

    def walk(n):
        for c in ast.iter_child_nodes(n):
            if isinstance(c, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(c.name)  # its own body is a scope of its own
                continue
            if isinstance(c, _SCOPES):
                continue
            if isinstance(c, ast.Global):
                declared.update(c.names)
            elif isinstance(c, ast.Name) and isinstance(c.ctx, (ast.Store, ast.Del)):
                names.add(c.id)
            elif isinstance(c, ast.Import) or (isinstance(c, ast.ImportFrom) and not internal(c)):
                names.update((x.asname or x.name).split(".")[0] for x in c.names)
            elif isinstance(c, ast.ExceptHandler) and c.name:
                names.add(c.name)
            walk(c)

    walk(ast.Module(body=body, type_ignores=[]))  # its statements as a parent's children
    return names - declared


def _free_loads(node) -> set[int]:
    """The ids of the Name loads in `node` that no function, lambda or comprehension around them
    binds: those may read a module global of their name."""
    free = set()

    def visit(n, bound):
        if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Store) and n.id not in bound:
            free.add(id(n))
        if isinstance(n, _SCOPES):
            outer = [*getattr(n, "decorator_list", []), *(n.args.defaults if hasattr(n, "args") else []),
                     *filter(None, n.args.kw_defaults if hasattr(n, "args") else [])]
            if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                outer = [n.generators[0].iter]  # a comprehension's first iterable: the enclosing scope's
            for x in outer:
                visit(x, bound)
            inner = bound | _bound(n)
            for c in ast.iter_child_nodes(n):
                if not any(c is x for x in outer):
                    visit(c, inner)
            return
        for c in ast.iter_child_nodes(n):
            visit(c, bound)

    visit(node, frozenset())
    return free


def is_doc(st) -> bool:
    return isinstance(st, ast.Expr) and isinstance(st.value, ast.Constant) and isinstance(st.value.value, str)


def internal(st: ast.ImportFrom) -> bool:
    return st.level >= 1 or (st.module or "").split(".")[0] == PKG


def import_map(st: ast.ImportFrom) -> dict:
    """The names a package-internal `from ... import ...` binds: name -> (module, attr), or (module,
    None) for `from . import module`."""
    base = (st.module or "").removeprefix(PKG).lstrip(".") if st.level == 0 else (st.module or "")
    return {a.asname or a.name: (base.split(".")[0], a.name) if base else (a.name, None) for a in st.names}


def bound(st) -> list[str]:
    if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [st.name]
    if isinstance(st, ast.Assign):  # `A = ...`, `A = B = ...`, `A, B = ...`
        return [n.id for t in st.targets for n in ([t] if isinstance(t, ast.Name) else getattr(t, "elts", []))
                if isinstance(n, ast.Name)]
    if isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name):
        return [st.target.id]
    return []


def _dump(node, modules: set) -> str:
    """ast.dump of a statement, normalized: no docstrings, no package-internal imports, `module.attr`
    of a package module as the name `attr`, no expression contexts and no positions."""
    if isinstance(node, list):  # a package-internal import leaves no trace (not even a place in the list)
        return "[" + ",".join(_dump(x, modules) for x in node
                              if not (isinstance(x, ast.ImportFrom) and internal(x))) + "]"
    if not isinstance(node, ast.AST):
        return repr(node)
    if isinstance(node, ast.ImportFrom) and internal(node):
        return ""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
        return f"Name(id={node.attr!r})"
    fields = []
    for name, value in ast.iter_fields(node):
        if name == "ctx":
            continue
        if name == "body" and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                and value and is_doc(value[0]):
            value = value[1:]
        fields.append(f"{name}={_dump(value, modules)}")
    return f"{type(node).__name__}({','.join(fields)})"


def _entry(ix: Index, entry: str) -> list:
    """The roots of an entry: a mot command (`corpus`: cli.main, the command's block of cli.parser
    and the parser's own helpers), a module run with -m (`mot.multinode`: its main and import-time
    code), or one function (`mot.rehearsal:build`: what a result that it alone shapes follows from);
    mot/__init__.py's import-time code in every case."""
    roots = [("__init__", s) for s in ix.mods["__init__"].body if not is_doc(s)] if "__init__" in ix.mods else []
    if ":" in entry:
        mod, name = entry.removeprefix(f"{PKG}.").split(":")
        if name not in ix.defs.get(mod, {}):
            raise ValueError(f"mot has no function '{entry}'")
        return roots + [(mod, s) for s in ix.defs[mod][name]]
    if entry.startswith(f"{PKG}."):
        mod = entry.split(".", 1)[1]
        return roots + [(mod, s) for s in ix.defs[mod].get("main", [])] + [(mod, s) for s in ix.side[mod]]
    roots += [("cli", s) for s in ix.defs["cli"]["main"]]
    roots += [("__main__", s) for s in ix.side.get("__main__", [])]  # python -m mot's own entry
    # cli.parser: a command's block (from its `sp = add("<command>", ...)` through the statements on
    # `sp`), and what every command shares: the parser's own options and helpers, and what it does
    # after the blocks (which arguments are inputs, for every command)
    block, inside, found, helpers = [], False, False, {}
    for st in ix.defs["cli"]["parser"][0].body:
        call = st.value if isinstance(st, ast.Assign) else None
        if isinstance(st, ast.FunctionDef):  # the parser's own helpers: where a statement kept calls them
            helpers[st.name] = st
        elif isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "add":
            inside = isinstance(call.args[0], ast.Constant) and call.args[0].value == entry
            found |= inside
            if inside:
                block.append(st)
        elif _on_subparser(st):
            if inside:
                block.append(st)
        else:
            block.append(st)
    if not found:
        raise ValueError(f"mot has no command '{entry}'")
    todo = list(block)
    while todo:  # helpers named by what is kept, and by those helpers
        for n in ast.walk(todo.pop()):
            if isinstance(n, ast.Name) and n.id in helpers:
                block.append(helper := helpers.pop(n.id))
                todo.append(helper)
    return roots + [("cli", s) for s in block]


def _implicit(ix: Index, entry: str) -> list:
    """What a command reads without an argument naming it, listed by a function that
    mot.placement.IMPLICIT names by a string ("mot.rehearsal:data_files"): that function is the
    command's code (the string is no name this index follows)."""
    found = []
    for st in ix.defs.get("placement", {}).get("IMPLICIT", []):
        table = ast.literal_eval(st.value) if isinstance(st, ast.Assign) else {}
        if entry in table:
            mod, name = table[entry].removeprefix(f"{PKG}.").split(":")
            found += [(mod, s) for s in ix.defs.get(mod, {}).get(name, [])]
    return found


def _on_subparser(st: ast.stmt) -> bool:
    """A statement of a command's block in cli.parser: one on that command's subparser `sp` (a loop
    over every subparser, `for sp in ...`, is every command's)."""
    if isinstance(st, ast.For):
        return False
    return any(isinstance(n, ast.Name) and n.id == "sp" for n in ast.walk(st))


def _reach(ix: Index, roots: list, only: tuple[str, ...] | None = None) -> list:
    """Every statement reachable from roots [(module, statement)]; `only`: of the teacher backends'
    registries (SELECTABLE), only the entries filed under these names."""
    seen, seen_mods, stmts, todo = set(), set(), [], list(roots)
    skip = set() if only is None else {id(st) for registry in SELECTABLE for _, st in ix.registrations.get(registry, [])
                                       if ix.keys.get(id(st)) not in only}
    while todo:
        m, st = todo.pop()
        if (m, id(st)) in seen:
            continue
        seen.add((m, id(st)))
        stmts.append((m, st))
        for rm, rn in ix.refs(m, st):
            if rm not in seen_mods:  # the import-time code of every module the command touches
                seen_mods.add(rm)
                todo += [(rm, s) for s in ix.side[rm] if id(s) not in skip]  # but the entries not selected
            todo += [(rm, s) for s in ix.defs[rm].get(rn, [])]
            for r in ix.registrations.get((rm, rn), []):
                if id(r[1]) not in skip:
                    todo.append(r)
                elif r[0] not in seen_mods:  # a backend not selected: its module is still imported (to
                    seen_mods.add(r[0])  # file its entries), so its import-time code runs
                    todo += [(r[0], s) for s in ix.side[r[0]] if id(s) not in skip]
    return stmts


@functools.lru_cache(maxsize=None)
def _index(src: str) -> Index:
    return Index(src)


@functools.lru_cache(maxsize=None)
def definitions(src: str, entry: str) -> tuple[tuple[str, str], ...]:
    """The (name, digest) of every definition `entry` reaches, sorted (what `version` hashes)."""
    ix = _index(src)
    entry, only = _selection(entry)
    roots = _entry(ix, entry) + _implicit(ix, entry)
    # main's call of parser() parses every command's arguments: the command's own block stands for it
    saved = ix.defs["cli"].pop("parser")
    try:
        stmts = _reach(ix, roots, only)
    finally:
        ix.defs["cli"]["parser"] = saved
    return tuple(sorted({ix.digest(m, st) for m, st in stmts}))


# The registries whose entries a job runs one of, named in its entry (`evaluate[hf]`, `merge[uniform]`):
# the teacher backends, what scores a prompt on one (mot.thinking), and the merge methods. A job that
# names any runs only the entries it names of each (`rounds[uniform]` runs no teacher backend).
SELECTABLE = (("backends", "BACKENDS"), ("thinking", "SCORERS"), ("methods", "METHODS"))


def _selection(entry: str) -> tuple[str, tuple[str, ...] | None]:
    """`evaluate[hf]`: the command `evaluate` with only the entries `hf` of the registries a job
    selects from (SELECTABLE: a job that runs one backend, or one merge method: an edit of another's
    code is no edit of its code); `evaluate`: with every entry."""
    if not entry.endswith("]"):
        return entry, None
    name, names = entry[:-1].split("[", 1)
    return name, tuple(sorted(filter(None, names.split(","))))


def _startup(src: str) -> list[tuple[str, str]]:
    """mot/startup/*.py (its sitecustomize): run at the start of every Python process that a mot process
    starts (mot/__init__.py puts it on PYTHONPATH), so part of every command's code; by its AST without
    docstrings, as the definitions are."""
    d = os.path.join(src, PKG, "startup")
    out = []
    for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        if f.endswith(".py"):
            with open(os.path.join(d, f), encoding="utf-8") as fh:
                body = [st for st in ast.parse(fh.read()).body if not is_doc(st)]
            out.append((f"startup/{f}", hashlib.sha256(ast.dump(ast.Module(body, [])).encode()).hexdigest()[:16]))
    return out


def _version(src: str, entry: str) -> str:
    parts = [*definitions(src, entry), *_startup(src)]
    return hashlib.sha256("\n".join(f"{a} {b}" for a, b in parts).encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=None)
def _sources_key(src: str) -> str:
    """A hash of the package's source text: the disk cache's key."""
    h = hashlib.sha256()
    d = os.path.join(src, PKG)
    for f in [*sorted(os.listdir(d)), *(f"startup/{s}" for s in sorted(os.listdir(os.path.join(d, "startup")))
                                       if os.path.isdir(os.path.join(d, "startup")))]:
        if f.endswith(".py"):
            with open(os.path.join(d, f), "rb") as fh:
                h.update(f.encode() + b"\0" + fh.read() + b"\0")
    return h.hexdigest()[:16]


def version(src: str, *entries: str) -> str:
    """The code version of a rule whose job runs `entries` (mot commands, or `mot.<module>` mains).
    Cached on disk by the package's source text (in its __pycache__): every Snakemake process (a
    SLURM job's included) would otherwise parse the package again, about a second."""
    import json

    cache = os.path.join(src, PKG, "__pycache__", f"mot-code-versions-{_sources_key(src)}.json")
    try:
        with open(cache, encoding="utf-8") as fh:
            known = json.load(fh)
    except (OSError, ValueError):
        known = {}
    missing = [e for e in entries if e not in known]
    if missing:
        known.update({e: _version(src, e) for e in missing})
        try:  # written whole or not at all; a read-only checkout just computes it each time
            os.makedirs(os.path.dirname(cache), exist_ok=True)
            tmp = f"{cache}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(known, fh, sort_keys=True)
            os.replace(tmp, cache)
        except OSError:
            pass
    h = hashlib.sha256()
    for entry in sorted(entries):
        h.update(f"{entry} {known[entry]}\n".encode())
    return h.hexdigest()[:16]
