"""What a stored search is keyed by: the code it runs, the libraries, the device, a schema.

A stored search is reused only while everything that computed it is the same,
and nothing else should throw it away. The key therefore holds:

- ``code``: a digest of every function and class of the package that the
  objective reaches (followed through the names its code uses, and through the
  classes and functions a module-level dict or list holds), each parsed and
  dumped with docstrings removed, so comments, docstrings, tables and figures
  can change freely while an edit to training code starts a new search;
- ``bound``: the arguments bound to the objective (``functools.partial``);
- ``libraries``: the versions of the libraries that compute (:data:`LIBRARIES`);
- ``device``: ``cpu`` or ``cuda`` (results differ in the last digits), and the
  Python version (the digests are of its syntax trees);
- ``schema``: a family's explicit version of what its records hold;
- the search's ``grid`` and ``settings``.

:func:`describe_change` says which of these differ between two keys.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import json
import os
import platform
import textwrap
import types
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any

PACKAGE = "occupancy_utils"
#: Distributions whose version can change what a search computes.
LIBRARIES = ("numpy", "pandas", "scikit-learn", "scipy", "torch", "pytorch-crf", "torchbnn")
_PLAIN = (bool, int, float, str, type(None))
#: Bound arguments that change how fast a search runs, not what it computes: left
#: out, so that a search stored by `make book WORKERS=2` is found again from JupyterLab.
SPEED_ONLY = frozenset({"threads"})


def _in_package(obj: Any) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return module == PACKAGE or module.startswith(PACKAGE + ".")


def _plain(value: Any) -> Any:
    """``value`` as JSON-able data if it is plain data (numbers, strings, containers); else None."""
    if isinstance(value, _PLAIN):
        return value
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        return value.item()  # numpy scalar
    if isinstance(value, list | tuple | frozenset | set):
        items = [_plain(v) for v in value]
        if any(i is None and v is not None for i, v in zip(items, value, strict=True)):
            return None
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if isinstance(value, Mapping):
        out = {str(k): _plain(v) for k, v in value.items()}
        return None if any(o is None and value[k] is not None
                           for k, o in zip(value, out.values(), strict=True)) else out
    return None


def _names(code: types.CodeType) -> set[str]:
    """Every global or attribute name a code object (and the code nested in it) uses."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                node.body = body[1:] or [ast.Pass()]
    return tree


def source_digest(obj: Callable[..., Any] | type) -> str:
    """Digest of a function's or class's code, blind to docstrings, comments and layout.

    Code without a source file (made by ``exec``, as dataclasses make their
    ``__init__``) is digested from its bytecode instead.
    """
    try:
        source = inspect.getsource(obj)
    except (OSError, TypeError):
        return hashlib.sha256(_fingerprint(obj.__code__).encode()).hexdigest()[:12]
    tree = _strip_docstrings(ast.parse(textwrap.dedent(source)))
    defined = getattr(tree.body[0], "name", None) if tree.body else None
    if obj.__name__.isidentifier() and defined != obj.__name__:  # not for a lambda
        # inspect reads the file as it is now at the line numbers of the import: a file
        # edited since would key this code on its neighbour's source
        raise RuntimeError(f"the source of {_qualname(obj)} changed since it was imported "
                           "(its file was edited); restart the kernel or process")
    dumped = ast.dump(tree, annotate_fields=False, include_attributes=False)
    return hashlib.sha256(dumped.encode()).hexdigest()[:12]


def _value_digest(value: Any) -> str | None:
    """Digest of a constant: plain data as JSON, else its repr when that shows no address.

    A compiled pattern or a dtype prints what it is; an object whose repr is
    its memory address says nothing stable, and a path says where the checkout
    lies, not what is computed: both are left out (None).
    """
    if isinstance(value, os.PathLike):
        return None
    data = _plain(value)
    if data is not None or value is None:
        text = json.dumps(data, sort_keys=True)
    else:
        text = repr(value)
        if " at 0x" in text or " object at " in text:
            return None
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _fingerprint(code: types.CodeType) -> str:
    """What a code object does, without line numbers: bytecode, names and constants."""
    consts = [_fingerprint(c) if isinstance(c, types.CodeType) else repr(c)
              for c in code.co_consts]
    return repr((code.co_code, code.co_names, code.co_varnames, consts))


def _has_source(func: Any) -> bool:
    try:
        inspect.getsourcefile(func)
        inspect.getsourcelines(func)
    except (OSError, TypeError):
        return False
    return True


def _qualname(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def code_digests(objective: Callable[..., Any]) -> dict[str, str]:
    """Digest per function, class and module constant of the package the objective reaches.

    Starts from the objective (unwrapping ``functools.partial``) and follows the
    names its code uses into the package: functions, classes (all their
    methods), modules (the attributes used on them) and plain module constants,
    whose values are digested. Library code is covered by :data:`LIBRARIES`.
    """
    digests: dict[str, str] = {}
    seen: set[int] = set()
    top = objective
    stack: list[Any] = []
    while isinstance(top, functools.partial):
        stack += [v for v in [*top.args, *top.keywords.values()] if callable(v)]
        top = top.func
    stack.append(top)  # popped first: the objective counts even outside the package
    while stack:
        obj = stack.pop()
        if isinstance(obj, functools.partial):
            stack += [v for v in [*obj.args, *obj.keywords.values()] if callable(v)]
            stack.append(obj.func)
            continue
        if inspect.ismethod(obj):
            obj = obj.__func__
        obj = inspect.unwrap(obj)  # functools.cache and other wrappers: the code inside
        if id(obj) in seen or not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        seen.add(id(obj))
        if obj is not top and not _in_package(obj):
            continue
        digest = source_digest(obj)
        if inspect.isfunction(obj):  # default values, which may come from module constants
            defaults = [*(obj.__defaults__ or ()), *(obj.__kwdefaults__ or {}).values()]
            digest += "".join(_value_digest(d) or "-" for d in defaults if not callable(d))
        digests[_qualname(obj)] = digest
        if inspect.isclass(obj):
            stack += [b for b in obj.__mro__[1:] if _in_package(b)]
            for member in vars(obj).values():
                if isinstance(member, staticmethod | classmethod):
                    member = member.__func__
                if isinstance(member, property):
                    stack += [f for f in (member.fget, member.fset) if f]
                elif inspect.isfunction(member) and _has_source(member):
                    stack.append(member)  # not the methods a dataclass writes from fields
            continue
        names = _names(obj.__code__)
        stack += [d for d in [*(obj.__defaults__ or ()), *(obj.__kwdefaults__ or {}).values()]
                  if callable(d)]
        scopes, scanned = [obj.__globals__], set()
        while scopes:
            scope = scopes.pop()
            for name in sorted(n for n in names & set(scope) if not n.startswith("__")):
                value = scope[name]
                if isinstance(value, types.ModuleType):
                    if value.__name__.startswith(PACKAGE) and id(value) not in scanned:
                        scanned.add(id(value))
                        scopes.append(vars(value))
                elif inspect.isfunction(value) or inspect.isclass(value):
                    stack.append(value)
                elif isinstance(value, functools.partial) or hasattr(value, "__wrapped__"):
                    stack.append(value)
                    if isinstance(value, functools.partial):  # its bound values count
                        bound = [*value.args, *value.keywords.values()]
                        if scope.get("__name__", "").startswith(PACKAGE):
                            digests[f"{scope['__name__']}.{name}"] = "".join(
                                _value_digest(b) or "-" for b in bound if not callable(b))
                elif scope.get("__name__", "").startswith(PACKAGE):
                    digest = _value_digest(value)
                    if digest:
                        digests[f"{scope['__name__']}.{name}"] = digest
                    # a registry (a dict or list of classes or functions): their code counts
                    stack += _callables_in(value)
    return dict(sorted(digests.items()))


def _callables_in(value: Any) -> list[Any]:
    """The functions, classes and partials held in a container constant, at any depth
    (``networks.NETWORKS`` maps names to classes; the code runs through them)."""
    if isinstance(value, Mapping):
        items = list(value.values())
    elif isinstance(value, list | tuple | set | frozenset):
        items = list(value)
    else:
        return []
    out: list[Any] = []
    for item in items:
        if inspect.isfunction(item) or inspect.isclass(item) or isinstance(item,
                                                                           functools.partial):
            out.append(item)
        else:
            out += _callables_in(item)
    return out


def library_versions() -> dict[str, str]:
    """Installed versions of :data:`LIBRARIES` (``missing`` for one not installed)."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "missing"
    return versions


def search_key(objective: Callable[..., Any], *, grid: Mapping[str, Any],
               settings: Mapping[str, Any], schema: int, device: str) -> dict[str, Any]:
    """The full key of a search, as stored with it (see the module's docstring)."""
    if isinstance(schema, bool) or not isinstance(schema, int) or schema < 1:
        raise ValueError(f"schema must be a positive integer, got {schema!r}")
    bound: dict[str, Any] = {}
    func = objective
    while isinstance(func, functools.partial):
        bound = {**{f"arg{i}": a for i, a in enumerate(func.args)}, **func.keywords, **bound}
        func = func.func
    return {"grid": _jsonable(grid), "settings": _jsonable(settings), "schema": schema,
            "bound": _jsonable({k: v for k, v in bound.items()
                                if not callable(v) and k not in SPEED_ONLY}),
            "code": code_digests(objective), "libraries": library_versions(),
            "device": device, "python": platform.python_version()}


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def key_digest(key: Mapping[str, Any]) -> str:
    """A short digest of a key, used in the stored search's name."""
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]


def describe_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """Which parts of a search's key differ, in a few words (``""`` when none does)."""
    parts = []
    for field in ("grid", "settings", "bound", "schema", "device", "python"):
        if old.get(field) != new.get(field):
            parts.append(f"{field} {_short(old.get(field))} -> {_short(new.get(field))}")
    libs_old, libs_new = old.get("libraries", {}), new.get("libraries", {})
    parts += [f"{lib} {libs_old.get(lib)} -> {libs_new.get(lib)}"
              for lib in sorted(set(libs_old) | set(libs_new))
              if libs_old.get(lib) != libs_new.get(lib)]
    code_old, code_new = old.get("code", {}), new.get("code", {})
    changed = sorted(n for n in set(code_old) | set(code_new)
                     if code_old.get(n) != code_new.get(n))
    if changed:
        shown = ", ".join(n.removeprefix(PACKAGE + ".") for n in changed[:4])
        more = f" and {len(changed) - 4} more" if len(changed) > 4 else ""
        parts.append(f"code of {shown}{more}")
    return "; ".join(parts)


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."
