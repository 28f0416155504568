"""Refusing script-bearing markup in uploaded BPMN/DMN: documentation, extension elements and DI.

BPMN lets any XML ride along — ``bpmn:documentation`` and ``bpmn:extensionElements`` take arbitrary content,
DI and every element take foreign attributes — so an upload can carry XHTML or SVG with ``<script>``,
``<foreignObject>``, ``onload=`` / ``onerror=`` handlers or ``javascript:`` links. Nothing of ours renders it
as HTML today and the page's Content-Security-Policy would stop inline script anyway, but a later viewer
feature, a modeller opening the exported file, or the XML opened directly in a browser should not depend
on that. So it is **refused at upload** with file, line and element, like every other validation problem,
rather than stripped: stripping silently changes what the administrator uploaded (and a sanitizer that
removes only what it recognises is easy to get wrong), while a refusal says exactly what to remove.

What is refused, anywhere in the document:

* processing instructions (``<?xml-stylesheet href=…?>`` would run XSLT when the file is opened directly);
* elements outside the BPMN/DMN/DI/SpiffWorkflow namespaces named ``script``, ``foreignObject``,
  ``iframe``, ``object``, ``embed``, ``style``, SVG animation elements and the like;
* event-handler attributes (``on…``) in any namespace;
* ``javascript:``, ``vbscript:`` and ``data:`` URLs in link attributes (``href``, ``xlink:href``, ``src``,
  …) and in any attribute or text of foreign (XHTML, SVG, …) markup;
* in ``documentation`` / annotation text, escaped markup carrying the same (``&lt;script&gt;``,
  ``&lt;img onerror=…&gt;``, ``javascript:``), which a viewer rendering documentation as HTML would run.
"""

from __future__ import annotations

import re

from lxml import etree

from .errors import Problem
from .policy import SPIFF_NS

#: Namespaces whose elements are the model itself (BPMN, DMN, their DI, SpiffWorkflow, modeller metadata).
_MODEL_PREFIXES = (
    "http://www.omg.org/spec/",
    "https://www.omg.org/spec/",
    SPIFF_NS,
    "http://bpmn.io/schema/",
    "http://camunda.org/schema/",
    "http://www.w3.org/2001/XMLSchema-instance",
)
_ACTIVE_ELEMENTS = {
    "script",
    "foreignobject",
    "iframe",
    "frame",
    "frameset",
    "object",
    "embed",
    "applet",
    "base",
    "link",
    "meta",
    "style",
    "form",
    "handler",
    "listener",
    "animate",
    "animatemotion",
    "animatetransform",
    "set",
}
_URL_ATTRIBUTES = {
    "href",
    "src",
    "action",
    "formaction",
    "data",
    "codebase",
    "poster",
    "background",
    "srcdoc",
}
#: BPMN's own attributes that merely start with "on".
_MODEL_ON_ATTRIBUTES = {"oneBehaviorEventRef"}
# Browsers ignore ASCII whitespace and control characters inside a URL scheme ("java\tscript:").
_IGNORED_IN_SCHEME = re.compile(r"[\x00-\x20\x7f]+")
_ACTIVE_SCHEME = re.compile(r"(javascript|vbscript|livescript|data):", re.IGNORECASE)
#: Model elements whose text a viewer may show: BPMN documentation and text annotations, DMN descriptions.
_TEXT_ELEMENTS = {"documentation", "text", "description"}
_SCRIPT_SCHEME_IN_TEXT = re.compile(r"(javascript|vbscript|livescript):", re.IGNORECASE)
_TAG_IN_TEXT = re.compile(r"<\s*/?\s*([A-Za-z][\w:.-]*)([^<>]*)", re.DOTALL)
_HANDLER_IN_TAG = re.compile(r"(^|[\s/\"'])on[a-z]+\s*=", re.IGNORECASE)

_PROCESSING_INSTRUCTION = re.compile(rb"<\?(?!xml[\s?])")
_PI = "処理命令は使えません / processing instructions (<?...?>) are not allowed"


def _is_model(namespace: str | None) -> bool:
    return bool(namespace) and str(namespace).startswith(_MODEL_PREFIXES)


def _owner_id(element: etree._Element) -> str | None:
    node: etree._Element | None = element
    while node is not None:
        if isinstance(node.tag, str) and node.get("id"):
            return node.get("id")
        node = node.getparent()
    return None


def _problem(filename: str, element: etree._Element, message: str) -> Problem:
    return Problem(filename, element.sourceline, _owner_id(element), message)


def _has_active_scheme(value: str, *, anywhere: bool) -> bool:
    compact = _IGNORED_IN_SCHEME.sub("", value)
    return bool(_ACTIVE_SCHEME.search(compact) if anywhere else _ACTIVE_SCHEME.match(compact))


def _text_problem(text: str) -> str | None:
    for match in _TAG_IN_TEXT.finditer(text):
        name = match.group(1).split(":")[-1].lower()
        if name in _ACTIVE_ELEMENTS:
            return f"<{match.group(1)}>"
        if _HANDLER_IN_TAG.search(match.group(2)):
            return f"<{match.group(1)} on…=>"
    if _SCRIPT_SCHEME_IN_TEXT.search(_IGNORED_IN_SCHEME.sub("", text)):
        return "javascript:"
    return None


def _is_text_element(qname: etree.QName) -> bool:
    namespace = qname.namespace or ""
    if qname.localname == "text":  # DMN's <text> holds FEEL expressions ("< 5"), BPMN's annotation text
        return "/BPMN/" in namespace
    return qname.localname in _TEXT_ELEMENTS and _is_model(namespace)


def _attribute_problems(filename: str, element: etree._Element, foreign: bool) -> list[Problem]:
    problems = []
    for attribute, value in element.attrib.items():
        qname = etree.QName(attribute)
        local = qname.localname
        if local.lower().startswith("on") and len(local) > 2:
            if not (local in _MODEL_ON_ATTRIBUTES and qname.namespace is None and not foreign):
                problems.append(
                    _problem(
                        filename,
                        element,
                        f"イベントハンドラー属性 {local} は使えません / event handler attribute '{local}' "
                        "is not allowed (it would run script when the diagram is shown)",
                    )
                )
                continue
        if _has_active_scheme(value, anywhere=foreign) and (foreign or local.lower() in _URL_ATTRIBUTES):
            problems.append(
                _problem(
                    filename,
                    element,
                    f"属性 {local} に javascript:/data: の URL は使えません / attribute '{local}' holds a "
                    "javascript:, vbscript: or data: URL, which is not allowed",
                )
            )
    return problems


def markup_problems(root: etree._Element, filename: str, data: bytes) -> list[Problem]:
    """Script-bearing markup anywhere in a BPMN/DMN document (``root`` parsed from ``data``, the bytes that
    are stored and served); an empty list means none."""
    # The hardened parser drops processing instructions, but the stored file keeps them: look at the bytes.
    problems = [
        Problem(filename, data.count(b"\n", 0, match.start()) + 1, None, _PI)
        for match in _PROCESSING_INSTRUCTION.finditer(data)
    ]
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue  # comments
        qname = etree.QName(node)
        foreign = not _is_model(qname.namespace)
        if foreign and qname.localname.lower() in _ACTIVE_ELEMENTS:
            problems.append(
                _problem(
                    filename,
                    node,
                    f"要素 <{qname.localname}> は使えません / element <{qname.localname}> "
                    f"({qname.namespace or 'no namespace'}) can carry script and is not allowed in "
                    "documentation, extension elements or DI",
                )
            )
            continue
        problems += _attribute_problems(filename, node, foreign)
        if foreign or _is_text_element(qname):
            for text in (node.text, *(child.tail for child in node)):
                found = _text_problem(text or "")
                if found:
                    problems.append(
                        _problem(
                            filename,
                            node,
                            f"説明文にスクリプトを含むマークアップ（{found}）は使えません / text holds "
                            f"script-bearing markup ({found}), which is not allowed",
                        )
                    )
                    break
    return problems
