import pytest

from paperlink.manuscript import Reference
from paperlink.records import FileDigest, Record
from paperlink.references import ReferenceError, resolve_output


def record(*paths: str) -> Record:
    return Record(
        label="run",
        project="p",
        run_id="x",
        outputs=[FileDigest(path=p, sha256="a" * 64) for p in paths],
    )


def test_exact_path() -> None:
    assert (
        resolve_output(
            record("figures/a.pdf", "figures/b.pdf"), Reference.parse("run:figures/b.pdf")
        ).path
        == "figures/b.pdf"
    )


def test_only_image_output() -> None:
    assert (
        resolve_output(record("figures/a.pdf", "results/v.json"), Reference.parse("run")).path
        == "figures/a.pdf"
    )


def test_fragment() -> None:
    assert (
        resolve_output(record("figures/a.pdf", "figures/b.png"), Reference.parse("run?b.p")).path
        == "figures/b.png"
    )


@pytest.mark.parametrize(
    ("paths", "ref", "message"),
    [
        (("figures/a.pdf",), "run:figures/zz.pdf", "has no output 'figures/zz.pdf'"),
        (("figures/a.pdf", "figures/b.pdf"), "run?figures", "is ambiguous: 2 outputs"),
        (("figures/a.pdf",), "run?zz", "has 'zz' in its path"),
        (("results/v.json",), "run", "has no image output"),
        (("figures/a.pdf", "figures/b.png"), "run", "has 2 image outputs"),
        ((), "run", "has no image output"),
    ],
)
def test_failures_say_what_to_write(paths: tuple[str, ...], ref: str, message: str) -> None:
    with pytest.raises(ReferenceError, match=message) as info:
        resolve_output(record(*paths), Reference.parse(ref))
    assert info.value.hint
