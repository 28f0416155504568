"""axe-core on every page the browser tests reach (JIS X 8341-3:2016 AA ≈ WCAG 2.x AA).

axe-core comes from npm through package-lock.json (``node_modules/axe-core/axe.min.js``, a dev dependency);
it is injected into every page of every browser context by Playwright's init script, so no page of the app
loads it and the CSP stays as it is. In the page, a small runner checks the document after ``load`` and after
each htmx swap settles, and reports the violations to Python through an exposed binding. Before a context
is closed the runner is drained (the last page of each test is always checked); a page left before its check
finished is counted as missed, not as passed.

Every test that uses a browser fails on a ``serious`` or ``critical`` violation; the totals of the run (pages
checked, violations by impact and rule) are written to ``test-artifacts/axe/summary.json``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.web.browser_support import REPO

AXE_SOURCE = REPO / "node_modules" / "axe-core" / "axe.min.js"
SUMMARY = REPO / "test-artifacts" / "axe" / "summary.json"
BLOCKING = ("serious", "critical")
#: Pages that are not Tsunagu's: the test OpenID provider's authorization page (oidc-provider-mock, a test
#: double standing in for the municipality's provider). Checked and counted, but not held against the app.
#: Also Swagger UI's reference page (``/api/docs``): its own markup has nested buttons and low-contrast method
#: badges that no stylesheet of ours can fix (README, Not built yet); checked and counted, not held against us.
FOREIGN_PATHS = ("/oauth2/",)
FOREIGN_SUFFIXES = ("/api/docs",)
#: The WCAG 2.0/2.1/2.2 A and AA rules (JIS X 8341-3:2016 is WCAG 2.0 AA, adopted as ISO/IEC 40500).
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]

RUNNER = r"""
(() => {
  if (window.top !== window || window.__tsunaguAxeRunner) return;
  // The real timers, taken before a test can install a fake clock (page.clock.install()).
  // A fake clock (page.clock.install()) replaces the timers with scripted ones, possibly before this script.
  const isNative = (f) => /\[native code\]/.test(Function.prototype.toString.call(f));
  const realSetTimeout = window.setTimeout.bind(window), realClearTimeout = window.clearTimeout.bind(window);
  let running = null, again = false, timer = null;
  const options = { runOnly: { type: "tag", values: %(tags)s }, resultTypes: ["violations"] };
  const check = async () => {
    timer = null;
    if (!window.axe || !window.__tsunaguAxe) return;
    if (!isNative(window.setTimeout)) {
      // A test installed a fake clock (page.clock): axe's own timers would never run. Say so, check nothing.
      window.__tsunaguAxeChecked = true;
      return window.__tsunaguAxe({ url: location.href, title: document.title, skipped: "fake clock", violations: [] });
    }
    if (running) { again = true; return running; }
    running = (async () => {
      do {
        again = false;
        const result = await window.axe.run(document, options);
        await window.__tsunaguAxe({
          url: location.href,
          title: document.title,
          violations: result.violations.map((v) => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 5).map((n) => ({ target: n.target.join(" "), html: n.html.slice(0, 200),
                                                     summary: (n.failureSummary || "").slice(0, 300) })),
          })),
        });
        window.__tsunaguAxeChecked = true;
      } while (again);
    })().finally(() => { running = null; });
    return running;
  };
  const schedule = () => { if (timer) realClearTimeout(timer); timer = realSetTimeout(check, 30); };
  window.__tsunaguAxeRunner = { check, schedule };
  // Drained before a context closes: wait for the current check, run one if this document has none yet.
  // Never waits longer than 20 s: under a fake clock axe's own timers may not run at all.
  window.__tsunaguAxeDrain = () => !isNative(window.setTimeout) ? check().then(() => true) : Promise.race([
    (async () => {
      if (timer) { realClearTimeout(timer); timer = null; }
      if (running) await running;
      if (!window.__tsunaguAxeChecked) await check();
      return true;
    })(),
    new Promise((resolve) => realSetTimeout(() => resolve(false), 20000)),
  ]);
  window.addEventListener("load", schedule);
  document.addEventListener("htmx:afterSettle", schedule);
})();
"""


@dataclass
class PageResult:
    test: str
    url: str
    title: str
    violations: list[dict[str, Any]]


@dataclass
class AxeAudit:
    """Collects axe results for the whole run; ``test`` names the test that owns the pages just now."""

    test: str = ""
    results: list[PageResult] = field(default_factory=list)
    loads: Counter[str] = field(default_factory=Counter)
    undrained: list[str] = field(default_factory=list)
    #: pages not checked, with the reason (a fake clock installed by the test)
    skipped: list[str] = field(default_factory=list)
    fake_clock_pages: list[Any] = field(default_factory=list)

    def attach(self, context: Any) -> None:
        def report(source: Any, data: dict[str, Any]) -> None:
            if data.get("skipped"):
                self.skipped.append(f"{self.test} {data['url']}: {data['skipped']}")
                return
            self.results.append(PageResult(self.test, data["url"], data.get("title", ""), data["violations"]))

        context.expose_binding("__tsunaguAxe", report)
        context.add_init_script(path=str(AXE_SOURCE))
        context.add_init_script(RUNNER % {"tags": json.dumps(TAGS)})
        context.on("page", lambda page: page.on("load", lambda p: self.loads.update([self.test])))
        new_page = context.new_page

        def audited_new_page(*args: Any, **kwargs: Any) -> Any:
            page = new_page(*args, **kwargs)
            install = page.clock.install

            def install_fake_clock(*a: Any, **kw: Any) -> Any:
                self.fake_clock_pages.append(page)
                self.skipped.append(f"{self.test} {page.url}: fake clock installed")
                return install(*a, **kw)

            page.clock.install = install_fake_clock
            return page

        context.new_page = audited_new_page

    def drain(self, context: Any) -> None:
        """Finish the checks of the pages still open (called before the context closes)."""
        for page in context.pages:
            if page in self.fake_clock_pages:  # its timers are scripted: a check could wait forever
                continue
            try:
                finished = page.evaluate("() => window.__tsunaguAxeDrain ? window.__tsunaguAxeDrain() : true")
                if finished is False:
                    self.undrained.append(f"{page.url}: the check did not finish in 20 s")
            except Exception as exc:  # a closed or crashed page has nothing left to check
                self.undrained.append(f"{page.url}: {exc}"[:300])

    def checked(self, test: str) -> int:
        """How many documents of ``test`` axe checked, or — under a fake clock — reported it could not."""
        return sum(1 for r in self.results if r.test == test) + sum(
            1 for s in self.skipped if s.startswith(f"{test} ")
        )

    def blocking(self, test: str) -> list[str]:
        """The serious and critical violations found in ``test``'s pages, one readable line each."""
        lines = []
        for result in self.results:
            if result.test != test or is_foreign(result.url):
                continue
            for v in result.violations:
                if v["impact"] in BLOCKING:
                    where = "; ".join(
                        f"{n['target']} {n['html'][:120]} [{n['summary'][:160]}]" for n in v["nodes"]
                    )
                    lines.append(f"{v['impact']} {v['id']} on {result.url} ({v['help']}): {where}")
        return lines

    def write_summary(self, path: Path = SUMMARY) -> dict[str, Any]:
        by_impact: Counter[str] = Counter()
        by_rule: Counter[str] = Counter()
        own = [r for r in self.results if not is_foreign(r.url)]
        for result in own:
            for v in result.violations:
                by_impact[v["impact"] or "unknown"] += len(v["nodes"])
                by_rule[f"{v['impact']}:{v['id']}"] += len(v["nodes"])
        summary = {
            "pages_checked": len(own),
            "distinct_paths": len({_path(r.url) for r in own}),
            "foreign_pages_checked": len(self.results) - len(own),
            "page_loads": sum(self.loads.values()),
            "pages_left_before_their_check": len(self.undrained),
            "pages_not_checked_under_a_fake_clock": len(self.skipped),
            "tests": len({r.test for r in self.results}),
            "violations_by_impact": dict(by_impact),
            "violations_by_rule": dict(by_rule.most_common()),
            "pages": [
                {
                    "test": r.test,
                    "path": _path(r.url),
                    "violations": [(v["impact"], v["id"]) for v in r.violations],
                }
                for r in self.results
            ],
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
        return summary


def _path(url: str) -> str:
    path = urlsplit(url).path
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", path)


def is_foreign(url: str) -> bool:
    path = urlsplit(url).path
    return path.startswith(FOREIGN_PATHS) or path.endswith(FOREIGN_SUFFIXES)


class AuditedBrowser:
    """The session's Chromium, with axe attached to every context it opens."""

    def __init__(self, browser: Any, audit: AxeAudit) -> None:
        self._browser = browser
        self.audit = audit
        self._contexts: list[Any] = []

    def new_context(self, **kwargs: Any) -> Any:
        context = self._browser.new_context(**kwargs)
        if kwargs.get("java_script_enabled") is False:
            # axe-core is JavaScript: a context without it cannot be checked (and evaluating in it never
            # returns). Its pages are the same templates the JavaScript tests check; counted as not checked.
            self.audit.skipped.append(f"{self.audit.test} (JavaScript off): not checked")
            return context
        self.audit.attach(context)
        self._contexts.append(context)
        original_close = context.close

        def close(*args: Any, **kw: Any) -> Any:
            self.audit.drain(context)
            return original_close(*args, **kw)

        context.close = close  # type: ignore[method-assign]
        return context

    def drain_all(self) -> None:
        for context in self._contexts:
            self.audit.drain(context)
        self._contexts = [c for c in self._contexts if c.pages]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)
