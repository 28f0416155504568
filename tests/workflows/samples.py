"""Valid form submissions for every form of the standard library (as a browser would send them).

Each function returns a fresh dict; keyword arguments override fields. Values are deliberately given in the
loose shapes a browser sends (numbers as strings, checkbox strings) so that the driver exercises coercion.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    base.update(overrides)
    return base


def intake(**kw: Any) -> dict[str, Any]:
    return _merge(
        {
            "reception_date": "2026-04-01",
            "contact_route": "office",
            "name": "山田 花子",
            "name_kana": "ヤマダ　ハナコ",
            "birth_date": "1985-06-15",
            "gender": "female",
            "postal_code": "186-0001",
            "address": "東京都国立市北1-1-1",
            "phone": "042-576-0000",
            "household_size": "2",
            "household_composition": "本人と長男（高校生）",
            "consultation_topics": ["income", "debt", "work"],
            "main_topic": "debt",
            "consultation_detail": "失職して家賃と携帯電話料金の支払いが滞っている。",
            "screening_outcome": "continue",
        },
        kw,
    )


def consent(**kw: Any) -> dict[str, Any]:
    return _merge(
        {
            "consent_application": True,
            "application_date": "2026-04-01",
            "signature_confirmed": "on",
            "signature_date": "2026-04-01",
            "consent_agencies": ["municipality", "hello_work", "providers"],
            "consent_categories": ["identity", "household", "income", "work"],
            "consent_tax_info": False,
        },
        kw,
    )


def assessment(**kw: Any) -> dict[str, Any]:
    return _merge(
        {
            "assessment_date": "2026-04-08",
            "household_situation": "母子世帯。長男は高校2年生。",
            "housing_status": "rented",
            "monthly_income": "80,000",
            "debt_amount": 350000,
            "strengths": "子育てへの意欲が高い。事務職の経験がある。",
            "problems_and_causes": "失職による収入減と滞納。就労の見通しが立っていない。",
            "urgency": "normal",
            "complexity": "normal",
            "external_agencies": True,
            "emergency_support": False,
        },
        kw,
    )


def emergency_support(**kw: Any) -> dict[str, Any]:
    return _merge(
        {
            "emergency_types": ["food"],
            "emergency_start_date": "2026-04-08",
            "emergency_detail": "フードバンクから食料を提供した。",
        },
        kw,
    )


def months_before(day: date, months: int) -> date:
    total = day.year * 12 + day.month - 1 - months
    year, month = divmod(total, 12)
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month + 1, d)
        except ValueError:
            continue
    raise AssertionError(day)


def plan(end_in_days: int = 180, **kw: Any) -> dict[str, Any]:
    """A plan whose end date fits its period (the form's ``period_end`` rule): unless the caller gives
    ``plan_date``, the plan was made ``plan_period`` before ``plan_end_date``."""
    data = _plan(end_in_days, **kw)
    if "plan_date" not in kw and isinstance(data.get("plan_end_date"), str) and data.get("plan_period"):
        months = {"P3M": 3, "P6M": 6, "P9M": 9, "P12M": 12}.get(str(data["plan_period"]))
        if months:
            end = date.fromisoformat(data["plan_end_date"])
            data["plan_date"] = months_before(end, months).isoformat()
    return data


def _plan(end_in_days: int, **kw: Any) -> dict[str, Any]:
    return _merge(
        {
            "plan_date": "2026-04-15",
            "plan_period": "P6M",
            "plan_end_date": (date.today() + timedelta(days=end_in_days)).isoformat(),
            "long_term_goal": "安定した収入を得て、子どもと安心して暮らす。",
            "short_term_goals": "家計を整理し、滞納を解消する。就職活動を始める。",
            "support_1_own_action": "家計簿をつける",
            "support_1_provider": "家計改善支援員",
            "support_1_content": "家計の見直しと滞納の分納相談",
            "support_1_frequency": "月2回",
            "statutory_programmes": ["household_finance"],
            "early_start": False,
            "internal_only": False,
            "person_agreed": True,
        },
        kw,
    )


def progress_record(**kw: Any) -> dict[str, Any]:
    return _merge(
        {
            "record_date": "2026-05-01",
            "record_method": "office",
            "staff_name": "佐藤",
            "record_content": "家計表を一緒に作成した。",
        },
        kw,
    )


def support_decision(**kw: Any) -> dict[str, Any]:
    return _merge(
        {
            "decision_date": "2026-04-25",
            "decision_number": "R8-001",
            "programmes_decided": ["household_finance"],
            "decision_notice_sent": True,
        },
        kw,
    )


def support_confirmation(**kw: Any) -> dict[str, Any]:
    return _merge({"confirmation_date": "2026-04-25", "confirmed_by": "福祉総務課 鈴木"}, kw)


def monitoring(**kw: Any) -> dict[str, Any]:
    return _merge(
        {
            "monitoring_date": "2026-05-15",
            "progress_status": "on_track",
            "goal_progress": "分納の合意ができた。",
            "request_early_evaluation": False,
        },
        kw,
    )


def evaluation(**kw: Any) -> dict[str, Any]:
    return _merge(
        {
            "evaluation_date": "2026-10-15",
            "goal_achievement": "mostly_achieved",
            "changes_observed": ["motivation", "finances"],
            "got_work": True,
            "income_increase": "true",
            "evaluation_outcome": "close",
            "follow_up": False,
        },
        kw,
    )


def follow_up(**kw: Any) -> dict[str, Any]:
    return _merge(
        {
            "follow_up_date": "2027-01-15",
            "follow_up_method": "phone",
            "follow_up_content": "就労を継続している。",
        },
        kw,
    )


def after_the_fact_report(**kw: Any) -> dict[str, Any]:
    return _merge(
        {
            "after_the_fact_report": True,
            "support_started_on": "2026-04-16",
            "reason_for_early_start": "滞納による退去の恐れがあり、会議を待てなかった。",
        },
        kw,
    )


def meeting_result(decision: str = "approve", **kw: Any) -> dict[str, Any]:
    return _merge(
        {
            "meeting_date": "2026-04-20",
            "meeting_decision": decision,
            "attendees": "市担当者、相談支援員、家計改善支援員",
            "roles_assigned": "家計改善支援員が分納交渉を支援する。",
        },
        kw,
    )


def adhoc_convene(**kw: Any) -> dict[str, Any]:
    return _merge(
        {
            "meeting_date": "2026-04-18",
            "meeting_time": "14:00",
            "venue": "市役所 第3会議室",
            "attendees": "市担当者、相談支援員、ハローワーク就職支援ナビゲーター",
            "absent_members": "社会福祉協議会",
            "written_input": "社協：貸付の相談に応じる用意がある。",
            "person_attends": True,
        },
        kw,
    )


def adhoc_internal_convene(**kw: Any) -> dict[str, Any]:
    return _merge(
        {
            "meeting_date": "2026-04-18",
            "meeting_time": "10:30",
            "venue": "市役所 相談室",
            "attendees": "市担当者、相談支援員",
        },
        kw,
    )


#: formKey → sample submission factory
BY_FORM_KEY = {
    "intake": intake,
    "consent": consent,
    "assessment": assessment,
    "emergency_support": emergency_support,
    "plan": plan,
    "progress_record": progress_record,
    "support_decision": support_decision,
    "support_confirmation": support_confirmation,
    "monitoring": monitoring,
    "evaluation": evaluation,
    "follow_up": follow_up,
    "after_the_fact_report": after_the_fact_report,
    "meeting_result": meeting_result,
    "adhoc_convene": adhoc_convene,
    "adhoc_internal_convene": adhoc_internal_convene,
}
