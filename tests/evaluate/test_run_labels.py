"""Run labels: one distinct, meaningful name per run for tables and legends."""

from __future__ import annotations

from toxmine.evaluate.run_labels import RunNaming, run_labels, short_model_name


def test_model_names_keep_what_identifies_the_model() -> None:
    assert short_model_name("/tmp/models/lm-0") == "lm-0"  # a local folder: its own name
    assert short_model_name("Qwen/Qwen2.5-7B-Instruct") == "Qwen/Qwen2.5-7B-Instruct"
    assert short_model_name("gpt-4o-mini@http://host/v1") == "gpt-4o-mini@http://host/v1"  # never "v1"


def test_runs_of_one_model_get_labels_of_their_own() -> None:
    runs = [
        RunNaming("aaaaaa11", "/m/lm", "rtp"),
        RunNaming("bbbbbb22", "/m/lm", "rtp", "template aim"),
        RunNaming("cccccc33", "/m/lm", "rtp"),  # the plain run again, with other sampling parameters
        RunNaming("dddddd44", "gpt@http://host/v1", "rtp"),
    ]
    assert run_labels(runs) == ["lm (aaaaaa)", "lm [template aim]", "lm (cccccc)", "gpt@http://host/v1"]
    runs[2] = RunNaming("cccccc33", "/m/lm", "ptp")
    assert run_labels(runs) == ["lm rtp", "lm rtp [template aim]", "lm ptp", "gpt@http://host/v1 rtp"]
