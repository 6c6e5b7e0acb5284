"""The conda environment files agree with requirements.lock, and every rule's env exists.

requirements.lock is the pip freeze of the environment the tests run in; envs/*.yaml is what
`snakemake --sdm conda` builds on a cluster.  The checks are functions of paths, so the tests
feed them drifted copies and assert the drift is reported.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
ENVS = ROOT / "envs"
ENV_FILES = sorted(ENVS.glob("*.yaml")) + sorted(ENVS.glob("*.yml"))

TORCH = Version("2.13.0")
NUMPY_BELOW = Version("2")
PYARROW_BELOW = Version("26")
# Distributions that each ship a `cv2` module (conda and PyPI names): at most one may exist.
OPENCV = {
    "opencv", "py-opencv", "libopencv",
    "opencv-python", "opencv-python-headless",
    "opencv-contrib-python", "opencv-contrib-python-headless",
}
# conda-forge package → the PyPI distribution whose version it carries.
CONDA_TO_PYPI = {"matplotlib-base": "matplotlib", "pytorch": "torch", "pytorch-cpu": "torch"}
CONDA_UNLOCKED = {"python", "pip"}  # not in a pip freeze; python is checked on its own
# What the workflow's single environment must provide.
REQUIRED = {
    "numpy", "pandas", "pyarrow", "scipy", "scikit-learn", "matplotlib", "av", "pyyaml",
    "jsonschema", "protobuf", "torch", "mediapipe", "opencv-contrib-python", "snakemake",
    "dvc", "mlflow",
}
# A `conda:` directive followed by a quoted path on the next line (the project's rule style).
CONDA_DIRECTIVE = re.compile(r"^\s*conda:", re.MULTILINE)
CONDA_PATH = re.compile(r"^\s*conda:\s*\n\s*[\"']([^\"']+)[\"']", re.MULTILINE)


def normalise(name: str) -> str:
    """PEP 503 name: lowercase, runs of `-`, `_`, `.` → `-`."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Pin:
    name: str  # normalised PyPI name
    version: str | None  # None: not pinned to one exact version
    source: str  # "conda" | "pip"
    spec: str  # as written


def read_lock(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        name, sep, version = line.partition("==")
        assert sep, f"{path}: not a `name==version` line: {line!r}"
        pins[normalise(name)] = version.strip()
    return pins


def _conda_pin(spec: str) -> Pin:
    s = spec.split("::", 1)[-1].strip()  # drop a channel prefix
    m = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(?:(==|=|\s)\s*([^\s=*<>!,|]+)(?:[=\s]\S+)?)?", s)
    if m is None:  # ranges, wildcards, alternatives: not an exact pin
        name = re.match(r"[A-Za-z0-9_.\-]+", s)
        return Pin(normalise(name.group(0) if name else s), None, "conda", spec)
    name = normalise(m.group(1))
    return Pin(CONDA_TO_PYPI.get(name, name), m.group(3), "conda", spec)


def _pip_pin(spec: str) -> Pin:
    try:
        req = Requirement(spec)
    except InvalidRequirement:
        return Pin(normalise(spec), None, "pip", spec)
    specs = list(req.specifier)
    exact = len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version
    return Pin(normalise(req.name), specs[0].version if exact else None, "pip", spec)


def read_env(path: Path) -> tuple[list[Pin], list[str]]:
    """(pins, pip option lines) of a conda environment file."""
    doc = yaml.safe_load(path.read_text())
    pins: list[Pin] = []
    options: list[str] = []
    for dep in doc.get("dependencies") or []:
        if isinstance(dep, dict):
            for spec in dep.get("pip") or []:
                spec = str(spec).strip()
                if spec.startswith("-"):
                    options.append(spec)
                else:
                    pins.append(_pip_pin(spec))
        else:
            pins.append(_conda_pin(str(dep)))
    return pins, options


def _version_rules(pins: dict[str, str], where: str) -> list[str]:
    problems = []
    if "torch" in pins and Version(pins["torch"]) != TORCH:
        problems.append(f"{where}: torch {pins['torch']}, must be {TORCH}")
    if "numpy" in pins and Version(pins["numpy"]) >= NUMPY_BELOW:
        problems.append(f"{where}: numpy {pins['numpy']}, must be < {NUMPY_BELOW}")
    if "pyarrow" in pins and Version(pins["pyarrow"]) >= PYARROW_BELOW:
        problems.append(f"{where}: pyarrow {pins['pyarrow']}, must be < {PYARROW_BELOW}")
    return problems


def check_lock(lock_path: Path) -> list[str]:
    lock = read_lock(lock_path)
    problems = _version_rules(lock, lock_path.name)
    if "torch" not in lock:
        problems.append(f"{lock_path.name}: torch is not locked")
    cv = sorted(OPENCV & lock.keys())
    if len(cv) != 1:
        problems.append(f"{lock_path.name}: {len(cv)} OpenCV distributions {cv}, need exactly 1")
    return problems


def _same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def check_env(env_path: Path, lock_path: Path, python: str | None = None) -> list[str]:
    """Every way ``env_path`` disagrees with ``lock_path`` or the project's rules."""
    lock = read_lock(lock_path)
    pins, options = read_env(env_path)
    where = env_path.name
    problems: list[str] = []
    seen: dict[str, Pin] = {}
    for pin in pins:
        if pin.name in seen:
            problems.append(f"{where}: {pin.name} listed twice ({seen[pin.name].spec!r}, "
                            f"{pin.spec!r})")
        seen[pin.name] = pin
        if pin.name == "pip" and pin.source == "conda":
            continue
        if pin.version is None:
            problems.append(f"{where}: {pin.spec!r} ({pin.source}) is not pinned to one version")
        elif pin.name == "python":
            if python is not None and not (pin.version == python
                                           or pin.version.startswith(python + ".")):
                problems.append(f"{where}: python {pin.version}, project needs {python}")
        elif pin.name not in lock:
            problems.append(f"{where}: {pin.name}=={pin.version} ({pin.source}) is not in "
                            f"{lock_path.name}")
        elif not _same_version(pin.version, lock[pin.name]):
            problems.append(f"{where}: {pin.name} {pin.version} ({pin.source}) but "
                            f"{lock_path.name} has {lock[pin.name]}")
    exact = {p.name: p.version for p in pins if p.version and p.name not in CONDA_UNLOCKED}
    problems += _version_rules(exact, where)
    missing = sorted(REQUIRED - seen.keys())
    if missing:
        problems.append(f"{where}: missing {missing}")
    if "python" not in seen:
        problems.append(f"{where}: python is not pinned")
    cv = sorted(p.spec for p in pins if p.name in OPENCV)
    if len(cv) != 1:
        problems.append(f"{where}: {len(cv)} OpenCV distributions {cv}, need exactly 1")
    for opt in options:
        if re.match(r"(-e|--editable)\b", opt) or re.search(r"(^|\s)\.{1,2}(/|\s|$)", opt):
            problems.append(
                f"{where}: pip line {opt!r}: relative paths resolve against Snakemake's copy of "
                "the env file in <conda-prefix>/, not envs/ (use the post-deploy script)"
            )
    return problems


def check_rule_envs(rule_files: list[Path], envs_dir: Path) -> tuple[list[str], int]:
    """(problems, number of `conda:` directives checked) for Snakemake rule files.

    Snakemake resolves a rule's `conda:` path relative to the file that contains the rule.
    """
    problems: list[str] = []
    checked = 0
    envs_dir = envs_dir.resolve()
    for rules in rule_files:
        text = rules.read_text()
        paths = CONDA_PATH.findall(text)
        n_directives = len(CONDA_DIRECTIVE.findall(text))
        if n_directives != len(paths):
            problems.append(f"{rules.name}: {n_directives} `conda:` directives but only "
                            f"{len(paths)} are a quoted path on the next line")
        for p in paths:
            checked += 1
            target = (rules.parent / p).resolve()
            if not target.is_file():
                problems.append(f"{rules.name}: conda env {p!r} → {target} does not exist")
            elif target.parent != envs_dir or target.suffix not in (".yaml", ".yml"):
                problems.append(f"{rules.name}: conda env {p!r} → {target} is not a .yaml "
                                f"file in {envs_dir.name}/")
    return problems, checked


def _project_python() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    m = re.search(r'requires-python\s*=\s*">=\s*(\d+\.\d+)', text)
    assert m, "pyproject.toml: requires-python has no lower bound"
    return m.group(1)


def _rule_files(root: Path) -> list[Path]:
    files = sorted((root / "workflow" / "rules").glob("*.smk"))
    return files + [p for p in (root / "Snakefile", root / "workflow" / "Snakefile")
                    if p.is_file()]


# --------------------------------------------------------------------------- the real files


def test_env_files_exist():
    assert (ENVS / "motorflow.yaml") in ENV_FILES


def test_lock_rules():
    assert check_lock(LOCK) == []


@pytest.mark.parametrize("env", ENV_FILES, ids=lambda p: p.name)
def test_env_matches_lock(env: Path):
    assert check_env(env, LOCK, python=_project_python()) == []


def test_env_has_channels_and_pinned_torch():
    doc = yaml.safe_load((ENVS / "motorflow.yaml").read_text())
    assert doc["channels"][0] == "conda-forge"
    pins, options = read_env(ENVS / "motorflow.yaml")
    torch = [p for p in pins if p.name == "torch"]
    assert [(p.source, p.version) for p in torch] == [("pip", "2.13.0")]
    assert any("whl/cpu" in o for o in options), "torch should come from the CPU wheel index"


def test_post_deploy_installs_the_checkout():
    # Snakemake runs envs/<name>.post-deploy.sh after creating envs/<name>.yaml.
    script = (ENVS / "motorflow.post-deploy.sh").read_text()
    assert re.search(r"pip install --no-deps -e \.\s*$", script, re.MULTILINE)


def test_rules_point_at_existing_envs():
    problems, _ = check_rule_envs(_rule_files(ROOT), ENVS)
    assert problems == []


# --------------------------------------------------------------------------- drift is caught


def _copy(tmp_path: Path, old: str = "", new: str = "") -> tuple[Path, Path]:
    """Copies of the env file and the lock; ``old`` → ``new`` in the env copy."""
    env = tmp_path / "motorflow.yaml"
    text = (ENVS / "motorflow.yaml").read_text()
    if old:
        assert old in text, f"test setup: {old!r} not in motorflow.yaml"
        text = text.replace(old, new)
    env.write_text(text)
    lock = tmp_path / "requirements.lock"
    shutil.copy(LOCK, lock)
    return env, lock


def _set_lock(lock: Path, name: str, version: str) -> None:
    lines = [f"{name}=={version}" if normalise(line.split("==")[0]) == name else line
             for line in lock.read_text().splitlines()]
    assert lines != lock.read_text().splitlines(), f"test setup: {name} not in lock"
    lock.write_text("\n".join(lines) + "\n")


def test_copy_without_changes_is_clean(tmp_path):
    env, lock = _copy(tmp_path)
    assert check_env(env, lock, python="3.11") == []


def test_conda_pin_drift_is_reported(tmp_path):
    env, lock = _copy(tmp_path, "numpy==1.26.4", "numpy==1.26.3")
    problems = check_env(env, lock)
    assert any("numpy 1.26.3" in p and "1.26.4" in p for p in problems), problems


def test_lock_drift_is_reported(tmp_path):
    env, lock = _copy(tmp_path)
    _set_lock(lock, "pandas", "2.3.4")
    problems = check_env(env, lock)
    assert any("pandas" in p and "2.3.4" in p for p in problems), problems


def test_pip_pin_drift_is_reported(tmp_path):
    env, lock = _copy(tmp_path, "mediapipe==0.10.21", "mediapipe==0.10.20")
    problems = check_env(env, lock)
    assert any("mediapipe 0.10.20" in p for p in problems), problems


def test_torch_must_be_2_13_0(tmp_path):
    env, lock = _copy(tmp_path, "torch==2.13.0", "torch==2.12.1")
    _set_lock(lock, "torch", "2.12.1")  # consistent with the lock, still wrong
    problems = check_env(env, lock) + check_lock(lock)
    assert sum("must be 2.13.0" in p for p in problems) == 2, problems


def test_numpy_2_and_pyarrow_26_are_rejected(tmp_path):
    env, lock = _copy(tmp_path, "numpy==1.26.4", "numpy==2.1.3")
    text = env.read_text().replace("pyarrow==25.0.1", "pyarrow==26.0.0")
    env.write_text(text)
    _set_lock(lock, "numpy", "2.1.3")
    _set_lock(lock, "pyarrow", "26.0.0")
    problems = check_env(env, lock) + check_lock(lock)
    assert sum("numpy 2.1.3, must be < 2" in p for p in problems) == 2, problems
    assert sum("pyarrow 26.0.0, must be < 26" in p for p in problems) == 2, problems


@pytest.mark.parametrize(
    ("anchor", "added"),
    [
        ("  - pip:\n", "  - opencv=4.11.0\n  - pip:\n"),  # conda's OpenCV
        ("      - mlflow==3.17.2\n", "      - mlflow==3.17.2\n      - opencv-python==4.11.0.86\n"),
    ],
    ids=["conda-opencv", "pip-opencv-python"],
)
def test_second_opencv_is_rejected(tmp_path, anchor, added):
    env, lock = _copy(tmp_path, anchor, added)
    problems = check_env(env, lock)
    assert any("2 OpenCV distributions" in p for p in problems), problems


def test_unpinned_and_missing_packages_are_rejected(tmp_path):
    env, lock = _copy(tmp_path, "      - mlflow==3.17.2\n", "      - mlflow>=3\n")
    env.write_text(env.read_text().replace("  - scipy==1.17.1\n", ""))
    problems = check_env(env, lock)
    assert any("'mlflow>=3'" in p and "not pinned" in p for p in problems), problems
    assert any("missing ['scipy']" in p for p in problems), problems


def test_relative_editable_install_is_rejected(tmp_path):
    mlflow = "      - mlflow==3.17.2\n"
    env, lock = _copy(tmp_path, mlflow, mlflow + "      - -e ../\n")
    problems = check_env(env, lock)
    assert any("'-e ../'" in p for p in problems), problems


def test_lock_with_two_opencvs_is_rejected(tmp_path):
    _, lock = _copy(tmp_path)
    lock.write_text(lock.read_text() + "opencv-python==4.11.0.86\n")
    assert any("2 OpenCV" in p for p in check_lock(lock))


def test_rule_env_paths_resolve_relative_to_the_rule_file(tmp_path):
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / "motorflow.yaml").write_text("dependencies: []\n")
    rules = tmp_path / "workflow" / "rules"
    rules.mkdir(parents=True)
    good = 'rule a:\n    output:\n        "a"\n    conda:\n        "../../envs/motorflow.yaml"\n'
    (rules / "good.smk").write_text(good)
    problems, checked = check_rule_envs(_rule_files(tmp_path), tmp_path / "envs")
    assert (problems, checked) == ([], 1)

    # Relative to the repository root instead of the rule file: Snakemake would not find it.
    (rules / "bad.smk").write_text(good.replace("../../envs/", "envs/"))
    (rules / "elsewhere.smk").write_text(good.replace("../../envs/motorflow.yaml",
                                                      "../../good_env.yaml"))
    (tmp_path / "good_env.yaml").write_text("dependencies: []\n")
    (rules / "dynamic.smk").write_text(good.replace('"../../envs/motorflow.yaml"', "get_env"))
    problems, checked = check_rule_envs(_rule_files(tmp_path), tmp_path / "envs")
    assert checked == 3
    assert any(p.startswith("bad.smk") and "does not exist" in p for p in problems), problems
    assert any(p.startswith("elsewhere.smk") and "not a .yaml file in envs/" in p for p in problems)
    assert any(p.startswith("dynamic.smk") and "quoted path" in p for p in problems), problems


@pytest.mark.parametrize(
    ("spec", "name", "version"),
    [
        ("numpy==1.26.4", "numpy", "1.26.4"),
        ("numpy=1.26.4", "numpy", "1.26.4"),
        ("numpy 1.26.4", "numpy", "1.26.4"),
        ("conda-forge::numpy=1.26.4=py311h64a7726_0", "numpy", "1.26.4"),
        ("matplotlib-base==3.11.2", "matplotlib", "3.11.2"),
        ("scikit_learn==1.9.1", "scikit-learn", "1.9.1"),
        ("numpy>=1.26", "numpy", None),
        ("numpy=1.26.*", "numpy", None),
        ("numpy", "numpy", None),
    ],
)
def test_conda_spec_parsing(spec, name, version):
    pin = _conda_pin(spec)
    assert (pin.name, pin.version) == (name, version)
