"""Which package files a rule runs: the import closure of its adapter script.

Snakemake compares a rule's own code but not the modules it imports, so every rule declares
the package files its script imports, directly or through other modules, as inputs: an edit
then reruns exactly the rules that run the edited file.  The table is read from the source
with :mod:`ast` while the workflow plans (nothing is imported, so planning needs no torch);
:mod:`modulefinder` would follow every third-party package too.  Imports inside functions
count (the rule may call them), and importing a module runs its packages' ``__init__``.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path

PACKAGE = "motorflow"


def _file_of(module: str, src: Path) -> Path | None:
    """The source file of a dotted module name under ``src``, or None if it is no module."""
    base = src.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _module_of(path: Path, src: Path) -> str:
    parts = path.relative_to(src).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _ours(name: str) -> bool:
    return name == PACKAGE or name.startswith(f"{PACKAGE}.")


@functools.cache
def direct_imports(path: Path, src: Path) -> frozenset[str]:
    """The package's modules that one file imports (any import statement, at any depth)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = _module_of(path, src) if path.is_relative_to(src) else ""
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if _ours(alias.name))
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the file's own package upwards
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            if not _ours(base):
                continue
            found.add(base)
            # `from motorflow import clean` imports the module motorflow.clean.
            found.update(
                f"{base}.{alias.name}"
                for alias in node.names
                if _file_of(f"{base}.{alias.name}", src) is not None
            )
    return frozenset(found)


def closure(path: str | Path, src: str | Path = "src") -> list[str]:
    """Every package file that running ``path`` (a script or module file) may import, as
    sorted paths in the form they were given (relative to the working directory)."""
    path, src = Path(path), Path(src)
    files: set[Path] = set()
    todo = [path]

    def add(module: str) -> None:
        # Importing a.b.c runs a/__init__.py and a/b/__init__.py first.
        parts = module.split(".")
        for k in range(1, len(parts) + 1):
            file = _file_of(".".join(parts[:k]), src)
            if file is not None and file not in files:
                files.add(file)
                todo.append(file)

    if path.is_relative_to(src):  # a module of the package: its packages run first
        add(_module_of(path, src))
    while todo:
        for module in direct_imports(todo.pop(), src):
            add(module)
    files.discard(path)
    return sorted(str(f) for f in files)


def script_table(
    scripts: str | Path, src: str | Path = "src", cache: str | Path | None = None
) -> dict[str, list[str]]:
    """{adapter name: [the adapter, *the package files it runs]} for every adapter script.

    With ``cache`` (a JSON file) the table is reused while no ``.py`` file under ``scripts``
    or ``src`` changed (a sha256 over their paths and contents): parsing the package takes
    about a second, and every Snakemake start pays it (planning, and two starts per cluster
    job).  Any edit, addition or removal of a file recomputes the whole table."""
    scripts, src = Path(scripts), Path(src)
    files = sorted([*scripts.glob("*.py"), *src.rglob("*.py")])
    digest = hashlib.sha256()
    for file in files:
        digest.update(f"{file}\0".encode() + file.read_bytes() + b"\0")
    key = digest.hexdigest()
    if cache is not None:
        try:
            stored = json.loads(Path(cache).read_text())
            if stored.get("key") == key:
                return stored["table"]
        except (OSError, ValueError, AttributeError):
            pass  # absent or unreadable: recompute
    direct_imports.cache_clear()  # files read earlier in this process may have changed
    table = {
        script.stem: [str(script), *closure(script, src)] for script in sorted(scripts.glob("*.py"))
    }
    if cache is not None:
        _write_atomically(Path(cache), json.dumps({"key": key, "table": table}))
    return table


def _write_atomically(path: Path, text: str) -> None:
    # Cluster jobs start side by side: a reader sees the old file or the new one, never half.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
