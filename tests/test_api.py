import sys
from pathlib import Path

import pytest

import paperlink
from paperlink.core.store import RecordStore


def store_of(project_dir: Path) -> RecordStore:
    return RecordStore(project_dir / ".paperlink/records.sqlite")


def test_record_block_captures_outputs_parameters_and_inputs(project_dir: Path) -> None:
    (project_dir / "data.csv").write_text("1,2\n")
    (project_dir / "elsewhere").mkdir()
    with paperlink.record(reason="api", label="api1", tags=["t"]) as rec:
        rec.add_input("data.csv")
        rec.set_parameter("alpha", 0.25)
        (project_dir / "figures" / "api.svg").write_text("<svg/>")
        (project_dir / "elsewhere" / "t.csv").write_text("x")
        rec.add_output("elsewhere/t.csv")
    assert rec.label == "api1"
    with store_of(project_dir) as store:
        record = store.get("api1")
    assert record.kind == "python" and record.reason == "api" and record.tags == ["t"]
    assert record.parameters == {"alpha": 0.25}
    assert [i.path for i in record.inputs] == ["data.csv"]
    assert [o.path for o in record.outputs] == ["elsewhere/t.csv", "figures/api.svg"]
    assert record.outcome.status == "finished" and record.executable.path == sys.executable


def test_exception_in_block_marks_the_record_failed(project_dir: Path) -> None:
    with pytest.raises(ZeroDivisionError), paperlink.record(label="boom"):
        (project_dir / "figures" / "partial.svg").write_text("<svg/>")
        1 / 0  # noqa: B018
    with store_of(project_dir) as store:
        record = store.get("boom")
    assert record.outcome.status == "failed" and "ZeroDivisionError" in (record.outcome.error or "")
    assert [o.path for o in record.outputs] == ["figures/partial.svg"]


def test_capture_decorator_records_each_call_with_its_arguments(project_dir: Path) -> None:
    @paperlink.capture(reason="sweep", tags=["sweep"])
    def analyse(alpha: float, name: str = "x") -> float:
        (project_dir / "figures" / f"{name}.svg").write_text(f"<svg>{alpha}</svg>")
        return alpha * 2

    assert analyse(0.5, name="a") == 1.0
    assert analyse(1.5) == 3.0
    with store_of(project_dir) as store:
        summaries = store.summaries(tag="sweep")
        records = [store.get(s.label) for s in reversed(summaries)]
    assert [r.parameters["alpha"] for r in records] == [0.5, 1.5]
    assert records[1].parameters["name"] == "x"
    assert records[0].parameters["function"].endswith("analyse")
    assert [o.path for o in records[0].outputs] == ["figures/a.svg"]


def test_bare_decorator_works(project_dir: Path) -> None:
    @paperlink.capture
    def nothing() -> str:
        return "done"

    assert nothing() == "done"
    with store_of(project_dir) as store:
        assert len(store.summaries()) == 1
