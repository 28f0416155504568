"""A bounded load: caseworkers working cases through the JSON API, and a steady trickle of outbox messages.

Every request the product acknowledged (a 2xx) is written to the :class:`Ledger`; the final checks prove each
of them is in the database exactly once. Errors are expected while a fault lasts and are counted, with the
time they happened, so the report can tell errors during a fault from errors when all was well.

* :class:`CaseClient` — one caseworker (one API token, own cases): opens cases (``POST cases``), reads the
  inbox (``GET tasks``) and completes the next task of each of its cases (``POST tasks/<id>/complete``) along
  the standard casework path: intake → consent → assessment → plan → ad hoc meeting (convene, record) →
  support decision → start of delivery → monitoring, every time the monitoring timer fires (beat), and after
  :data:`MONITORING_ROUNDS` rounds an early evaluation that closes the case.
* :class:`PingProducer` — ``core.ping`` outbox messages written through the product's own
  :func:`tsunagu.core.outbox.enqueue` as the application role; the worker's handler writes one
  ``job_receipt`` per message, the effect whose doubles the checks count. :meth:`PingProducer.burst` makes
  the backlogs the faults hit.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from . import log

#: How long a client waits before looking again when none of its cases has a task ready.
IDLE_SECONDS = 1.0
#: Monitoring check-ins per case before the consultant asks for the evaluation that closes it.
MONITORING_ROUNDS = 2
#: The user tasks of the path, in the order a case reaches them (the earliest ready one is worked first).
PATH = (
    "intake",
    "consent",
    "assessment",
    "plan_draft",
    "convene_adhoc",
    "record_meeting_result",
    "support_decision",
    "delivery_start",
    "monitoring",
    "evaluation",
)
#: Outcomes of one request, as the ledger counts them.
OK, CONFLICT, SERVER_ERROR, CONNECTION_ERROR, TIMEOUT, CLIENT_ERROR = (
    "ok",
    "409",
    "5xx",
    "connection",
    "timeout",
    "4xx",
)
ERRORS = (SERVER_ERROR, CONNECTION_ERROR, TIMEOUT)


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    seconds: float
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def text(self, limit: int) -> str:
        """The body as text, on one line, at most ``limit`` characters."""
        return " ".join(self.body.decode("utf-8", errors="replace").split())[:limit]

    @property
    def is_json_error(self) -> bool:
        data = self.json()
        return isinstance(data, dict) and isinstance(data.get("error"), dict) and "code" in data["error"]


def request(
    port: int,
    method: str,
    path: str,
    *,
    body: dict[str, Any] | None = None,
    token: str | None = None,
    timeout: float = 20.0,
    headers: dict[str, str] | None = None,
) -> Response:
    """One HTTP/1.1 request on a fresh connection to 127.0.0.1:``port``; raises ``OSError`` on failure."""
    headers = {"Accept": "application/json", **(headers or {})}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    payload = None
    if body is not None:
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers["Content-Type"] = "application/json"
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        return Response(
            response.status, raw, time.monotonic() - t0, {k.lower(): v for k, v in response.getheaders()}
        )
    finally:
        conn.close()


def classify(status: int) -> str:
    if 200 <= status < 300:
        return OK
    if status == 409:
        return CONFLICT
    if status >= 500:
        return SERVER_ERROR
    return CLIENT_ERROR


@dataclass
class Event:
    started: float  # time.monotonic() when the request was sent
    at: float  # ... and when its outcome was known
    source: str  # "api" | "ping"
    outcome: str
    detail: str = ""


@dataclass
class Ledger:
    """What the product acknowledged, and every outcome with its time. Thread-safe."""

    completions: dict[str, tuple[str, str]] = field(default_factory=dict)  # task id -> (case id, element)
    cases: set[str] = field(default_factory=set)
    pings: set[str] = field(default_factory=set)
    events: list[Event] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, source: str, outcome: str, detail: str = "", started: float | None = None) -> None:
        now = time.monotonic()
        detail = " ".join(detail.split())[:300]  # one line: it ends up in a Markdown table
        with self.lock:
            self.events.append(Event(now if started is None else started, now, source, outcome, detail))

    def acknowledge_case(self, case_id: str) -> None:
        with self.lock:
            self.cases.add(case_id)

    def acknowledge_completion(self, task_id: str, case_id: str, element: str) -> None:
        with self.lock:
            self.completions[task_id] = (case_id, element)

    def acknowledge_pings(self, ids: list[str]) -> None:
        with self.lock:
            self.pings.update(ids)

    def overlapping(self, start: float, end: float) -> list[Event]:
        """Events whose request was in flight at some time between ``start`` and ``end``."""
        with self.lock:
            return [e for e in self.events if e.started <= end and e.at >= start]

    def outside(self, windows: list[tuple[float, float]]) -> list[Event]:
        """Events that overlap none of ``windows``."""
        with self.lock:
            return [e for e in self.events if not any(e.started <= b and e.at >= a for a, b in windows)]


def submission(element: str, today: date, *, early_evaluation: bool) -> dict[str, Any]:
    """The form data a caseworker sends for ``element`` (strings and ``"on"`` checkboxes, as a browser does)."""
    day = today.isoformat()
    forms: dict[str, dict[str, Any]] = {
        "intake": {
            "reception_date": day,
            "contact_route": "office",
            "name": "障害 試験",
            "name_kana": "ショウガイ　シケン",
            "birth_date": "1975-06-15",
            "gender": "female",
            "address": "横浜市港北区大豆戸町1-1",
            "phone": "045-000-0000",
            "household_size": "2",
            "consultation_topics": ["income", "work"],
            "main_topic": "income",
            "consultation_detail": "収入が途絶え、家賃の支払いが難しい。",
            "screening_outcome": "continue",
        },
        "consent": {
            "consent_application": "on",
            "application_date": day,
            "signature_confirmed": "on",
            "signature_date": day,
            "consent_agencies": ["municipality"],
            "consent_categories": ["identity", "income"],
        },
        "assessment": {
            "assessment_date": day,
            "household_situation": "二人世帯。本人が失職した。",
            "housing_status": "rented",
            "monthly_income": "80000",
            "work_status": "job_seeking",
            "strengths": "就労意欲がある。",
            "problems_and_causes": "失職による収入の急減。",
            "urgency": "high",
            "complexity": "normal",
            "emergency_support": "",
        },
        "plan_draft": {
            "plan_date": day,
            "plan_period": "P6M",
            "plan_end_date": (today + timedelta(days=180)).isoformat(),
            "long_term_goal": "就職して家計を安定させる。",
            "short_term_goals": "求職活動を始める。",
            "support_1_own_action": "ハローワークに通う",
            "support_1_provider": "就労支援員",
            "support_1_content": "求人の紹介と同行",
            "support_1_frequency": "週1回",
            "statutory_programmes": ["household_finance"],
            "person_agreed": "on",
        },
        "convene_adhoc": {
            "meeting_date": day,
            "meeting_time": "10:00",
            "venue": "港北区役所 会議室",
            "attendees": "区職員、相談支援員",
            "person_attends": "on",
        },
        "record_meeting_result": {
            "meeting_date": day,
            "meeting_decision": "approve",
            "attendees": "区職員、相談支援員、本人",
            "roles_assigned": "相談支援員が同行する。",
        },
        "support_decision": {
            "decision_date": day,
            "decision_number": "港北-chaos",
            "programmes_decided": ["household_finance"],
            "decision_notice_sent": "on",
        },
        "delivery_start": {
            "record_date": day,
            "record_method": "visit",
            "staff_name": "試験",
            "record_content": "支援を開始した。",
        },
        "monitoring": {
            "monitoring_date": day,
            "progress_status": "on_track",
            "goal_progress": "求職活動を続けている。",
            **({"request_early_evaluation": "on"} if early_evaluation else {}),
        },
        "evaluation": {
            "evaluation_date": day,
            "goal_achievement": "mostly_achieved",
            "evaluation_outcome": "close",
        },
    }
    return forms[element]


@dataclass
class CaseState:
    monitoring_rounds: int = 0
    waiting_since: float = field(default_factory=time.monotonic)
    closed: bool = False


class CaseClient(threading.Thread):
    """One caseworker with ``max_cases`` open cases at a time, until :meth:`stop`."""

    def __init__(
        self,
        name: str,
        port: int,
        slug: str,
        token: str,
        ledger: Ledger,
        *,
        max_cases: int = 6,
        think_seconds: float = 0.05,
        timeout: float = 20.0,
        org_unit: str = "kohoku",
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.port = port
        self.base = f"/t/{slug}/api/v1"
        self.token = token
        self.ledger = ledger
        self.max_cases = max_cases
        self.think = think_seconds
        self.timeout = timeout
        self.org_unit = org_unit
        self.cases: dict[str, CaseState] = {}
        self._stop_event = threading.Event()
        self.closed_cases = 0
        self.failure: str = ""

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        try:
            while not self._stop_event.is_set():
                healthy, worked = self._round()
                if not healthy:
                    self._stop_event.wait(0.5)  # the product is failing: back off a little
                elif not worked:
                    self._stop_event.wait(IDLE_SECONDS)  # every case waits for its timer: look again later
                else:
                    self._stop_event.wait(self.think)
        except Exception as exc:  # a harness bug must show in the report, not end a thread silently
            self.failure = f"{type(exc).__name__}: {exc}"
            log(f"{self.name} crashed: {self.failure}")

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Response | None:
        started = time.monotonic()
        try:
            response = request(
                self.port, method, self.base + path, body=body, token=self.token, timeout=self.timeout
            )
        except TimeoutError as exc:
            self.ledger.record("api", TIMEOUT, f"{method} {path}: {exc}", started)
            return None
        except OSError as exc:
            self.ledger.record(
                "api", CONNECTION_ERROR, f"{method} {path}: {type(exc).__name__}: {exc}", started
            )
            return None
        outcome = classify(response.status)
        detail = "" if outcome == OK else f"{method} {path}: {response.status} {response.text(200)}"
        self.ledger.record("api", outcome, detail, started)
        return response

    def _round(self) -> tuple[bool, bool]:
        """Open a case if there is room, then work every ready task of this client's cases once.

        Returns whether every request succeeded, and whether anything was done (a case opened, a task
        completed)."""
        worked = False
        if len(self.cases) < self.max_cases:
            response = self._call(
                "POST",
                "/cases",
                {
                    "person": {
                        "name": "障害 試験",
                        "name_kana": "ショウガイ シケン",
                        "birth_date": "1975-06-15",
                    },
                    "org_unit": self.org_unit,
                },
            )
            if response is None or response.status != 201:
                return False, False
            case_id = response.json()["id"]
            self.ledger.acknowledge_case(case_id)
            self.cases[case_id] = CaseState()
            worked = True
        listing = self._call("GET", "/tasks?scope=all&state=ready&limit=500")
        if listing is None or listing.status != 200:
            return False, worked
        ready: dict[str, list[dict[str, Any]]] = {}
        for task in listing.json():
            if task.get("case_id") in self.cases:
                ready.setdefault(task["case_id"], []).append(task)
        healthy = True
        for case_id, state in list(self.cases.items()):
            tasks = ready.get(case_id)
            if not tasks:
                if time.monotonic() - state.waiting_since > 60:
                    healthy = self._check_closed(case_id) and healthy
                continue
            task = min(tasks, key=lambda t: PATH.index(t["name"]) if t["name"] in PATH else len(PATH))
            done = self._complete(case_id, state, task)
            healthy = done and healthy
            worked = worked or done
            if self._stop_event.is_set():
                break
        return healthy, worked

    def _complete(self, case_id: str, state: CaseState, task: dict[str, Any]) -> bool:
        element = task["name"]
        if element not in PATH:
            raise RuntimeError(f"case {case_id} left the chaos path at task {element!r}")
        early = element == "monitoring" and state.monitoring_rounds + 1 >= MONITORING_ROUNDS
        data = submission(element, date.today(), early_evaluation=early)
        response = self._call("POST", f"/tasks/{task['id']}/complete", {"data": data})
        if response is None:
            return False
        if response.status == 200:
            self.ledger.acknowledge_completion(task["id"], case_id, element)
            state.waiting_since = time.monotonic()
            if element == "monitoring":
                state.monitoring_rounds += 1
            if element == "evaluation":
                self._close(case_id)
            return True
        if response.status == 409:
            return True  # completed by an earlier attempt whose answer was lost: the next listing moves on
        if response.status >= 500:
            return False
        raise RuntimeError(f"completing {element} of case {case_id}: {response.status} {response.text(500)}")

    def _check_closed(self, case_id: str) -> bool:
        response = self._call("GET", f"/cases/{case_id}")
        if response is None or response.status != 200:
            return False
        if response.json().get("status") == "closed":
            self._close(case_id)
        else:
            self.cases[case_id].waiting_since = time.monotonic()
        return True

    def _close(self, case_id: str) -> None:
        self.cases.pop(case_id, None)
        self.closed_cases += 1


class PingProducer(threading.Thread):
    """``core.ping`` messages, ``per_second`` of them, each in its own transaction, until :meth:`stop`."""

    def __init__(self, enqueue: Callable[[int], list[str]], ledger: Ledger, per_second: float = 4.0) -> None:
        super().__init__(name="chaos-pings", daemon=True)
        self.enqueue = enqueue
        self.ledger = ledger
        self.interval = 1.0 / per_second
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        while not self._stop_event.is_set():
            ok = self.send(1)
            self._stop_event.wait(self.interval * (1 + random.random() * 0.2) if ok else 0.5)

    def send(self, count: int) -> bool:
        started = time.monotonic()
        try:
            ids = self.enqueue(count)
        except Exception as exc:
            self.ledger.record("ping", CONNECTION_ERROR, f"{type(exc).__name__}: {exc}", started)
            return False
        self.ledger.acknowledge_pings(ids)
        self.ledger.record("ping", OK, started=started)
        return True

    def burst(self, count: int, batch: int = 50) -> int:
        """``count`` messages in transactions of ``batch``: a backlog for the worker. Returns how many committed."""
        done = 0
        while done < count:
            n = min(batch, count - done)
            if not self.send(n):
                break
            done += n
        return done


def ping_enqueuer(runtime: Any, tenant_id: uuid.UUID) -> Callable[[int], list[str]]:
    """``enqueue(n)``: ``n`` ``core.ping`` messages committed in one transaction; their ids once committed."""
    from tsunagu.core.outbox import PING_TOPIC, enqueue
    from tsunagu.core.session import transaction

    def send(count: int) -> list[str]:
        ids: list[str] = []
        with transaction(runtime.sessions, tenant_id) as session:
            for _ in range(count):
                ids.append(str(enqueue(session, PING_TOPIC, {"by": "chaos"}).id))
        return ids

    return send
