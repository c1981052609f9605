"""Run every notebook of a profile with papermill, then build the book.

    python -m occupancy_utils.book run --profile quick     # execute notebooks
    python -m occupancy_utils.book build --profile quick   # execute, stage, jupyter-book

Executed notebooks go to ``_build/executed/<profile>/``; a notebook is run
again only when its source, its parameters, the package code it reaches
through its imports, the data or the results files of the chapters it reads
(:data:`READS_RESULTS`) changed: the execution cache. Chapters that read none of
each other's results may run side by side (``CHAPTER_JOBS``, :mod:`.schedule`). A
failing notebook stops the run with a one-line message (chapters already running
finish); the partly executed notebook is kept in ``_build/reports/`` to read.

The book is built from a staged copy of the sources (``_build/src``) in which
``notebooks/`` holds the executed notebooks, so committed notebooks stay free
of outputs while the built pages show every output. Jupyter Book runs with
``-W -n --keep-going``: a warning or a broken reference fails the build.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat

from .paths import DATA_FILE, ROOT, results_dir
from .profiles import PROFILES, notebook_parameters, record_execution

NOTEBOOKS = ROOT / "notebooks"
BUILD = Path(os.environ.get("OCCUPANCY_BUILD_DIR", ROOT / "_build"))
KERNEL = os.environ.get("OCCUPANCY_KERNEL", "occupancy")
STAGED = ("_config.yml", "_toc.yml", "book", "references.bib")
CACHE_KEY = "occupancy_cache_key"
#: The entry of results/<profile>/executed.json for the notebooks of a whole build, from
#: the first start to the last finish: with chapters side by side, less than their sum.
#: (Here, not in ``profiles``, which every notebook imports: its cache key stays.)
BUILD_WALL = "(all notebooks of the build)"


def notebook_paths() -> list[Path]:
    """The chapters' notebooks (``notebooks/NN_*.ipynb``) in reading order."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def _digest_tree(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(str(p.relative_to(ROOT)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _module_file(name: str, package_dir: Path) -> Path | None:
    """The file of a dotted module name inside the package, if it is one."""
    parts = name.split(".")[1:]
    base = package_dir.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported(tree: ast.AST, module: str, is_package: bool, package: str) -> set[str]:
    """Dotted names of the package's modules an AST imports (at any depth of the code),
    including ``from X import name`` where ``name`` may be a submodule."""
    out: set[str] = set()
    here = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == package}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != package:
                continue
            out.add(target)
            out |= {f"{target}.{a.name}" for a in node.names}
    return out


def reached_modules(sources: list[str], package_dir: Path) -> list[Path]:
    """The package's files that code importing as ``sources`` does can run: the modules
    it imports, the modules those import, and so on, with every package ``__init__``."""
    package = package_dir.name
    todo = set().union(*(_imported(ast.parse(s), "__main__", False, package) for s in sources))
    todo.add(package)
    seen: dict[str, Path] = {}
    while todo:
        name = todo.pop()
        path = _module_file(name, package_dir)
        if path is None or name in seen:
            continue
        seen[name] = path
        parent = name.rsplit(".", 1)[0]
        if parent != name:
            todo.add(parent)
        todo |= _imported(ast.parse(path.read_text()), name, path.name == "__init__.py",
                          package) - set(seen)
    return sorted(set(seen.values()))


def _code_cells(notebook: Path) -> list[str]:
    nb = nbformat.read(notebook, as_version=4)
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(line for line in cell.source.splitlines()
                           if not line.lstrip().startswith(("%", "!")))  # IPython magics
        try:
            ast.parse(source)
        except SyntaxError:
            continue
        out.append(source)
    return out


#: The chapters whose results files a chapter reads (``comparison.MODEL_CHAPTERS`` for
#: chapter 7; tests keep this equal to it and to the notebooks' own reads). Their files
#: are part of its cache key, and it starts only after they have run.
READS_RESULTS: dict[str, tuple[str, ...]] = {
    "03_time_series_splits": ("02_feature_dropping",),
    "07_comparison": ("02_feature_dropping", "04_crf", "05_bnn", "06_lstm")}


def _results_digest(notebook: Path, profile: str) -> str:
    """Digest of the results files ``notebook`` reads in ``profile`` (a missing one counts)."""
    h = hashlib.sha256()
    for chapter in READS_RESULTS.get(notebook.stem, ()):
        for name in (f"{chapter}.json", f"{chapter}_predictions.csv"):
            path = results_dir(profile) / name
            h.update(name.encode())
            h.update(path.read_bytes() if path.is_file() else b"missing")
    return h.hexdigest()


def cache_key(notebook: Path, parameters: dict, profile: str | None = None) -> str:
    """Changes when anything that can change the notebook's outputs changes.

    Of the package, only the modules the notebook's code reaches through its
    imports count (:func:`reached_modules`), and the package's data files: an
    edit to chapter 7's comparison code does not run chapters 1-6 again. With
    ``profile``, so do the results files of earlier chapters it reads
    (:data:`READS_RESULTS`): chapter 7 runs again after chapter 4 ran alone.
    """
    package_dir = ROOT / "occupancy_utils"
    package = reached_modules(_code_cells(notebook), package_dir) + sorted(
        package_dir.rglob("*.yaml"))
    h = hashlib.sha256()
    h.update(notebook.read_bytes())
    h.update(json.dumps(parameters, sort_keys=True, default=str).encode())
    h.update(_digest_tree(package).encode())
    h.update(DATA_FILE.read_bytes() if DATA_FILE.is_file() else b"no data")
    if profile is not None:
        h.update(_results_digest(notebook, profile).encode())
    return h.hexdigest()


def _show_effective_parameters(path: Path, key: str, profile: str) -> None:
    """Hide papermill's injected cell and show its values in the ``parameters`` cell.

    The page then shows the values this build used (from params/<profile>.yaml),
    not the notebook's defaults, in the place a reader looks for them.
    """
    nb = nbformat.read(path, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    declared = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if injected:
        cell = injected[0]
        cell.metadata.setdefault("tags", []).append("remove-cell")
        if declared:
            body = "\n".join(line for line in cell.source.splitlines()
                             if not line.startswith("# Parameters"))
            declared[0].source = (f"# Parameters of this build (params/{profile}.yaml)\n"
                                  + body.strip())
    nb.metadata[CACHE_KEY] = key
    nbformat.write(nb, path)


def execute(profile: str, only: list[str] | None = None, force: bool = False) -> list[Path]:
    """Execute the profile's notebooks; return the executed paths, in book order.

    A chapter starts once the chapters whose results it reads (:data:`READS_RESULTS`)
    have finished; up to ``schedule.chapter_jobs(profile)`` chapters run at once.
    """
    from .schedule import chapter_jobs, run_graph
    from .search import default_workers, usable_cores

    workers = default_workers(profile)  # a bad WORKERS fails here, before any notebook runs
    jobs = chapter_jobs(profile)  # and a bad CHAPTER_JOBS
    print(f"[book] searches: {workers} worker process(es) on {usable_cores()} usable core(s), "
          f"{max(1, usable_cores() // workers)} torch thread(s) each; "
          f"{jobs} chapter(s) at once (WORKERS and CHAPTER_JOBS override; see "
          "benchmarks/README.md)", flush=True)
    out_dir = BUILD / "executed" / profile
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {p.stem: p for p in notebook_paths() if not only or p.stem in only}
    done: dict[str, Path] = {}
    record = threading.Lock()  # chapters side by side share results/<profile>/executed.json

    def run_one(stem: str) -> None:
        done[stem] = _execute_one(paths[stem], profile, out_dir, force, record)

    start = time.time()
    run_graph(list(paths), READS_RESULTS, run_one, jobs)
    wall = time.time() - start
    if len(paths) == len(notebook_paths()):  # a whole build: bench reads its wall time
        record_execution(profile, BUILD_WALL, wall)
    print(f"[book] notebooks: {wall:.0f} s wall, up to {jobs} chapter(s) at once", flush=True)
    return [done[stem] for stem in paths]


def _execute_one(nb_path: Path, profile: str, out_dir: Path, force: bool,
                 record: threading.Lock) -> Path:
    """Execute one notebook unless its cached run has the same key; return its path.

    The key is computed when the notebook starts, after the chapters it reads have
    finished, so it covers the results files they wrote in this build.
    """
    import papermill as pm

    stem = nb_path.stem
    params = notebook_parameters(profile, stem)
    key = cache_key(nb_path, params, profile)
    target = out_dir / nb_path.name
    if (not force and target.is_file()
            and nbformat.read(target, as_version=4).metadata.get(CACHE_KEY) == key):
        print(f"[book] {stem}: unchanged, cached", flush=True)
        with record:
            record_execution(profile, stem, None)  # this build's profile, the cached time
        return target
    print(f"[book] {stem}: running ({profile} profile)", flush=True)
    tmp = out_dir / f".{nb_path.stem}.running.ipynb"  # papermill wants .ipynb
    start = time.time()
    try:
        # the kernel's stderr (the searches' progress bars: configurations left,
        # estimated time) streams to this terminal while the notebook runs
        pm.execute_notebook(str(nb_path), str(tmp), parameters=params, kernel_name=KERNEL,
                            cwd=str(NOTEBOOKS), progress_bar=False, log_output=False,
                            stderr_file=sys.stderr)
    except pm.PapermillExecutionError as exc:
        reports = BUILD / "reports"
        reports.mkdir(parents=True, exist_ok=True)
        report = reports / nb_path.name
        shutil.move(tmp, report)
        message = f"{exc.ename}: {exc.evalue}".splitlines()[0]
        raise SystemExit(f"[book] {stem} failed in cell {exc.exec_count}: {message} "
                         f"(executed notebook kept in {report})") from None
    _show_effective_parameters(tmp, key, profile)
    os.replace(tmp, target)
    seconds = time.time() - start
    with record:
        record_execution(profile, stem, seconds)  # a notebook opened later picks this profile
    print(f"[book] {stem}: done in {seconds:.0f} s", flush=True)
    return target


def stage(profile: str) -> Path:
    """Copy book sources and executed notebooks into _build/src."""
    src = BUILD / "src"
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    for name in STAGED:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name)
        elif path.is_file():
            shutil.copy2(path, src / name)
    (src / "notebooks").mkdir()
    executed = BUILD / "executed" / profile
    for nb in notebook_paths():
        # A notebook not executed in this build (see --only) appears without outputs.
        done = executed / nb.name
        shutil.copy2(done if done.is_file() else nb, src / "notebooks" / nb.name)
    static = src / "book" / "_static"
    static.mkdir(parents=True, exist_ok=True)
    _copy_plotly_js(static)
    _copy_mathjax(static)
    # Files the notebooks publish beside the pages (profiling report, CSV tables).
    site = results_dir(profile) / "site"
    extra = src / "book" / "_extra"
    extra.mkdir(parents=True, exist_ok=True)
    if site.is_dir():
        shutil.copytree(site, extra, dirs_exist_ok=True)
    return src


def _copy_plotly_js(static: Path) -> None:
    """plotly.js once, as a static file, instead of 4.8 MB inside every page."""
    import plotly

    bundle = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    shutil.copy2(bundle, static / "plotly.min.js")


def _copy_mathjax(static: Path) -> None:
    """MathJax from the npm package that `make setup` unpacks, so formulas render offline."""
    vendored = ROOT / ".venv" / "share" / "mathjax"
    if not (vendored / "tex-chtml.js").is_file():
        raise SystemExit("[book] MathJax is missing (.venv/share/mathjax); run `make setup`, "
                         "which unpacks the npm package `mathjax` (needs npm)")
    shutil.copytree(vendored, static / "mathjax", dirs_exist_ok=True)


def build(profile: str, only: list[str] | None = None) -> Path:
    """Execute, stage and build the book with ``-W -n``; returns the HTML folder.

    Any warning fails the build (SystemExit naming where to look), as the book
    build is the project's integration test.
    """
    if BUILD.name != "_build":
        raise SystemExit(f"[book] OCCUPANCY_BUILD_DIR must end in '_build', got {BUILD}")
    execute(profile, only)
    src = stage(profile)
    html = BUILD / "html"
    if html.exists():
        shutil.rmtree(html)
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(src),
           "--path-output", str(BUILD.parent), "-W", "-n", "--keep-going"]
    print("[book] " + " ".join(cmd), flush=True)
    result = subprocess.run(cmd, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"[book] jupyter-book build failed (exit {result.returncode}); "
                         "the warnings above say where")
    print(f"[book] built {html}/index.html", flush=True)
    return html


def main(argv: list[str] | None = None) -> int:
    """The command line (``run`` or ``build``); returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m occupancy_utils.book")
    parser.add_argument("command", choices=["run", "build"])
    parser.add_argument("--profile", default="full", choices=PROFILES)
    parser.add_argument("--only", nargs="*", help="notebook stems to execute (others appear "
                        "without outputs in a build)")
    parser.add_argument("--force", action="store_true", help="ignore the execution cache")
    args = parser.parse_args(argv)
    if args.command == "run":
        execute(args.profile, args.only, args.force)
    else:
        build(args.profile, args.only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
