"""Finding a person whose name, kana and birth date are sealed: the blind index (issue #16).

``person_index`` holds keyed HMACs (the tenant's blind-index key, ``tsunagu.keys``) of normalised values, never
the values: every prefix of the kana (so a kana *prefix* search still works, as ``CaseFilters.kana`` always
did), the whole name, and the birth date. The index is kept by mapper hooks on :class:`~.models.Person`, so
every path that creates or corrects a person keeps it current. Other modules search with :func:`person_match`.

Normalisation (:func:`normalise_kana`): NFKC (half-width katakana become full-width), hiragana become katakana,
spaces and ``・`` are dropped — so ``やまだ``, ``ﾔﾏﾀﾞ`` and ``ヤマダ`` find the same person.
"""

from __future__ import annotations

import unicodedata
import uuid
from datetime import date
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    ForeignKeyConstraint,
    Index,
    Select,
    String,
    Table,
    Uuid,
    delete,
    event,
    insert,
    select,
    true,
)
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.orm.attributes import get_history

from ..core import sealed
from ..core.db import Base, TenantScoped
from ..keys import services as keys
from .models import Person

#: prefixes of the kana indexed (a longer query matches on its first this-many characters)
KANA_PREFIX_MAX = 30


class PersonIndex(TenantScoped, Base):
    """One blind-index entry: ``kind`` (``kana`` prefix, ``name``, ``birth``) and the HMAC digest."""

    __tablename__ = "person_index"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "person_id"], ["person.tenant_id", "person.id"], ondelete="CASCADE"
        ),
        Index(None, "tenant_id", "person_id"),
    )

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    digest: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)


def _squeeze(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "")
    return "".join(ch for ch in text if not ch.isspace() and ch != "・")


def normalise_kana(text: str) -> str:
    out = []
    for ch in _squeeze(text):
        code = ord(ch)
        out.append(chr(code + 0x60) if 0x3041 <= code <= 0x3096 else ch)  # hiragana → katakana
    return "".join(out)


def normalise_name(text: str) -> str:
    return _squeeze(text).casefold()


def normalise_term(text: str) -> str:
    """A search term of the inbox's free-text search: kana-normalised and case-folded."""
    return normalise_kana(text).casefold()


def _terms(name: str, kana: str) -> set[str]:
    """What the free-text search (``q``) finds a person by: every prefix of the whole name and kana and of
    each of their space-separated parts (surname, given name)."""
    out: set[str] = set()
    for text in (name or "", kana or ""):
        for part in {text, *unicodedata.normalize("NFKC", text).split()}:
            norm = normalise_term(part)
            out.update(norm[:n] for n in range(1, min(len(norm), KANA_PREFIX_MAX) + 1))
    return out


def _entries(tenant_id: uuid.UUID, name: str, kana: str, birth: date | None) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    norm = normalise_kana(kana)
    for n in range(1, min(len(norm), KANA_PREFIX_MAX) + 1):
        out.add(("kana", keys.blind_digest(tenant_id, "kana", norm[:n])))
    out.update(("term", keys.blind_digest(tenant_id, "term", term)) for term in _terms(name, kana))
    if normalise_name(name):
        out.add(("name", keys.blind_digest(tenant_id, "name", normalise_name(name))))
    if birth is not None:
        out.add(("birth", keys.blind_digest(tenant_id, "birth", birth.isoformat())))
    return out


def _write_index(connection: Any, person: Person) -> None:
    table = cast(Table, PersonIndex.__table__)
    connection.execute(
        delete(table).where(table.c.tenant_id == person.tenant_id, table.c.person_id == person.id)
    )
    rows = [
        {"tenant_id": person.tenant_id, "kind": kind, "digest": digest, "person_id": person.id}
        for kind, digest in _entries(person.tenant_id, person.name, person.name_kana, person.birth_date)
    ]
    if rows:
        connection.execute(insert(table), rows)


@event.listens_for(Person, "after_insert")
def _index_new(_mapper: Any, connection: Any, target: Person) -> None:
    _write_index(connection, target)


@event.listens_for(Person, "after_update")
def _index_changed(_mapper: Any, connection: Any, target: Person) -> None:
    if any(get_history(target, a).has_changes() for a in ("name", "name_kana", "birth_date")):
        _write_index(connection, target)


def person_match(
    session: Session, *, kana: str | None = None, name: str | None = None, birth_date: date | None = None
) -> ColumnElement[bool]:
    """A where-clause on :class:`Person` (``Person.id IN (...)``): people whose kana starts with ``kana`` and
    whose name and birth date equal ``name`` / ``birth_date`` (each only when given; all given must match)."""
    tenant_id = session.info["tenant_id"]
    with sealed.sealing_for(
        tenant_id, session
    ):  # a first search may make the tenant's keys: in this transaction
        wanted = _wanted(tenant_id, kana, name, birth_date)
    clause: ColumnElement[bool] = true()
    for kind, digest in wanted:
        clause = clause & Person.id.in_(
            select(PersonIndex.person_id).where(
                PersonIndex.tenant_id == tenant_id, PersonIndex.kind == kind, PersonIndex.digest == digest
            )
        )
    return clause


def _wanted(
    tenant_id: uuid.UUID, kana: str | None, name: str | None, birth_date: date | None
) -> list[tuple[str, str]]:
    wanted: list[tuple[str, str]] = []
    if kana is not None and normalise_kana(kana):
        wanted.append(("kana", keys.blind_digest(tenant_id, "kana", normalise_kana(kana)[:KANA_PREFIX_MAX])))
    if name is not None and normalise_name(name):
        wanted.append(("name", keys.blind_digest(tenant_id, "name", normalise_name(name))))
    if birth_date is not None:
        wanted.append(("birth", keys.blind_digest(tenant_id, "birth", birth_date.isoformat())))
    return wanted


def person_search(tenant_id: uuid.UUID, text: str) -> Select[Any]:
    """Ids of the people a free-text search finds (the inbox's ``q``): ``text`` is a prefix of their name or
    kana, or of its surname or given name, in any kana form. Empty text finds nobody."""
    term = normalise_term(text.strip())[:KANA_PREFIX_MAX]
    digest = keys.blind_digest(tenant_id, "term", term) if term else ""
    return select(PersonIndex.person_id).where(
        PersonIndex.tenant_id == tenant_id, PersonIndex.kind == "term", PersonIndex.digest == digest
    )


def reindex(session: Session, *, batch: int = 500) -> int:
    """Rebuild the blind index of every person of the session's tenant (after the migration); returns count."""
    count = 0
    for person in session.execute(select(Person).execution_options(yield_per=batch)).scalars():
        _write_index(session.connection(), person)
        count += 1
    return count
