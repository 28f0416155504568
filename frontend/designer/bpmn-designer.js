// The BPMN designer: bpmn-js Modeler with the properties panel (Tsunagu's group), bpmnlint with the server's
// rules, token simulation, Japanese labels and the diff against the deployed version.
import "bpmn-js/dist/assets/diagram-js.css";
import "bpmn-js/dist/assets/bpmn-js.css";
import "bpmn-js/dist/assets/bpmn-font/css/bpmn-embedded.css";
import "@bpmn-io/properties-panel/dist/assets/properties-panel.css";
import "bpmn-js-bpmnlint/dist/assets/css/bpmn-js-bpmnlint.css";
import "bpmn-js-token-simulation/assets/css/bpmn-js-token-simulation.css";
import "./designer.css";

import BpmnModeler from "bpmn-js/lib/Modeler";
import { BpmnPropertiesPanelModule, BpmnPropertiesProviderModule } from "bpmn-js-properties-panel";
import LintModule from "bpmn-js-bpmnlint";
import TokenSimulationModule from "bpmn-js-token-simulation";
import { getBusinessObject } from "bpmn-js/lib/util/ModelUtil";

import { keepDraft, lang, pageData, setStatus, t, validateDraft, wireDeploy } from "./common.js";
import { problemsOf } from "./bpmn/checks.js";
import { DiffView } from "./bpmn/diff.js";
import { ExpressionChecker } from "./bpmn/expressions.js";
import { lintConfig } from "./bpmn/lint.js";
import TsunaguPropertiesProvider from "./bpmn/properties.jsx";
import spiffworkflow from "./bpmn/spiffworkflow.json";
import { TranslateModule } from "./bpmn/translate.js";

/** Fit the diagram, but never below a readable scale: then show its start (top left) at that scale. */
function readableZoom(canvas, minimum = 0.8) {
  canvas.zoom("fit-viewport");
  if (canvas.zoom() >= minimum) return;
  const { inner, outer } = canvas.viewbox();
  canvas.viewbox({ x: inner.x - 140 / minimum, y: inner.y - 20, width: outer.width / minimum, height: outer.height / minimum });
}

async function main() {
  const data = pageData();
  const root = document.getElementById("designer");
  const expressions = new ExpressionChecker(data.urls.expression, data.csrf);

  const ctx = {
    roles: data.roles,
    operations: data.operations,
    forms: data.forms,
    decisions: data.decisions,
    aliases: data.aliases,
    expressions,
    definitions: null,
    // Call activities may name the processes of the other files and of this draft.
    processes: () => {
      const own = ((ctx.definitions && ctx.definitions.rootElements) || [])
        .filter((e) => e.$type === "bpmn:Process")
        .map((e) => e.id);
      return [...data.processes, ...own];
    },
  };

  const modeler = new BpmnModeler({
    container: "#designer-canvas",
    propertiesPanel: {
      parent: "#designer-properties",
      layout: { groups: { general: { open: true }, tsunagu: { open: true }, timer: { open: true }, message: { open: true } } },
    },
    linting: { bpmnlint: lintConfig(ctx), active: true },
    moddleExtensions: { spiffworkflow },
    additionalModules: [
      BpmnPropertiesPanelModule,
      BpmnPropertiesProviderModule,
      { __init__: ["tsunaguPropertiesProvider"], tsunaguPropertiesProvider: ["type", TsunaguPropertiesProvider], designerContext: ["value", ctx] },
      LintModule,
      TokenSimulationModule,
      TranslateModule,
    ],
  });

  const eventBus = modeler.get("eventBus");
  const linting = modeler.get("linting");

  // Problems at the entry that fixes them, for the selected element.
  function showEntryErrors() {
    const selected = modeler.get("selection").get();
    const errors = {};
    if (selected.length === 1) {
      for (const problem of problemsOf(getBusinessObject(selected[0]), ctx)) {
        if (problem.entry && !errors[problem.entry]) errors[problem.entry] = problem.message;
      }
    }
    eventBus.fire("propertiesPanel.setErrors", { errors });
  }
  let relint = null;
  expressions.onVerdict(() => {
    clearTimeout(relint);
    relint = setTimeout(() => {
      linting.update();
      showEntryErrors();
    }, 50);
  });
  // (A listener that returns a value stops diagram-js events: keep these bodies statements.)
  eventBus.on(["selection.changed", "elements.changed", "propertiesPanel.updated"], () => {
    setTimeout(showEntryErrors, 0);
  });
  eventBus.on("commandStack.changed", () => {
    root.dataset.dirty = "true";
  });
  eventBus.on("linting.completed", ({ issues }) => {
    const count = Object.values(issues).reduce((sum, list) => sum + list.length, 0);
    root.dataset.lintIssues = String(count);
  });

  await modeler.importXML(data.source);
  ctx.definitions = modeler.getDefinitions();
  readableZoom(modeler.get("canvas"));
  root.dataset.state = "ready";
  root.dataset.lang = lang;

  const draft = async () => (await modeler.saveXML({ format: true })).xml;
  const changed = keepDraft(data, await draft(), async (xml) => {
    await modeler.importXML(xml);
    ctx.definitions = modeler.getDefinitions();
    readableZoom(modeler.get("canvas"));
  });
  eventBus.on("commandStack.changed", () => {
    changed(draft);
  });
  const select = (id) => {
    const element = modeler.get("elementRegistry").get(id);
    if (element) {
      modeler.get("selection").select(element);
      modeler.get("canvas").scrollToElement(element);
    }
  };

  document.getElementById("designer-validate").addEventListener("click", async () => validateDraft(data, await draft(), select));

  const lintButton = document.getElementById("designer-lint-button");
  lintButton.addEventListener("click", () => {
    const active = linting.toggle();
    lintButton.setAttribute("aria-pressed", String(active));
  });

  const simulationButton = document.getElementById("designer-simulation-button");
  simulationButton.addEventListener("click", () => {
    modeler.get("toggleMode").toggleMode();
  });
  eventBus.on("tokenSimulation.toggleMode", ({ active }) => {
    simulationButton.setAttribute("aria-pressed", String(active));
    root.dataset.simulation = active ? "on" : "off";
    setStatus(active ? t("トークンシミュレーション中（編集はできません）", "Token simulation on (editing is paused)") : "");
  });

  const diffButton = document.getElementById("designer-diff-button");
  const diffSection = document.getElementById("designer-diff");
  let diffView = null;
  diffButton.addEventListener("click", async () => {
    if (!diffSection.hidden) {
      diffSection.hidden = true;
      diffButton.setAttribute("aria-expanded", "false");
      return;
    }
    diffView = diffView || new DiffView(diffSection, modeler.get("moddle"));
    diffButton.setAttribute("aria-expanded", "true");
    const grouped = await diffView.show(data.source, await draft());
    const total = Object.values(grouped).reduce((sum, list) => sum + list.length, 0);
    setStatus(t(`配備中のバージョンとの違い: ${total} 件`, `${total} change(s) against the deployed version`));
    diffSection.scrollIntoView({ block: "start" });
  });

  wireDeploy(data, draft, select);
}

main().catch((error) => {
  document.getElementById("designer").dataset.state = "error";
  setStatus(t(`設計画面を開けません: ${error.message}`, `The designer could not start: ${error.message}`), "error");
});
