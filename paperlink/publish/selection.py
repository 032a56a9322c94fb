"""Which records a publication archives: the ``--record`` labels, those a manuscript uses, or all finished ones."""

from __future__ import annotations

from paperlink.core.records import STATUS_FINISHED, Record
from paperlink.core.store import RecordStore
from paperlink.errors import RecordNotFound, UsageError
from paperlink.publish.options import PublishOptions


def choose_records(store: RecordStore, options: PublishOptions) -> list[Record]:
    """The records to archive: ``--record`` labels, those ``--tex`` uses, or all finished ones."""
    labels: list[str] = list(options.labels)
    if options.tex is not None:
        from paperlink.latex.manuscript import scan_manuscript

        uses = scan_manuscript(options.tex)
        missing = [u for u in uses if not store.exists(u.reference.label)]
        if missing:
            where = "; ".join(
                f"'{u.reference.label}' ({u.file.name}:{u.line})" for u in missing[:10]
            )
            raise RecordNotFound(
                f"{options.tex} uses records the store does not have: {where}",
                hint="record them with 'paperlink run --label LABEL -- …' or fix the labels",
            )
        labels += [u.reference.label for u in uses]
        if not uses:
            raise UsageError(
                f"{options.tex} uses no paperlink macros, so there is nothing to archive"
            )
    if options.all_records:
        finished = [s.label for s in reversed(store.summaries()) if s.status == STATUS_FINISHED]
        if not finished:
            raise UsageError(
                "--all: there are no finished records to archive",
                hint="record a run with 'paperlink run -- COMMAND' first",
            )
        labels += finished
    if not labels:
        raise UsageError(
            "choose what to archive: --record LABEL (repeatable), --tex main.tex or --all"
        )
    chosen: list[Record] = []
    for label in dict.fromkeys(labels):
        record = store.get(label)
        if record.outcome.status != STATUS_FINISHED:
            raise UsageError(
                f"record '{label}' is {record.outcome.status}, not finished; only finished runs are "
                "archived",
                hint="re-run it, or leave it out",
            )
        chosen.append(record)
    # In the order they ran, so the same records always make the same bundle, however they were named.
    return sorted(chosen, key=lambda r: (r.start_time, r.label))
