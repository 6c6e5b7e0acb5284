"""One place says what a task is (motorflow.tasks); the schema, models and rules agree with it."""

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from motorflow import registry, tasks
from motorflow.data.table import TrainError
from motorflow.train import baselines

ROOT = Path(__file__).resolve().parents[1]


def test_schema_task_enum_and_default_equal_the_tasks():
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    task = schema["properties"]["data"]["properties"]["task"]
    assert task["enum"] == list(tasks.NAMES)
    assert task["default"] == tasks.DEFAULT


def test_unknown_task_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown task 'gaitt'; known: gait, infant"):
        tasks.of_config({"data": {"task": "gaitt"}})
    assert tasks.of_config({}).name == tasks.DEFAULT


@pytest.mark.parametrize("name", tasks.NAMES)
def test_each_task_names_parts_that_exist(name):
    task = tasks.get(name)
    cohort, render = task.cohort_module(), task.render_module()
    for attr in ("make_sheet", "cohort_config"):
        assert callable(getattr(cohort, attr)), attr
    assert callable(render.render_into)
    # The feature baseline is the features-family model of this task alone.
    spec = registry.SPECS[task.baseline]
    assert spec.family == "features" and spec.tasks == (name,)
    assert task.baseline in task.models()
    assert set(task.models()) == set(registry.NAMES) - set(
        registry.not_for_task(registry.NAMES, name)
    )
    assert task.features in baselines.FEATURE_TABLES
    # Its validation is a rule output, and its config sections exist in the shipped configs.
    validate = (ROOT / "workflow/rules/validate.smk").read_text()
    assert f'"results/validation/{task.validation}.tsv"' in validate
    config = yaml.safe_load(
        (ROOT / "config" / ("config.yaml" if name == "gait" else f"{name}.yaml")).read_text()
    )
    assert tasks.of_config(config) is task
    assert task.cohort_section in config
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    assert task.features in schema["properties"]["features"]["properties"]


def test_each_task_makes_its_own_cohort_sheet():
    gait = tasks.get("gait")
    config = {"synthetic": {"subjects_per_level": 2}}
    sheet = gait.cohort_module().make_sheet(gait.cohort_config(config))
    assert sheet["subject_id"].nunique() == 8 and set(sheet["label"]) == {"I", "II", "III", "IV"}
    infant = tasks.get("infant")
    sheet = infant.cohort_module().make_sheet(infant.cohort_config({}))
    assert "age_weeks" in sheet.columns and "I" not in set(sheet["label"])


def test_a_model_that_is_no_feature_baseline_is_refused():
    with pytest.raises(TrainError, match="not a feature baseline: stgcn"):
        baselines.baseline_features("stgcn", pd.DataFrame(), None, None)


def test_no_rule_or_module_switches_on_a_task_name():
    """The rules, adapters and package read the task's fields (which cohort, which features),
    never compare its name; only the task list and the registry name tasks."""
    allowed = {"src/motorflow/tasks.py", "src/motorflow/registry.py"}
    pattern = re.compile(
        r"""\b(task|TASK|args\.task|params\.task)\s*(==|!=)|get\(["']task["']\)\s*(==|!=)|\bINFANT\b"""
    )
    files = [*ROOT.glob("workflow/rules/*.smk"), *ROOT.glob("workflow/scripts/*.py")]
    files += list((ROOT / "src/motorflow").rglob("*.py"))
    hits = [
        f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
        for p in files
        if str(p.relative_to(ROOT)) not in allowed
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not hits, "\n".join(hits)
