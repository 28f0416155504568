"""Hardened XML parsing for uploaded BPMN/DMN definitions.

Tenant uploads are untrusted. Before lxml sees a byte we cap the size, insist on UTF-8 and refuse any DTD
(a DOCTYPE is the carrier for XXE and entity-expansion attacks; BPMN and DMN never need one). The parser
itself is configured so that even a DTD that slipped through could not load, resolve or expand anything.
Every failure is a ``DefinitionError`` naming the file and line — lxml exceptions never leak.
"""

from __future__ import annotations

import re

from lxml import etree

from .errors import DefinitionError, Problem

DEFAULT_MAX_BYTES = 2_000_000

_BOMS = {
    b"\xef\xbb\xbf": "utf-8",
    b"\xff\xfe\x00\x00": "utf-32",
    b"\x00\x00\xfe\xff": "utf-32",
    b"\xff\xfe": "utf-16",
    b"\xfe\xff": "utf-16",
}
_DECLARATION = re.compile(rb"""^\s*<\?xml\b[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._\-]+)["']""")
_ACCEPTED_ENCODINGS = {"utf-8", "utf8", "us-ascii", "ascii"}
# XML keywords are case-sensitive, but matching case-insensitively costs nothing and refuses more.
_DTD_MARKERS = re.compile(rb"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)", re.IGNORECASE)


def _fail(filename: str, message: str, line: int | None = None) -> DefinitionError:
    return DefinitionError([Problem(filename, line, None, message)])


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _check_encoding(data: bytes, filename: str) -> None:
    for bom, name in _BOMS.items():
        if data.startswith(bom):
            if name != "utf-8":
                raise _fail(
                    filename,
                    f"文字コード {name} には対応していません。UTF-8 で保存してください / "
                    f"encoding {name} is not supported; save the file as UTF-8",
                    1,
                )
            break
    if b"\x00" in data:
        raise _fail(filename, "NUL バイトを含むファイルは読めません / file contains NUL bytes (UTF-16?)")
    match = _DECLARATION.match(data.removeprefix(b"\xef\xbb\xbf"))
    if match:
        declared = match.group(1).decode("ascii").lower()
        if declared not in _ACCEPTED_ENCODINGS:
            raise _fail(
                filename,
                f"宣言された文字コード {declared} には対応していません。UTF-8 にしてください / "
                f"declared encoding '{declared}' is not supported; use UTF-8",
                1,
            )
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(
            filename,
            "UTF-8 として読めないバイトがあります / file is not valid UTF-8",
            _line_of(data, exc.start),
        ) from None


def _parser() -> etree.XMLParser:
    # A new parser per call: lxml parsers are not safe to share between threads.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


def parse_xml(data: bytes, *, filename: str, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """Parse untrusted XML bytes into an element tree root, or raise ``DefinitionError``."""
    if not isinstance(data, bytes | bytearray):
        raise _fail(filename, "XML はバイト列で渡してください / XML must be given as bytes")
    data = bytes(data)
    if len(data) > max_bytes:
        raise _fail(
            filename,
            f"ファイルが大きすぎます（{len(data):,} バイト、上限 {max_bytes:,} バイト） / "
            f"file is too large ({len(data):,} bytes; the limit is {max_bytes:,})",
        )
    if not data.strip():
        raise _fail(filename, "ファイルが空です / file is empty")
    _check_encoding(data, filename)
    marker = _DTD_MARKERS.search(data)
    if marker:
        raise _fail(
            filename,
            "DOCTYPE・ENTITY 宣言は使えません（外部実体・実体展開攻撃の防止） / DOCTYPE and ENTITY "
            "declarations are not allowed (XXE / entity expansion)",
            _line_of(data, marker.start()),
        )
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise _fail(filename, f"XML として読めません: {exc.msg} / not well-formed XML", exc.lineno) from None
    except (etree.LxmlError, ValueError) as exc:
        raise _fail(filename, f"XML として読めません / cannot parse XML: {exc}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise _fail(filename, "DOCTYPE は使えません / DOCTYPE is not allowed", 1)
    return root
