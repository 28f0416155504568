from __future__ import annotations

from datetime import date

import pytest

from tsunagu.engine.errors import OperationError
from tsunagu.engine.operations import OPERATIONS, PARAM_TYPES, get_operation


def test_the_platform_owns_exactly_these_operations() -> None:
    assert set(OPERATIONS) == {
        "notify",
        "schedule_meeting",
        "record_statistic",
        "add_to_agenda",
        "export_case",
    }
    for operation in OPERATIONS.values():
        assert operation.description
        assert all(p.type in PARAM_TYPES for p in operation.params)


def test_unknown_operation_raises_naming_it() -> None:
    with pytest.raises(OperationError, match="unknown service operation 'shell'"):
        get_operation("shell")


def test_parameters_are_checked_and_made_json_friendly() -> None:
    params = get_operation("schedule_meeting").coerce_params(
        {"scope": "adhoc", "meeting_date": date(2026, 4, 1), "purpose": None}
    )
    assert params == {"scope": "adhoc", "meeting_date": "2026-04-01"}


def test_unknown_parameter_is_refused() -> None:
    with pytest.raises(OperationError, match="no parameter"):
        get_operation("notify").coerce_params({"template": "t", "case_id": "x"})


def test_missing_required_parameter_is_refused() -> None:
    with pytest.raises(OperationError, match="requires parameter 'template'"):
        get_operation("notify").coerce_params({})


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("notify", {"template": 1}),
        ("record_statistic", {"metric": "m", "value": "1"}),
        ("add_to_agenda", {"purpose": "p", "after_the_fact_report": "yes"}),
        ("add_to_agenda", {"purpose": "p", "due": "not a date"}),
        ("export_case", {"format": "pdf", "sections": [{"nested": 1}]}),
    ],
)
def test_wrongly_typed_parameter_is_refused(name: str, values: dict[str, object]) -> None:
    with pytest.raises(OperationError, match="must be of type"):
        get_operation(name).coerce_params(values)
