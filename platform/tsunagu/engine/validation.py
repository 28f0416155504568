"""Deploy-time validation of workflow definition bundles.

A bundle is one ``workflows/<name>/`` directory: ``*.bpmn``, ``*.dmn`` and ``forms/*.form`` (form-js JSON).
``validate_bundle`` reports every problem it can find — unsafe XML, scripts, unknown service operations,
missing forms, unsafe or unparseable expressions, lanes that name no role, dangling references — and then
what SpiffWorkflow's own parser says, each with file, line and element id.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from lxml import etree

from ..core import limits
from .errors import DefinitionError, Problem
from .lanes import LaneRoles
from .markup import markup_problems
from .policy import (
    BPMN_NS,
    dmn_problems,
    expression_problems,
    form_problems,
    lane_problems,
    reference_problems,
    script_problems,
    service_problems,
)
from .safe_xml import DEFAULT_MAX_BYTES, parse_xml
from .spiff import DEFAULT_ALIASES, load_definitions

FormsAvailable = Collection[str] | Callable[[str], bool]
DEFINITION_SUFFIXES = (".bpmn", ".dmn")

__all__ = ["Problem", "validate_bundle", "validate_paths", "validate_paths_report"]


#: Checks of a parsed form beyond its JSON shape (the forms module's own loader: fields, FEEL conditions,
#: cross-field rules), injected at start-up — the engine knows no forms module. Each returns a message or None.
_FORM_CHECKS: list[Callable[[dict[str, Any]], str | None]] = []


def register_form_check(check: Callable[[dict[str, Any]], str | None]) -> None:
    if check not in _FORM_CHECKS:
        _FORM_CHECKS.append(check)


def _form_problem(name: str, data: bytes, max_bytes: int) -> Problem | None:
    if len(data) > max_bytes:
        return Problem(
            name, None, None, f"ファイルが大きすぎます / file is too large (limit {max_bytes:,} bytes)"
        )
    try:
        form = limits.loads(data.decode("utf-8"))  # bounded depth and size (issue #10)
    except limits.InputTooComplex as exc:
        return Problem(name, None, None, f"フォームが複雑すぎます / form is too complex: {exc.message}")
    except (UnicodeDecodeError, ValueError) as exc:
        return Problem(
            name,
            getattr(exc, "lineno", None),
            None,
            f"フォームが JSON として読めません / form is not valid JSON: {exc}",
        )
    if not isinstance(form, dict) or not isinstance(form.get("components", []), list):
        return Problem(
            name, 1, None, "フォームの形式が違います / form must be a form-js object with components"
        )
    for check in _FORM_CHECKS:
        message = check(form)
        if message:
            return Problem(
                name, None, None, f"フォームを使えません: {message} / the form cannot be used: {message}"
            )
    return None


def _ids(roots: Iterable[etree._Element], local_name: str) -> set[str]:
    return {
        e.get("id", "")
        for root in roots
        for e in root.iter()
        if isinstance(e.tag, str) and etree.QName(e).localname == local_name and e.get("id")
    }


def _merge_spiff(problems: list[Problem], spiff: Iterable[Problem]) -> list[Problem]:
    """Add Spiff's findings unless we already reported something at the same element (or line)."""
    seen: set[tuple[str, str | int | None]] = {(p.file, p.element_id) for p in problems if p.element_id}
    seen |= {(p.file, p.line) for p in problems if p.line is not None}
    merged = list(problems)
    for p in spiff:
        key: tuple[str, str | int | None] = (p.file, p.element_id) if p.element_id else (p.file, p.line)
        if key not in seen and p not in merged:
            seen.add(key)
            merged.append(p)
    return merged


def validate_bundle(
    files: Mapping[str, bytes],
    *,
    lanes: LaneRoles,
    forms_available: FormsAvailable = frozenset(),
    known_processes: Collection[str] = (),
    aliases: Collection[str] = tuple(DEFAULT_ALIASES),
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> list[Problem]:
    """Every problem in ``{path: bytes}``; an empty list means the bundle can be deployed.

    A user task's ``formKey`` ``intake`` is satisfied by a ``forms/intake.form`` in ``files`` or by
    ``forms_available`` (a set of keys or a predicate — e.g. forms already deployed for the tenant).
    ``known_processes`` are process ids defined elsewhere that call activities may name. ``lanes`` says
    which lane names name a role.
    """
    problems: list[Problem] = []
    roots: dict[str, etree._Element] = {}
    bundle_forms: set[str] = set()
    for name in sorted(files):
        path = PurePosixPath(name)
        if path.suffix in DEFINITION_SUFFIXES:
            try:
                roots[name] = parse_xml(files[name], filename=name, max_bytes=max_bytes)
            except DefinitionError as exc:
                problems.extend(exc.problems)
        elif path.suffix == ".form" and path.parent.name == "forms":
            problem = _form_problem(name, files[name], max_bytes)
            if problem is None:
                bundle_forms.add(path.stem)
            else:
                problems.append(problem)

    def available(key: str) -> bool:
        if key in bundle_forms:
            return True
        return forms_available(key) if callable(forms_available) else key in forms_available

    bpmn_roots = {n: r for n, r in roots.items() if etree.QName(r).namespace == BPMN_NS}
    dmn_roots = {n: r for n, r in roots.items() if n not in bpmn_roots}
    processes = _ids(bpmn_roots.values(), "process") | set(known_processes)
    decisions = _ids(dmn_roots.values(), "decision")
    for name, root in roots.items():
        problems += markup_problems(root, name, files[name])
        if name in bpmn_roots:
            problems += script_problems(root, name)
            problems += lane_problems(root, name, lanes)
            problems += service_problems(root, name)
            problems += form_problems(root, name, available)
            problems += expression_problems(root, name)
            problems += reference_problems(
                root, name, processes=processes, decisions=decisions, aliases=aliases
            )
        elif etree.QName(root).localname == "definitions" and name.endswith(".dmn"):
            problems += dmn_problems(root, name)
        else:
            problems.append(
                Problem(
                    name,
                    root.sourceline,
                    None,
                    f"BPMN/DMN の定義ではありません / not a BPMN or DMN document (root element {root.tag})",
                )
            )
    # SpiffWorkflow's own view: XML schema, structure, gateways, DMN tables.
    try:
        load_definitions({n: files[n] for n in roots})
    except DefinitionError as exc:
        return _merge_spiff(problems, exc.problems)
    return problems


# --- paths ------------------------------------------------------------------------------------------------


@dataclass
class _Bundle:
    directory: Path
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def definition_count(self) -> int:
        return sum(1 for name in self.files if name.endswith(DEFINITION_SUFFIXES))


def _read_bundle(directory: Path, only: Path | None = None) -> _Bundle:
    bundle = _Bundle(directory)
    candidates = sorted(p for p in directory.iterdir() if p.suffix in DEFINITION_SUFFIXES and p.is_file())
    if only is not None:
        candidates = [p for p in candidates if p == only or p.suffix == ".dmn"]
    forms = directory / "forms"
    if forms.is_dir():
        candidates += sorted(p for p in forms.glob("*.form") if p.is_file())
    for path in candidates:
        bundle.files[path.as_posix()] = path.read_bytes()
    return bundle


def _find_bundles(paths: Iterable[Path]) -> tuple[list[_Bundle], list[Problem]]:
    bundles: list[_Bundle] = []
    problems: list[Problem] = []

    def walk(directory: Path) -> bool:
        if any(p.suffix in DEFINITION_SUFFIXES for p in directory.iterdir() if p.is_file()):
            bundles.append(_read_bundle(directory))
            return True
        found = False
        for child in sorted(directory.iterdir()):
            if child.is_dir() and not child.name.startswith(".") and child.name != "forms":
                found = walk(child) or found
        return found

    for path in paths:
        if path.is_file():
            bundles.append(_read_bundle(path.parent, only=path))
        elif path.is_dir():
            if not walk(path):
                problems.append(
                    Problem(str(path), None, None, "定義ファイルがありません / no *.bpmn or *.dmn found")
                )
        else:
            problems.append(
                Problem(str(path), None, None, "ファイルがありません / no such file or directory")
            )
    return bundles, problems


def _process_ids(bundles: Iterable[_Bundle]) -> set[str]:
    ids: set[str] = set()
    for bundle in bundles:
        for name, data in bundle.files.items():
            if name.endswith(".bpmn"):
                try:
                    ids |= _ids([parse_xml(data, filename=name)], "process")
                except DefinitionError:
                    pass  # reported by validate_bundle
    return ids


def validate_paths_report(paths: Iterable[Path], lanes: LaneRoles) -> tuple[list[Problem], int]:
    """Problems across ``paths`` (files, bundle directories or a ``workflows/`` root) and how many
    definition files were checked. Call activities may name processes from any bundle given."""
    bundles, problems = _find_bundles(paths)
    known = _process_ids(bundles)
    for bundle in bundles:
        problems += validate_bundle(bundle.files, lanes=lanes, known_processes=known)
    return problems, sum(b.definition_count for b in bundles)


def validate_paths(paths: list[Path], lanes: LaneRoles) -> list[Problem]:
    return validate_paths_report(paths, lanes)[0]
