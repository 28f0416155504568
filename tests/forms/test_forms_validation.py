"""Validating and coercing submissions, with Japanese (default) and English messages."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from tsunagu.forms import load_form, messages, translate, validate_submission

FORM = load_form(
    {
        "type": "default",
        "id": "Form_test",
        "schemaVersion": 16,
        "components": [
            {
                "type": "textfield",
                "key": "name",
                "label": "氏名",
                "validate": {"required": True, "maxLength": 10},
            },
            {
                "type": "textfield",
                "key": "kana",
                "label": "ふりがな",
                "validate": {"pattern": "^[ァ-ヶー　 ]+$"},
            },
            {"type": "textarea", "key": "note", "label": "備考", "validate": {"minLength": 2}},
            {
                "type": "number",
                "key": "size",
                "label": "人数",
                "decimalDigits": 0,
                "validate": {"required": True, "min": 1, "max": 20},
            },
            {"type": "number", "key": "income", "label": "収入", "validate": {"min": 0}},
            {"type": "number", "key": "ratio", "label": "割合", "decimalDigits": 2},
            {
                "type": "datetime",
                "key": "born",
                "subtype": "date",
                "dateLabel": "生年月日",
                "validate": {"required": True},
            },
            {"type": "datetime", "key": "at", "subtype": "time", "timeLabel": "時刻"},
            {
                "type": "select",
                "key": "urgency",
                "label": "緊急度",
                "values": [{"label": "高", "value": "high"}, {"label": "低", "value": "low"}],
            },
            {
                "type": "radio",
                "key": "outcome",
                "label": "結果",
                "validate": {"required": True},
                "values": [{"label": "終結", "value": "close"}, {"label": "中断", "value": "suspend"}],
            },
            {"type": "checkbox", "key": "agreed", "label": "同意", "validate": {"required": True}},
            {"type": "checkbox", "key": "tax", "label": "税情報"},
            {
                "type": "checklist",
                "key": "topics",
                "label": "相談内容",
                "validate": {"required": True},
                "values": [
                    {"label": "健康", "value": "health"},
                    {"label": "住まい", "value": "housing"},
                    {"label": "債務", "value": "debt"},
                ],
            },
            {
                "type": "checklist",
                "key": "extra_topics",
                "label": "その他",
                "values": [{"label": "食", "value": "food"}],
            },
            {
                "type": "group",
                "label": "連絡先",
                "path": "contact",
                "components": [
                    {"type": "textfield", "key": "phone", "label": "電話", "validate": {"required": True}},
                ],
            },
            {
                "type": "group",
                "label": "表示のみ",
                "components": [
                    {"type": "textfield", "key": "memo", "label": "メモ", "validate": {"maxLength": 3}},
                ],
            },
            {
                "type": "textfield",
                "key": "hidden_reason",
                "label": "理由",
                "validate": {"required": True},
                "conditional": {"hide": "=agreed"},
            },
        ],
    }
)

VALID = {
    "name": "山田",
    "size": 2,
    "born": "1985-06-15",
    "outcome": "close",
    "agreed": True,
    "topics": ["health"],
    "contact": {"phone": "042-000-0000"},
}


def check(**changes):
    data = {**VALID, **changes}
    return validate_submission(FORM, data)


def test_a_valid_submission_is_cleaned_with_defaults():
    cleaned, errors = validate_submission(FORM, VALID)
    assert errors == {}
    assert cleaned == {
        "name": "山田",
        "kana": None,
        "note": None,
        "size": 2,
        "income": None,
        "ratio": None,
        "born": "1985-06-15",
        "at": None,
        "urgency": None,
        "outcome": "close",
        "agreed": True,
        "tax": False,
        "topics": ["health"],
        "extra_topics": [],
        "contact": {"phone": "042-000-0000"},
        "memo": None,
        "hidden_reason": None,
    }


def test_required_fields_missing():
    _, errors = validate_submission(FORM, {})
    assert errors == {
        "name": ["必須項目です"],
        "size": ["必須項目です"],
        "born": ["必須項目です"],
        "outcome": ["必須項目です"],
        "agreed": ["必須項目です"],
        "topics": ["必須項目です"],
        "contact.phone": ["必須項目です"],
        "hidden_reason": ["必須項目です"],  # shown: `=agreed` is false without the checkbox
    }


@pytest.mark.parametrize("blank", ["", "   ", None])
def test_blank_text_counts_as_missing(blank):
    _, errors = check(name=blank)
    assert errors == {"name": ["必須項目です"]}


def test_unchecked_required_checkbox_is_missing():
    assert check(agreed=False, hidden_reason="理由")[1] == {"agreed": ["必須項目です"]}
    assert check(agreed="false", hidden_reason="理由")[1] == {"agreed": ["必須項目です"]}


@pytest.mark.parametrize("value", ["abc", "1.2.3", True, [1], {"n": 1}, "nan", "Infinity"])
def test_wrong_type_for_a_number(value):
    assert check(size=value)[1] == {"size": ["数値を入力してください"]}


def test_wrong_type_for_text_and_checkbox_and_checklist():
    _, errors = check(name=["山田"], tax="maybe", topics={"health": True})
    assert errors == {
        "name": ["文字列を入力してください"],
        "tax": ["チェックの値が正しくありません"],
        "topics": ["選択肢の一覧で指定してください"],
    }


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"size": 0}, {"size": ["1以上の値を入力してください"]}),
        ({"size": "21"}, {"size": ["20以下の値を入力してください"]}),
        ({"income": -1}, {"income": ["0以上の値を入力してください"]}),
        ({"size": 2.5}, {"size": ["整数を入力してください"]}),
        ({"ratio": "0.125"}, {"ratio": ["小数点以下は2桁以内で入力してください"]}),
        ({"name": "あ" * 11}, {"name": ["10文字以内で入力してください"]}),
        ({"note": "あ"}, {"note": ["2文字以上で入力してください"]}),
        ({"memo": "1234"}, {"memo": ["3文字以内で入力してください"]}),
    ],
)
def test_out_of_range(changes, errors):
    assert check(**changes)[1] == errors


def test_bad_option_values():
    _, errors = check(urgency="urgent", outcome="replan", topics=["health", "gambling"])
    assert errors == {
        "urgency": ["選択肢にない値です"],
        "outcome": ["選択肢にない値です"],
        "topics": ["選択肢にない値です"],
    }


@pytest.mark.parametrize("kana", ["やまだ", "Yamada", "ヤマダ1"])
def test_bad_pattern(kana):
    assert check(kana=kana)[1] == {"kana": ["形式が正しくありません"]}


def test_good_pattern_with_full_width_space():
    cleaned, errors = check(kana="ヤマダ　ハナコ")
    assert errors == {}
    assert cleaned["kana"] == "ヤマダ　ハナコ"


@pytest.mark.parametrize("born", ["2020-13-01", "2020-02-30", "2020/01/01", "01-01-2020", "昨日", 20200101])
def test_bad_dates(born):
    assert check(born=born)[1] == {"born": ["日付の形式が正しくありません（YYYY-MM-DD）"]}


def test_bad_time():
    assert check(at="25:00")[1] == {"at": ["時刻の形式が正しくありません（HH:MM）"]}


def test_checklist_is_deduplicated_and_accepts_a_single_value():
    assert check(topics=["debt", "health", "debt"])[0]["topics"] == ["debt", "health"]
    assert check(topics="housing")[0]["topics"] == ["housing"]
    assert check(topics=[])[1] == {"topics": ["必須項目です"]}


def test_coercion():
    cleaned, errors = check(
        size="１２",
        income="1,200,000",
        ratio="0.25",
        born=date(1990, 1, 2),
        at="09:30:00",
        tax="on",
        agreed="true",
        note="一行目\r\n二行目",
    )
    assert errors == {}
    assert cleaned["size"] == 12 and isinstance(cleaned["size"], int)
    assert cleaned["income"] == 1200000 and isinstance(cleaned["income"], int)
    assert cleaned["ratio"] == 0.25 and isinstance(cleaned["ratio"], float)
    assert cleaned["born"] == "1990-01-02"
    assert cleaned["at"] == "09:30"
    assert cleaned["tax"] is True and cleaned["agreed"] is True
    assert cleaned["note"] == "一行目\n二行目"
    assert check(born=datetime(1990, 1, 2, 10, 0))[0]["born"] == "1990-01-02"
    assert check(size=3.0)[0]["size"] == 3


def test_groups_with_a_path_are_nested_and_plain_groups_are_flat():
    cleaned, errors = check(contact={"phone": "090-1111-2222", "fax": "x"}, memo="abc")
    assert errors == {}
    assert cleaned["contact"] == {"phone": "090-1111-2222"}
    assert cleaned["memo"] == "abc"
    assert check(contact="042")[1] == {"contact.phone": ["必須項目です"]}


def test_unknown_keys_are_dropped_not_reported():
    cleaned, errors = check(is_admin=True, submit="送信")
    assert errors == {}
    assert "is_admin" not in cleaned and "submit" not in cleaned


def test_a_hidden_field_is_neither_required_nor_validated_nor_stored():
    cleaned, errors = check(hidden_reason=["x"])  # agreed: `=agreed` hides it
    assert errors == {}
    assert cleaned["hidden_reason"] is None


def test_a_shown_conditional_field_is_required_and_validated():
    assert check(agreed=False)[1]["hidden_reason"] == ["必須項目です"]
    assert check(agreed=False, hidden_reason=["x"])[1]["hidden_reason"] == ["文字列を入力してください"]
    cleaned, errors = check(agreed=False, hidden_reason="理由")
    assert "hidden_reason" not in errors and cleaned["hidden_reason"] == "理由"


def test_invalid_fields_are_left_out_of_cleaned_data():
    cleaned, errors = check(size="many")
    assert "size" in errors
    assert "size" not in cleaned


def test_english_messages():
    _, errors = validate_submission(FORM, {**VALID, "name": "", "size": 40}, lang="en")
    assert errors == {"name": ["This field is required"], "size": ["Enter a value of 20 or less"]}


def test_message_catalogues_have_the_same_codes():
    ja, en = messages("ja"), messages("en")
    assert set(ja) == set(en)
    assert messages("fr") == ja
    assert translate("max_length", n=50) == "50文字以内で入力してください"
    assert translate("max_length", "en", n=50) == "Enter at most 50 characters"
    assert translate("min", min=0.0) == "0以上の値を入力してください"


def test_non_dict_submission_is_treated_as_empty():
    _, errors = validate_submission(FORM, None)
    assert "name" in errors


# --- issue #10: bounded parsing of numbers, text and lists -----------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["1e10000000", "-1e10000000", "0e10000000", "1e-10000000", "9" * 5000, "1" * 33, "1e999", 10**4000],
    ids=lambda value: f"{str(value)[:12]}({len(str(value))})",
)
def test_a_number_too_long_or_too_large_is_refused_before_converting(value):
    # "1e10000000" (27 bytes in JSON) made int(Decimal(...)) build a 10-million-digit integer for 30 s.
    _, errors = check(income=value, ratio=value)
    assert set(errors) == {"income", "ratio"}, value


def test_numbers_past_the_platform_range_name_the_limit_when_the_form_sets_none():
    _, errors = check(ratio="10000000000000000", income=10**16)
    assert errors == {
        "ratio": ["1000000000000000以下の値を入力してください"],
        "income": ["1000000000000000以下の値を入力してください"],
    }
    _, errors = check(ratio=-(10**16))
    assert errors == {"ratio": ["-1000000000000000以上の値を入力してください"]}
    cleaned, errors = check(ratio="1,000,000.25", income="１２３")
    assert errors == {} and cleaned["ratio"] == 1000000.25 and cleaned["income"] == 123
    _, errors = check(size="1e10000000")  # a declared max still answers first
    assert errors == {"size": ["20以下の値を入力してください"]}


def test_text_without_a_declared_max_length_has_a_platform_cap():
    from tsunagu.core import limits

    _, errors = check(kana="ア" * (limits.TEXTFIELD_MAX + 1), note="あ" * (limits.TEXTAREA_MAX + 1))
    assert errors == {
        "kana": [f"{limits.TEXTFIELD_MAX}文字以内で入力してください"],
        "note": [f"{limits.TEXTAREA_MAX}文字以内で入力してください"],
    }
    cleaned, errors = check(kana="ア" * limits.TEXTFIELD_MAX, note="あ" * limits.TEXTAREA_MAX)
    assert errors == {} and len(cleaned["note"]) == limits.TEXTAREA_MAX


def test_choices_from_data_are_bounded_in_length_and_count():
    from tsunagu.core import limits

    form = load_form(
        {
            "components": [
                {"type": "select", "key": "who", "label": "担当", "valuesKey": "staff"},
                {"type": "taglist", "key": "tags", "label": "タグ", "valuesKey": "tags"},
            ]
        }
    )
    _, errors = validate_submission(form, {"who": "x" * 100_000, "tags": [str(i) for i in range(50_000)]})
    assert set(errors) == {"who", "tags"}
    cleaned, errors = validate_submission(form, {"who": "佐藤", "tags": ["a", "b", "a"]})
    assert errors == {} and cleaned == {"who": "佐藤", "tags": ["a", "b"]}
    assert limits.MAX_CHOICES >= 100
