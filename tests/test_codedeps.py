"""The rules' code inputs are generated from the imports: they hold what the modules import."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from motorflow import codedeps

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_closure_follows_every_kind_of_import(tmp_path):
    src = tmp_path / "src"
    _write(
        src,
        {
            "motorflow/__init__.py": "",
            "motorflow/a.py": "from motorflow import b\nimport numpy\n",
            "motorflow/b.py": "def f():\n    from motorflow.pkg.c import X\n    return X\n",
            "motorflow/pkg/__init__.py": "from . import d\n",
            "motorflow/pkg/c.py": "from ..e import Y\nX = 1\n",
            "motorflow/pkg/d.py": "",
            "motorflow/e.py": "Y = 2\n",
            "motorflow/unused.py": "import motorflow.a\n",
        },
    )
    script = tmp_path / "script.py"
    script.write_text("from motorflow import a\n")
    got = [Path(p).relative_to(src / "motorflow").as_posix() for p in codedeps.closure(script, src)]
    # a → b → (inside a function) pkg.c, whose package runs pkg/__init__ → pkg.d; c → e.
    assert got == [
        "__init__.py", "a.py", "b.py", "e.py", "pkg/__init__.py", "pkg/c.py", "pkg/d.py"
    ]  # fmt: skip


# Every module of the package, imported one at a time in a fresh set of package modules.
_PROBE = """
import importlib, json, sys
out = {}
for name in sys.argv[1:]:
    for key in [k for k in sys.modules if k == "motorflow" or k.startswith("motorflow.")]:
        del sys.modules[key]
    importlib.import_module(name)
    out[name] = sorted(k for k in sys.modules if k == "motorflow" or k.startswith("motorflow."))
print(json.dumps(out))
"""


def test_closure_holds_everything_a_module_imports_at_run_time():
    files = sorted((SRC / "motorflow").rglob("*.py"))
    names = [
        ".".join(f.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__") for f in files
    ]
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *names], capture_output=True, text=True, check=True
    )
    loaded = json.loads(done.stdout)
    for name, file in zip(names, files, strict=True):
        static = {Path(p).resolve() for p in codedeps.closure(file, SRC)} | {file.resolve()}
        for module in loaded[name]:
            path = codedeps._file_of(module, SRC)
            assert path is not None and path.resolve() in static, f"{name} imports {module}"


def _rule_blocks() -> dict[str, str]:
    blocks = {}
    for smk in sorted((ROOT / "workflow/rules").glob("*.smk")):
        parts = re.split(r"(?m)^(?=[ ]*(?:rule|use rule) )", smk.read_text())
        for part in parts[1:]:
            name = re.match(r"\s*(?:use rule \w+ as |rule )(\w+)", part).group(1)
            blocks[name] = part
    return blocks


def test_every_rule_declares_the_code_of_its_own_script():
    blocks = _rule_blocks()
    scripts = {}
    for name, block in blocks.items():
        m = re.search(r'script:\s*"\.\./scripts/(\w+)\.py"', block)
        base = re.match(r"\s*use rule (\w+) as", block)
        scripts[name] = m.group(1) if m else scripts.get(base.group(1)) if base else None
    checked = 0
    for name, block in blocks.items():
        code = re.search(r'code=CODE\["(\w+)"\]', block)
        if scripts[name] is None or code is None:
            continue
        assert code.group(1) == scripts[name], f"rule {name} declares {code.group(1)}'s code"
        checked += 1
    assert checked >= 25
    # The two rules whose code comes from an input function: pose and evaluation.
    common = (ROOT / "workflow/rules/common.smk").read_text()
    assert '{"code": CODE["pose"]}' in common and '"code": CODE["evaluate_fold"]' in common


@pytest.mark.parametrize(
    ("script", "present", "absent"),
    [
        # A network's training runs no feature-baseline, fusion or RGB/flow code …
        ("train_skeleton", ["train/skeleton.py", "models/stgcn.py"],
         ["train/baselines.py", "features/gait.py", "models/rgbflow.py", "flow.py",
          "train/fusion.py"]),
        # … and the baselines run no torch code.
        ("train_feature_baseline",
         ["train/baselines.py", "features/gait.py", "features/movement.py", "tasks.py"],
         ["train/loop.py", "train/checkpoint.py", "models/stgcn.py", "data/clips.py"]),
        # Grad-CAM loads the fold's ST-GCN through the skeleton family's builders.
        ("rank_keypoints", ["interpret.py", "train/skeleton.py", "gradcam.py"],
         ["train/baselines.py", "train/fusion.py", "models/rgbflow.py"]),
        ("validate", ["validate/pose.py"], ["features/gait.py", "validate/features.py", "mask.py"]),
        # The infant movement features run none of the gait features' code.
        ("movement_features", ["features/movement.py", "importers.py"],
         ["features/gait.py", "features/curves.py", "bouts.py"]),
        ("log_mlflow", ["tracking.py", "registry.py"], ["train/config.py", "data/table.py"]),
    ],
)  # fmt: skip
def test_each_rule_runs_only_what_it_imports(script, present, absent):
    table = codedeps.script_table(ROOT / "workflow/scripts", SRC)
    files = {Path(p).relative_to(SRC / "motorflow").as_posix() for p in table[script][1:]}
    assert set(present) <= files
    assert not set(absent) & files


def test_the_cached_table_is_recomputed_after_any_source_edit(tmp_path):
    _write(
        tmp_path,
        {
            "src/motorflow/__init__.py": "",
            "src/motorflow/a.py": "",
            "src/motorflow/b.py": "",
            "scripts/run_a.py": "from motorflow import a\n",
        },
    )
    scripts, src, cache = tmp_path / "scripts", tmp_path / "src", tmp_path / "cache/code.json"
    first = codedeps.script_table(scripts, src, cache=cache)
    assert first == codedeps.script_table(scripts, src)  # cached = computed
    assert [Path(p).name for p in first["run_a"]] == ["run_a.py", "__init__.py", "a.py"]
    # A stale cache entry is never served: the key covers every file's path and content.
    stored = json.loads(cache.read_text())
    stored["table"]["run_a"] = ["tampered"]
    cache.write_text(json.dumps(stored))
    assert codedeps.script_table(scripts, src, cache=cache)["run_a"] == ["tampered"]
    (src / "motorflow/a.py").write_text("from motorflow import b\n")  # an edit deep inside
    edited = codedeps.script_table(scripts, src, cache=cache)
    assert [Path(p).name for p in edited["run_a"]][-1] == "b.py"
    (src / "motorflow/c.py").write_text("")  # a new module changes the key too
    assert codedeps.script_table(scripts, src, cache=cache) == edited
    assert json.loads(cache.read_text())["key"] != stored["key"]
    cache.write_text("{not json")  # unreadable: recomputed, not an error
    assert codedeps.script_table(scripts, src, cache=cache) == edited
