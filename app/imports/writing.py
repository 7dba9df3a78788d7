"""The second half of an import: a planned batch written, its findings detected and the
possible duplicates among them put into the report."""

from collections.abc import Callable, Sequence

from app.activities import bulk
from app.activities import service as activities
from app.findings import detection as findings
from app.findings.locks import serialise_by_state
from app.findings.models import FindingPublic
from app.imports.models import ImportReport
from app.imports.parsing import RowInvalid
from app.imports.planning import Batch
from app.organizations import service as organizations


def write(batch: Batch, done: Callable[[int], None]) -> None:
    """Apply the updates one by one (an edited file changes few), then store the new
    activities together and detect their findings as if they had come one at a time.

    The per-State locks of detection are taken for all of them first, in one sorted
    go: taken update by update, two imports (or an import and an edit) could deadlock."""
    session, actor, report = batch.session, batch.actor, batch.report
    reported: set[str] = set()  # ids of the findings in the report
    serialise_by_state(session, batch.states)
    for number, activity, patch, why in batch.updates:
        try:
            with session.begin_nested(), batch.as_row(patch.model_dump()):
                updated, _ = activities.update(session, activity, patch, actor=actor, reason=why)
        except RowInvalid as problem:
            batch.failed(number, problem)
        else:
            report.updated += 1
            _found(
                report, reported, findings.refresh(session, updated, actor=actor, tell="duplicates")
            )
        done(1)
    for acronym, name in batch.new_orgs.items():
        if any(wanted == acronym for wanted, _ in batch.creates):
            batch.orgs[acronym] = organizations.ensure(
                session, acronym=acronym, name=name, actor=actor
            )
    ids = bulk.create_many(
        session,
        [(batch.orgs[acronym], record) for acronym, record in batch.creates],
        actor=actor,
    )
    report.created += len(ids)
    live = [
        activity_id
        for activity_id, (_, record) in zip(ids, batch.creates, strict=True)
        if record["status"] != "cancelled"
    ]
    done(len(ids) - len(live))
    _found(report, reported, findings.detect_new(session, live, each=lambda: done(1), actor=actor))


def _found(report: ImportReport, reported: set[str], found: Sequence[FindingPublic]) -> None:
    """The possible duplicates among these findings go into the report, each once."""
    for finding in found:
        if finding.kind == "duplicate" and str(finding.id) not in reported:
            reported.add(str(finding.id))
            report.findings.append(finding.model_dump(mode="json"))
