from __future__ import annotations

import pytest

from tsunagu.engine.errors import DefinitionError
from tsunagu.engine.safe_xml import parse_xml

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&xxe;</bpmn:definitions>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<lolz>&lol9;</lolz>"""


def _problem(data: bytes, **kwargs: int) -> str:
    with pytest.raises(DefinitionError) as info:
        parse_xml(data, filename="upload.bpmn", **kwargs)
    assert len(info.value.problems) == 1
    problem = info.value.problems[0]
    assert problem.file == "upload.bpmn"
    return problem.message


def test_external_entity_is_rejected_before_parsing() -> None:
    assert "DOCTYPE" in _problem(XXE)


def test_billion_laughs_is_rejected() -> None:
    assert "entity expansion" in _problem(BILLION_LAUGHS)


def test_plain_doctype_is_rejected_with_its_line() -> None:
    with pytest.raises(DefinitionError) as info:
        parse_xml(b'<?xml version="1.0"?>\n\n<!DOCTYPE html>\n<a/>', filename="x.bpmn")
    assert info.value.problems[0].line == 3


def test_lowercase_doctype_is_rejected_too() -> None:
    assert "DOCTYPE" in _problem(b"<!doctype a><a/>")


def test_file_over_the_size_cap_is_rejected_before_parsing() -> None:
    assert "too large" in _problem(b"<a>" + b"x" * 200 + b"</a>", max_bytes=100)


def test_declared_non_utf8_encoding_is_rejected() -> None:
    assert "shift_jis" in _problem(b'<?xml version="1.0" encoding="Shift_JIS"?><a/>')


def test_utf16_document_is_rejected() -> None:
    assert "utf-16" in _problem("<a>あ</a>".encode("utf-16"))


def test_invalid_utf8_bytes_are_rejected() -> None:
    assert "UTF-8" in _problem(b"<a>\xff\xfe</a>")


def test_malformed_xml_reports_the_line_and_never_leaks_lxml_errors() -> None:
    with pytest.raises(DefinitionError) as info:
        parse_xml(b"<a>\n<b>\n</a>", filename="x.bpmn")
    assert info.value.problems[0].line == 3
    assert "not well-formed" in info.value.problems[0].message


@pytest.mark.parametrize("data", [b"", b"   ", b"\x00\x01", b"<<<>>>", b"<a>&undefined;</a>"])
def test_garbage_raises_definition_error(data: bytes) -> None:
    with pytest.raises(DefinitionError):
        parse_xml(data, filename="x.bpmn")


def test_valid_utf8_document_parses_with_line_numbers() -> None:
    root = parse_xml(
        '<?xml version="1.0" encoding="UTF-8"?>\n<a>\n  <b id="相談"/>\n</a>'.encode(), filename="x"
    )
    assert root.tag == "a"
    assert root[0].sourceline == 3
    assert root[0].get("id") == "相談"


def test_utf8_bom_is_accepted() -> None:
    assert parse_xml(b"\xef\xbb\xbf<a/>", filename="x").tag == "a"
