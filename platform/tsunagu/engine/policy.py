"""Deploy-time policy checks on parsed BPMN/DMN trees (pure lxml, no Spiff).

Each check returns ``Problem`` objects with the file, the line from lxml's ``sourceline`` and the id of the
nearest element that has one, so a tenant administrator can find what to fix in their modeller.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Collection, Iterator

from lxml import etree
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from .errors import ExpressionError, OperationError, Problem
from .expressions import compile_expression
from .lanes import LaneRoles
from .operations import get_operation

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NSMAP = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}

_FORM_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,99}$")
# Spiff's DMNEngine replaces "?" (outside quotes) by the input value; same pattern here.
_DMN_QUESTION_MARK = re.compile(r"""(\?)(?=(?:[^'"]|['"][^'"]*['"])*$)""")
_LOOKS_LIKE_ISO = re.compile(r"^(R\d*/)?P(\d|T)|^\d{4}-\d{2}-\d{2}")

# Hooks that would run tenant-supplied code, in any vendor namespace (Spiff, Camunda, Flowable, Activiti).
_SCRIPT_ELEMENTS = {
    "preScript": "pre スクリプト",
    "postScript": "post スクリプト",
    "script": "スクリプト",
    "executionListener": "実行リスナー",
    "taskListener": "タスクリスナー",
}
_CODE_ATTRIBUTES = {"class", "expression", "delegateExpression", "scriptFormat", "script"}
_EXPRESSION_TAGS = {
    "conditionExpression",
    "completionCondition",
    "loopCardinality",
    "condition",
    "timeDuration",
    "timeDate",
    "timeCycle",
    "messagePayload",
    "payloadExpression",
    "formalExpression",
    "expression",
}


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _owner_id(element: etree._Element) -> str | None:
    node: etree._Element | None = element
    while node is not None:
        if node.get("id"):
            return node.get("id")
        node = node.getparent()
    return None


def _problem(
    filename: str, element: etree._Element, message: str, owner: etree._Element | None = None
) -> Problem:
    return Problem(filename, element.sourceline, _owner_id(owner if owner is not None else element), message)


def _elements(root: etree._Element) -> Iterator[etree._Element]:
    return (e for e in root.iter() if isinstance(e.tag, str))


def script_problems(root: etree._Element, filename: str) -> list[Problem]:
    """Script tasks, pre/post scripts, listeners and code-bearing attributes — none may be deployed."""
    problems = []
    for element in _elements(root):
        name = _local(element)
        if name in {"scriptTask", "globalScriptTask"}:
            problems.append(
                _problem(
                    filename,
                    element,
                    "スクリプトタスクは使えません。サービスタスクを使ってください / "
                    "script tasks are not allowed (no tenant code runs); use a service task",
                )
            )
        elif name in _SCRIPT_ELEMENTS:
            parent = element.getparent()
            if name == "script" and parent is not None and _local(parent) == "scriptTask":
                continue  # already reported with its script task
            problems.append(
                _problem(
                    filename,
                    element,
                    f"{_SCRIPT_ELEMENTS[name]}は使えません / "
                    f"{element.prefix or 'bpmn'}:{name} is not allowed (no tenant code runs)",
                )
            )
        for attribute in element.attrib:
            qname = etree.QName(attribute)
            if qname.namespace and qname.namespace != BPMN_NS and qname.localname in _CODE_ATTRIBUTES:
                problems.append(
                    _problem(
                        filename,
                        element,
                        f"属性 {qname.localname} は使えません / attribute "
                        f"'{qname.localname}' ({qname.namespace}) would run code and is not allowed",
                    )
                )
    return problems


def lane_problems(root: etree._Element, filename: str, lanes: LaneRoles) -> list[Problem]:
    roles = ", ".join(sorted(lanes.roles))
    return [
        _problem(
            filename,
            lane,
            f"レーン名「{lane.get('name') or ''}」はロールではありません / lane "
            f"'{lane.get('name') or ''}' does not name a role (use one of: {roles}, or their Japanese labels)",
        )
        for lane in root.iterfind(".//bpmn:lane", NSMAP)
        if lanes.resolve(lane.get("name")) is None
    ]


def service_problems(root: etree._Element, filename: str) -> list[Problem]:
    problems = []
    for task in root.iterfind(".//bpmn:serviceTask", NSMAP):
        operator = task.find("bpmn:extensionElements/spiffworkflow:serviceTaskOperator", NSMAP)
        if operator is None:
            problems.append(
                _problem(
                    filename,
                    task,
                    "サービスタスクに操作が指定されていません / service task has no "
                    "spiffworkflow:serviceTaskOperator",
                )
            )
            continue
        try:
            operation = get_operation(operator.get("id", ""))
        except OperationError as exc:
            problems.append(_problem(filename, operator, str(exc), task))
            continue
        given = set()
        for param in operator.iterfind(".//spiffworkflow:parameter", NSMAP):
            name = param.get("id", "")
            given.add(name)
            if name not in operation.param_names:
                problems.append(
                    _problem(
                        filename,
                        param,
                        f"操作 {operation.name} に引数 {name} はありません / "
                        f"operation '{operation.name}' has no parameter '{name}'",
                        task,
                    )
                )
            elif param.get("value") is not None:
                problems.extend(_expression_problem(filename, param, param.get("value", ""), task))
        for spec in operation.params:
            if spec.required and spec.name not in given:
                problems.append(
                    _problem(
                        filename,
                        operator,
                        f"操作 {operation.name} の引数 {spec.name} は必須です / "
                        f"operation '{operation.name}' requires parameter '{spec.name}'",
                        task,
                    )
                )
    return problems


def form_key(task: etree._Element) -> str | None:
    for prop in task.iterfind(".//spiffworkflow:properties/spiffworkflow:property", NSMAP):
        if prop.get("name") == "formKey":
            return prop.get("value")
    return None


def form_problems(root: etree._Element, filename: str, available: Callable[[str], bool]) -> list[Problem]:
    problems = []
    for task in root.iterfind(".//bpmn:userTask", NSMAP):
        key = form_key(task)
        if not key:
            message = (
                "ユーザータスクにフォームがありません / user task has no form "
                '(add <spiffworkflow:property name="formKey" value="..."/>)'
            )
        elif not _FORM_KEY.match(key):
            message = f"フォーム名 {key!r} は使えません / invalid form key {key!r} (letters, digits, _ and -)"
        elif not available(key):
            message = f"フォーム forms/{key}.form がありません / form 'forms/{key}.form' not found"
        else:
            continue
        problems.append(_problem(filename, task, message))
    return problems


def _expression_problem(
    filename: str, element: etree._Element, text: str, owner: etree._Element | None = None
) -> list[Problem]:
    try:
        compile_expression(text)
    except ExpressionError as exc:
        return [_problem(filename, element, f"{exc.message} — {text[:80]!r}", owner)]
    return []


def _timer_problem(filename: str, element: etree._Element, text: str) -> list[Problem]:
    source = text.strip()
    try:
        tree = ast.parse(source, mode="eval").body
    except SyntaxError:
        tree = None
    if isinstance(tree, ast.Name) and _LOOKS_LIKE_ISO.match(source):
        return [
            _problem(
                filename,
                element,
                f'タイマー値は引用符で囲んでください: "{source}" / timer value must be '
                f'an expression; quote the literal: "{source}"',
            )
        ]
    if isinstance(tree, ast.Constant) and isinstance(tree.value, str):
        try:
            kind = _local(element)
            if kind == "timeDuration":
                TimerEventDefinition.parse_iso_duration(tree.value)
            elif kind == "timeDate":
                TimerEventDefinition.get_datetime(tree.value)
            else:
                TimerEventDefinition.parse_iso_recurring_interval(tree.value)
        except Exception:  # Spiff raises bare Exception/ValueError/AttributeError for bad ISO strings
            return [
                _problem(
                    filename,
                    element,
                    f"ISO 8601 の形式ではありません: {tree.value!r} / "
                    f"not a valid ISO 8601 value for {_local(element)}",
                )
            ]
    return []


def expression_problems(root: etree._Element, filename: str) -> list[Problem]:
    """Every condition, timer, payload and correlation expression must pass the safe evaluator."""
    problems = []
    for element in _elements(root):
        name = _local(element)
        if name not in _EXPRESSION_TAGS or etree.QName(element).namespace not in (BPMN_NS, SPIFF_NS):
            continue
        text = (element.text or "").strip()
        if not text:
            if name == "conditionExpression":
                problems.append(_problem(filename, element, "条件式が空です / condition is empty"))
            continue
        found = _expression_problem(filename, element, text)
        if not found and name in {"timeDuration", "timeDate", "timeCycle"}:
            found = _timer_problem(filename, element, text)
        problems.extend(found)
    return problems


def reference_problems(
    root: etree._Element,
    filename: str,
    *,
    processes: Collection[str],
    decisions: Collection[str],
    aliases: Collection[str],
) -> list[Problem]:
    """Call activities must call a known process or alias; business rule tasks a known decision."""
    problems = []
    for call in root.iterfind(".//bpmn:callActivity", NSMAP):
        called = call.get("calledElement")
        if not called or (called not in processes and called not in aliases):
            problems.append(
                _problem(
                    filename,
                    call,
                    f"呼び出し先 {called} がありません / called element '{called}' is not a "
                    f"process in this bundle nor an alias ({', '.join(sorted(aliases)) or '-'})",
                )
            )
    for task in root.iterfind(".//bpmn:businessRuleTask", NSMAP):
        ref = task.find("bpmn:extensionElements/spiffworkflow:calledDecisionId", NSMAP)
        decision = (ref.text or "").strip() if ref is not None else ""
        if decision not in decisions:
            problems.append(
                _problem(
                    filename,
                    task,
                    f"決定表 {decision or '(なし)'} がありません / decision table "
                    f"'{decision}' not found (spiffworkflow:calledDecisionId)",
                )
            )
    return problems


def dmn_problems(root: etree._Element, filename: str) -> list[Problem]:
    """Check DMN cells the way Spiff's DMNEngine will combine them with the column's input expression."""
    problems = []
    for table in (e for e in _elements(root) if _local(e) == "decisionTable"):
        inputs = []
        for column in (e for e in table if _local(e) == "input"):
            expr = next((e for e in column.iter() if _local(e) == "text"), None)
            text = (expr.text or "").strip() if expr is not None else ""
            inputs.append(text)
            if text:
                problems.extend(_expression_problem(filename, expr if expr is not None else column, text))
        for rule in (e for e in table if _local(e) == "rule"):
            entries = [e for e in rule if _local(e) == "inputEntry"]
            for input_text, entry in zip(inputs, entries, strict=False):
                problems.extend(_dmn_input_problem(filename, entry, input_text))
            for entry in (e for e in rule if _local(e) == "outputEntry"):
                text = "".join(t.text or "" for t in entry if _local(t) == "text").strip()
                if text:
                    problems.extend(_expression_problem(filename, entry, text))
    return problems


def _dmn_input_problem(filename: str, entry: etree._Element, input_text: str) -> list[Problem]:
    text = "".join(t.text or "" for t in entry if _local(t) == "text").strip()
    if not text or text == "-":
        return []
    if "?" in text:
        return _expression_problem(filename, entry, _DMN_QUESTION_MARK.sub("dmninputexpr", text))
    try:
        parsed = compile_expression(text).tree.body
    except ExpressionError as exc:
        if not exc.syntax:
            return [_problem(filename, entry, f"{exc.message} — {text[:80]!r}")]
        return _expression_problem(filename, entry, f"{input_text or 'v'}{text}")
    if isinstance(parsed, ast.Tuple):
        return [
            _problem(
                filename,
                entry,
                f"カンマ区切りの値 {text} は一致しません。? in ({text}) と書いてください / "
                f"a comma list compares with a tuple and never matches; write: ? in ({text})",
            )
        ]
    return []
