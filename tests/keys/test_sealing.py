"""Encryption at rest (issue #16, done-when 3): the raw columns and the serialized workflow state hold no plaintext
name, kana, birth date or note; the application reads them back; kana search still finds the person."""

from __future__ import annotations

from sqlalchemy import select

from tests.keys.conftest import BIRTH, KANA, NAME, NOTE, open_case, owner_dump, unit_of
from tsunagu.cases.models import Case, HumanTask, Person, ProgressRecord
from tsunagu.cases.people import person_match
from tsunagu.core.session import transaction
from tsunagu.engine.models import ProcessInstance


def _plaintexts() -> list[str]:
    return [NAME, KANA, "ヒミツ", "ハナコ", "秘密", "花子", BIRTH.isoformat(), "1979", NOTE, "滞納"]


def test_raw_rows_and_workflow_state_hold_no_plaintext_but_the_app_reads_them(runtime, presets):
    tenant = presets["yokohama"]
    case = open_case(runtime, tenant, unit_of(runtime, tenant))

    raw = owner_dump(runtime, tenant)
    assert "tsg1." in raw  # sealed tokens are there
    assert '"serialized":"tsg1.' in raw.replace(" ", "")  # the workflow state is one sealed token
    for secret in _plaintexts():
        assert secret not in raw, f"{secret!r} stored in clear"

    with transaction(runtime.sessions, tenant.id) as session:
        person = session.execute(select(Person)).scalar_one()
        assert (person.name, person.name_kana, person.birth_date) == (NAME, KANA, BIRTH)
        record = session.execute(select(ProgressRecord)).scalar_one()
        assert record.content == NOTE
        task = session.execute(select(HumanTask).where(HumanTask.case_id == case.id)).scalars().first()
        assert task is not None and task.person_name == NAME
        instance = session.execute(select(ProcessInstance)).scalar_one()
        assert instance.serialized.startswith("{")  # opened back to the engine's JSON


def test_kana_search_finds_the_person_by_prefix_in_any_kana_form(runtime, presets):
    tenant = presets["yokohama"]
    unit = unit_of(runtime, tenant)
    wanted = open_case(runtime, tenant, unit)
    open_case(runtime, tenant, unit, name="山田 太郎", kana="ヤマダ タロウ", birth=None)

    with transaction(runtime.sessions, tenant.id) as session:
        for query in ("ヒミツ", "ひみつ", "ﾋﾐﾂ ﾊﾅ", "ヒミツハナコ", "ヒ"):
            ids = (
                session.execute(
                    select(Case.id)
                    .join(Person, Person.id == Case.person_id)
                    .where(person_match(session, kana=query))
                )
                .scalars()
                .all()
            )
            assert ids == [wanted.id], query
        assert session.execute(select(Person.id).where(person_match(session, kana="ミツ"))).all() == []
        by_name = session.execute(
            select(Person.id).where(person_match(session, name="秘密花子", birth_date=BIRTH))
        )
        assert by_name.scalars().all() == [wanted.person_id]
        wrong_birth = session.execute(
            select(Person.id).where(person_match(session, name=NAME, birth_date=BIRTH.replace(year=1980)))
        )
        assert wrong_birth.all() == []


def test_the_inbox_free_text_search_finds_by_name_or_kana_part_prefix(runtime, presets):
    from tsunagu.cases.people import person_search

    tenant = presets["yokohama"]
    unit = unit_of(runtime, tenant)
    wanted = open_case(runtime, tenant, unit, name="田中 次郎", kana="タナカ ジロウ")
    open_case(runtime, tenant, unit, name="山田 花子", kana="ヤマダ ハナコ")
    with transaction(runtime.sessions, tenant.id) as session:
        for query in ("田中", "次郎", "タナカ", "たなか", "ｼﾞﾛｳ", "タナカジ", " ジ "):
            ids = session.execute(person_search(tenant.id, query)).scalars().all()
            assert ids == [wanted.person_id], query
        for query in ("ナカ", "中", "%", "", "ヤマダタ"):
            assert session.execute(person_search(tenant.id, query)).all() == [], query
