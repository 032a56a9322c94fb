import json
from pathlib import Path

import jsonschema
import pytest

from paperlink.core.files import FileDigest
from paperlink.core.records import ParameterSource, Publication, Record, check_label
from paperlink.core.runcontext import ContainerRef
from paperlink.core.serialize import canonical_json
from paperlink.errors import UsageError

DATA = Path(__file__).parent / "data"
SCHEMA = json.loads(
    (Path(__file__).parent.parent / "paperlink/core/schema/record-v1.json").read_text()
)


def sample() -> Record:
    return Record(
        label="20261122-101500",
        project="study",
        run_id="5b1e0c9e-0000-4000-8000-000000000000",
        argv=["python3", "fig.py"],
        outputs=[
            FileDigest(path="figures/a.pdf", size=3, sha256="a" * 64, md5="b" * 32, sha1="c" * 40)
        ],
        start_time="2026-11-22T10:15:00.000000Z",
        container=ContainerRef(
            image_id="sha256:" + "d" * 64, repo_digests=["r@sha256:" + "e" * 64]
        ),
        parameters={"alpha": 0.5, "model.depth": 3},
        parameter_sources={
            "alpha": [
                ParameterSource("file", 0.25, "params.json"),
                ParameterSource("argument", 0.5),
            ],
            "model.depth": [ParameterSource("file", 3, "params.json")],
        },
        tags=["draft"],
    )


def test_round_trip_through_json_is_lossless() -> None:
    record = sample()
    assert Record.from_json(record.to_json()) == record


def test_parameter_source_names_the_effective_source_and_what_it_overrode() -> None:
    record = sample()
    assert record.parameter_source("alpha") == "argument (overrides file params.json: 0.25)"
    assert record.parameter_source("model.depth") == "file params.json"
    assert record.parameter_source("unknown") is None
    assert (
        Record.from_dict(json.loads((DATA / "record-v1.json").read_text())).parameter_sources == {}
    )


def test_canonical_json_is_sorted_and_compact() -> None:
    assert canonical_json({"b": 1, "a": [1, "é"]}) == '{"a":[1,"é"],"b":1}'


def test_digest_ignores_tags_and_reason_only() -> None:
    record = sample()
    first = record.digest()
    record.tags.append("final")
    record.reason = "because"
    record.publication = Publication(doi="10.5281/zenodo.1")
    assert record.digest() == first
    record.parameters["alpha"] = 0.6
    assert record.digest() != first


def test_exported_record_follows_the_schema() -> None:
    jsonschema.validate(json.loads(sample().to_json()), SCHEMA)


def test_schema_lists_every_record_field() -> None:
    assert set(Record.__dataclass_fields__) <= set(SCHEMA["properties"])


def test_version_1_fixture_still_loads() -> None:
    """Records written by the first release must stay readable: never edit tests/data/record-v1.json."""
    raw = json.loads((DATA / "record-v1.json").read_text())
    jsonschema.validate(raw, SCHEMA)
    record = Record.from_dict(raw)
    assert record.label == "20261122-200643"
    assert record.outputs[0].sha256 == raw["outputs"][0]["sha256"]


def test_unknown_keys_from_a_newer_minor_version_are_ignored() -> None:
    data = json.loads(sample().to_json())
    data["some_future_section"] = {"x": 1}
    assert Record.from_dict(data).label == "20261122-101500"


@pytest.mark.parametrize("label", ["fig3", "20261122-101500-2", "run_a.b", "Ωmega"])
def test_good_labels_pass(label: str) -> None:
    assert check_label(label) == label


@pytest.mark.parametrize("label", ["", "a b", "a:b", "a?b", "x" * 201, "tab\there"])
def test_bad_labels_are_refused_with_the_rule(label: str) -> None:
    with pytest.raises(UsageError, match="without spaces"):
        check_label(label)
