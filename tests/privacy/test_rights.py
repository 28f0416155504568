"""The person's rights (issue #16, done-when 5): the export holds their case data and the disclosure log about
them; a correction follows into search; retention anonymises a case closed longer ago than the tenant's period
and leaves a younger one; all audited."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import timedelta

from sqlalchemy import select

from tests.keys.conftest import BIRTH, KANA, NAME, NOTE, open_case, owner_dump, unit_of
from tsunagu.audit import services as audit
from tsunagu.audit.models import AuditEntry
from tsunagu.cases.models import Case, CaseEvent, Person, ProgressRecord
from tsunagu.cases.people import person_match
from tsunagu.core.db import utcnow
from tsunagu.core.session import transaction
from tsunagu.engine.models import ProcessInstance
from tsunagu.privacy import services as privacy
from tsunagu.privacy.nightly import run_retention_nightly
from tsunagu.tenancy.models import Tenant


def test_a_persons_export_holds_their_case_data_and_the_disclosure_log_about_them(runtime, presets):
    tenant = presets["yokohama"]
    case = open_case(runtime, tenant, unit_of(runtime, tenant))
    other = open_case(runtime, tenant, unit_of(runtime, tenant), name="別人 一郎", kana="ベツジン イチロウ")
    with transaction(runtime.sessions, tenant.id) as session:
        audit.record(
            session, "viewer@city", "case.view", audit.Target.case(case.id), legal_basis="consent:c1"
        )
        audit.record(
            session, "viewer@city", "case.view", audit.Target.case(other.id), legal_basis="consent:c2"
        )

    with transaction(runtime.sessions, tenant.id) as session:
        blob = privacy.person_export_zip(session, case.person_id, "clerk@city")
    archive = zipfile.ZipFile(io.BytesIO(blob))
    assert {"person.json", "person.csv", "cases.json", "progress_records.csv", "disclosures.csv"} <= set(
        archive.namelist()
    )
    person = json.loads(archive.read("person.json"))[0]
    assert (person["name"], person["name_kana"], person["birth_date"]) == (NAME, KANA, BIRTH.isoformat())
    assert [c["id"] for c in json.loads(archive.read("cases.json"))] == [str(case.id)]
    assert [r["content"] for r in json.loads(archive.read("progress_records.json"))] == [NOTE]
    events = json.loads(archive.read("case_events.json"))
    assert events and all(e["case_id"] == str(case.id) for e in events)
    disclosures = list(csv.DictReader(io.StringIO(archive.read("disclosures.csv").decode("utf-8-sig"))))
    views = [d for d in disclosures if d["action"] == "case.view"]
    assert [(d["actor"], d["legal_basis"], d["case_id"]) for d in views] == [
        ("viewer@city", "consent:c1", str(case.id))
    ]  # the other person's disclosure is not in this export

    with transaction(runtime.sessions, tenant.id) as session:
        actions = session.execute(select(AuditEntry.action, AuditEntry.actor_label)).all()
    assert ("person.export", "clerk@city") in actions


def test_a_correction_is_applied_reindexed_and_audited_without_values(runtime, presets):
    tenant = presets["yokohama"]
    case = open_case(runtime, tenant, unit_of(runtime, tenant))
    with transaction(runtime.sessions, tenant.id) as session:
        changed = privacy.correct_person(
            session, case.person_id, privacy.Correction(name_kana="ヒミツ ハルコ"), "clerk@city", "本人の申出"
        )
    assert changed == ["name_kana"]
    with transaction(runtime.sessions, tenant.id) as session:
        assert session.execute(select(Person.id).where(person_match(session, kana="ヒミツハル"))).all()
        assert not session.execute(select(Person.id).where(person_match(session, kana="ヒミツハナ"))).all()
        entry = session.execute(select(AuditEntry).where(AuditEntry.action == "person.correct")).scalar_one()
    assert entry.details == {"fields": ["name_kana"], "reason": "本人の申出"}
    assert "ハルコ" not in json.dumps(entry.details, ensure_ascii=False)


def test_retention_anonymises_a_case_closed_before_the_period_and_keeps_a_younger_one(runtime, presets):
    tenant = presets["kunitachi"]
    unit = unit_of(runtime, tenant)
    old = open_case(runtime, tenant, unit, name="古い 記録", kana="フルイ キロク")
    young = open_case(runtime, tenant, unit, name="新しい 記録", kana="アタラシイ キロク")
    now = utcnow()
    with transaction(runtime.sessions, tenant.id) as session:
        for case_id, age in ((old.id, 5 * 365 + 30), (young.id, 4 * 365)):
            case = session.get(Case, (tenant.id, case_id))
            case.status, case.closed_at = "closed", now - timedelta(days=age)
        assert privacy.retention_years(session.get(Tenant, tenant.id).settings) == 5  # from the preset

    run = run_retention_nightly(runtime, now, force=True)
    assert run.errors == [] and run.anonymised == 1
    assert run_retention_nightly(runtime, now, force=True).anonymised == 0  # idempotent

    with transaction(runtime.sessions, tenant.id) as session:
        old_case = session.get(Case, (tenant.id, old.id))
        young_case = session.get(Case, (tenant.id, young.id))
        assert old_case.status == "anonymised" and old_case.process_instance_id is None
        assert young_case.status == "closed" and young_case.process_instance_id is not None
        old_person = session.get(Person, (tenant.id, old.person_id))
        young_person = session.get(Person, (tenant.id, young.person_id))
        assert (old_person.name, old_person.name_kana, old_person.birth_date) == (
            privacy.ANONYMISED_NAME,
            "",
            None,
        )
        assert young_person.name == "新しい 記録"
        notes = {r.case_id: r.content for r in session.execute(select(ProgressRecord)).scalars()}
        assert notes == {old.id: "", young.id: NOTE}
        submissions = {
            e.case_id for e in session.execute(select(CaseEvent)).scalars() if e.submission is not None
        }
        assert old.id not in submissions
        instances = session.execute(select(ProcessInstance.case_id)).scalars().all()
        assert instances == [young.id]
        assert not session.execute(select(Person.id).where(person_match(session, kana="フルイ"))).all()
        assert session.execute(select(Person.id).where(person_match(session, kana="アタラシイ"))).all()
        entry = session.execute(select(AuditEntry).where(AuditEntry.action == "case.anonymise")).scalar_one()
    assert entry.case_id == old.id and entry.legal_basis == "retention: 5 years after closure"
    assert "古い" not in owner_dump(runtime, tenant)
