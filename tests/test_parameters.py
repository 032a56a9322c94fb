"""Merging parameter files and key=value arguments by Sumatra's rule."""

from __future__ import annotations

import json
from typing import Any

import pytest

from paperlink.recorder.parameters import merge_parameters


@pytest.mark.parametrize(
    ("files", "arguments", "effective", "sources"),
    [
        (  # an argument overrides the file's entry
            [("p.json", {"slope": 0.5, "n": 3})],
            {"slope": 0.75},
            {"slope": 0.75, "n": 3},
            {"slope": ["file p.json=0.5", "argument=0.75"], "n": ["file p.json=3"]},
        ),
        (  # a later file overrides an earlier one; the argument overrides both
            [("a.json", {"x": 1, "y": 1}), ("b.toml", {"x": 2})],
            {"y": 5},
            {"x": 2, "y": 5},
            {"x": ["file a.json=1", "file b.toml=2"], "y": ["file a.json=1", "argument=5"]},
        ),
        (  # a dotted argument overrides one nested entry
            [("p.json", {"model.alpha": 1, "model.beta": 2})],
            {"model.alpha": 2},
            {"model.alpha": 2, "model.beta": 2},
            {"model.alpha": ["file p.json=1", "argument=2"], "model.beta": ["file p.json=2"]},
        ),
        (  # an argument naming a table replaces the whole table
            [("p.json", {"model.alpha": 1, "model.deep.k": 2, "other": 0})],
            {"model": {"alpha": 3}},
            {"model": {"alpha": 3}, "other": 0},
            {
                "model": ['file p.json={"alpha":1,"deep":{"k":2}}', 'argument={"alpha":3}'],
                "other": ["file p.json=0"],
            },
        ),
        ([], {"seed": 7}, {"seed": 7}, {"seed": ["argument=7"]}),
    ],
)
def test_merge_follows_sumatras_rule(
    files: list[tuple[str, dict[str, Any]]],
    arguments: dict[str, Any],
    effective: dict[str, Any],
    sources: dict[str, list[str]],
) -> None:
    merged, found = merge_parameters(files, arguments)
    assert merged == effective
    assert {
        key: [
            f"{s.describe()}={json.dumps(s.value, sort_keys=True, separators=(',', ':'))}"
            for s in items
        ]
        for key, items in found.items()
    } == sources
    assert set(found) == set(merged)
