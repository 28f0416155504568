// The server's deploy-time checks (platform/tsunagu/engine/policy.py), mirrored for one element at a time,
// with the server's wording ("日本語 / English"). Each problem names the lint rule it belongs to and the
// properties-panel entry where it is fixed. Expressions are judged by the server itself
// (POST .../designer/validate-expression, see expressions.js): unknown verdicts are fetched, and the lint
// runs again when they arrive.

const BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL";
const FORM_KEY = /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/;
const SCRIPT_ELEMENTS = {
  preScript: "pre スクリプト",
  postScript: "post スクリプト",
  script: "スクリプト",
  executionListener: "実行リスナー",
  taskListener: "タスクリスナー",
};
const CODE_ATTRIBUTES = new Set(["class", "expression", "delegateExpression", "scriptFormat", "script"]);

/** Python's repr() of a short string, as the server's f"{value!r}" prints it. */
function repr(value) {
  return value.includes("'") && !value.includes('"') ? `"${value}"` : `'${value.replace(/'/g, "\\'")}'`;
}

function lowerFirst(name) {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

function splitType(type) {
  const [prefix, local] = type.includes(":") ? type.split(":") : ["", type];
  return { prefix, local: lowerFirst(local) };
}

export function extensionValues(bo) {
  return (bo && bo.extensionElements && bo.extensionElements.values) || [];
}

export function findExtension(bo, type) {
  return extensionValues(bo).find((value) => value.$type === type);
}

export function spiffProperty(bo, name) {
  const properties = findExtension(bo, "spiffworkflow:Properties");
  const found = properties && (properties.values || []).find((p) => p.name === name);
  return found ? found.value : undefined;
}

export function operatorOf(bo) {
  return findExtension(bo, "spiffworkflow:ServiceTaskOperator");
}

export function parametersOf(operator) {
  return (operator && operator.parameters && operator.parameters.parameters) || [];
}

export function bodyOf(bo, type) {
  const found = findExtension(bo, type);
  return found && found.value ? found.value.trim() : "";
}

function is(bo, type) {
  return bo && typeof bo.$instanceOf === "function" && bo.$instanceOf(type);
}

function roleFor(name, ctx) {
  const lane = (name || "").trim();
  if (!lane) return null;
  const role = ctx.roles.find((r) => r.key === lane || r.label === lane);
  return role ? role.key : null;
}

function namespaceOf(prefix, definitions) {
  const attrs = (definitions && definitions.$attrs) || {};
  return attrs[`xmlns:${prefix}`] || prefix;
}

function scriptProblems(bo, ctx, out) {
  if (is(bo, "bpmn:ScriptTask") || is(bo, "bpmn:GlobalScriptTask")) {
    out.push({
      rule: "no-script",
      entry: null,
      message:
        "スクリプトタスクは使えません。サービスタスクを使ってください / " +
        "script tasks are not allowed (no tenant code runs); use a service task",
    });
  }
  for (const value of extensionValues(bo)) {
    const { prefix, local } = splitType(value.$type || "");
    if (SCRIPT_ELEMENTS[local]) {
      out.push({
        rule: "no-script",
        entry: null,
        message: `${SCRIPT_ELEMENTS[local]}は使えません / ${prefix || "bpmn"}:${local} is not allowed (no tenant code runs)`,
      });
    }
  }
  for (const name of Object.keys(bo.$attrs || {})) {
    if (!name.includes(":") || name.startsWith("xmlns")) continue;
    const [prefix, local] = name.split(":");
    const namespace = namespaceOf(prefix, ctx.definitions);
    if (namespace !== BPMN_NS && CODE_ATTRIBUTES.has(local)) {
      out.push({
        rule: "no-script",
        entry: null,
        message: `属性 ${local} は使えません / attribute '${local}' (${namespace}) would run code and is not allowed`,
      });
    }
  }
}

function laneProblems(bo, ctx, out) {
  if (!is(bo, "bpmn:Lane") || roleFor(bo.name, ctx)) return;
  const name = bo.name || "";
  const roles = ctx.roles.map((r) => r.key).sort().join(", ");
  out.push({
    rule: "lane-role",
    entry: "tsunagu-lane-role",
    message: `レーン名「${name}」はロールではありません / lane '${name}' does not name a role (use one of: ${roles}, or their Japanese labels)`,
  });
}

function expressionProblem(ctx, rule, entry, text, kind) {
  const verdict = ctx.expressions.verdict(text, kind);
  return verdict ? { rule, entry, message: verdict } : null;
}

function serviceProblems(bo, ctx, out) {
  if (!is(bo, "bpmn:ServiceTask")) return;
  const operator = operatorOf(bo);
  if (!operator) {
    out.push({
      rule: "service-operation",
      entry: "tsunagu-operation",
      message: "サービスタスクに操作が指定されていません / service task has no spiffworkflow:serviceTaskOperator",
    });
    return;
  }
  const operation = ctx.operations.find((op) => op.name === (operator.id || ""));
  if (!operation) {
    const known = ctx.operations.map((op) => op.name).sort().join(", ");
    out.push({
      rule: "service-operation",
      entry: "tsunagu-operation",
      message: `サービス操作 ${operator.id || ""} はありません / unknown service operation '${operator.id || ""}' (known: ${known})`,
    });
    return;
  }
  const given = new Set();
  for (const param of parametersOf(operator)) {
    const name = param.id || "";
    given.add(name);
    if (!operation.params.some((p) => p.name === name)) {
      out.push({
        rule: "service-operation",
        entry: "tsunagu-operation",
        message: `操作 ${operation.name} に引数 ${name} はありません / operation '${operation.name}' has no parameter '${name}'`,
      });
    } else if (param.value !== undefined && param.value !== null) {
      const found = expressionProblem(ctx, "expression", `tsunagu-param-${name}`, param.value, "formalExpression");
      if (found) out.push(found);
    }
  }
  for (const spec of operation.params) {
    if (spec.required && !given.has(spec.name)) {
      out.push({
        rule: "service-operation",
        entry: `tsunagu-param-${spec.name}`,
        message: `操作 ${operation.name} の引数 ${spec.name} は必須です / operation '${operation.name}' requires parameter '${spec.name}'`,
      });
    }
  }
}

function formProblems(bo, ctx, out) {
  if (!is(bo, "bpmn:UserTask")) return;
  const key = spiffProperty(bo, "formKey");
  let message = null;
  if (!key) {
    message =
      "ユーザータスクにフォームがありません / user task has no form " +
      '(add <spiffworkflow:property name="formKey" value="..."/>)';
  } else if (!FORM_KEY.test(key)) {
    message = `フォーム名 ${repr(key)} は使えません / invalid form key ${repr(key)} (letters, digits, _ and -)`;
  } else if (!ctx.forms.includes(key)) {
    message = `フォーム forms/${key}.form がありません / form 'forms/${key}.form' not found`;
  }
  if (message) out.push({ rule: "form-key", entry: "tsunagu-form-key", message });
}

function conditionProblems(bo, ctx, out) {
  if (!is(bo, "bpmn:SequenceFlow") || !bo.conditionExpression) return;
  const text = (bo.conditionExpression.body || "").trim();
  if (!text) {
    out.push({ rule: "expression", entry: "tsunagu-condition", message: "条件式が空です / condition is empty" });
    return;
  }
  const found = expressionProblem(ctx, "expression", "tsunagu-condition", text, "conditionExpression");
  if (found) out.push(found);
}

function eventDefinitions(bo) {
  return bo.eventDefinitions || [];
}

function timerProblems(bo, ctx, out) {
  for (const definition of eventDefinitions(bo)) {
    if (!is(definition, "bpmn:TimerEventDefinition")) continue;
    for (const kind of ["timeDuration", "timeDate", "timeCycle"]) {
      const text = ((definition[kind] && definition[kind].body) || "").trim();
      if (!text) continue;
      const found = expressionProblem(ctx, "expression", "timerEventDefinitionValue", text, kind);
      if (found) out.push(found);
    }
  }
}

function loopProblems(bo, ctx, out) {
  const loop = bo.loopCharacteristics;
  if (!loop) return;
  for (const kind of ["loopCardinality", "completionCondition"]) {
    const text = ((loop[kind] && loop[kind].body) || "").trim();
    if (!text) continue;
    const found = expressionProblem(ctx, "expression", null, text, "formalExpression");
    if (found) out.push(found);
  }
}

function referenceProblems(bo, ctx, out) {
  if (is(bo, "bpmn:CallActivity")) {
    const called = bo.calledElement;
    const shown = called === undefined || called === null ? "None" : called;
    const processes = ctx.processes();
    if (!called || (!processes.includes(called) && !ctx.aliases.includes(called))) {
      out.push({
        rule: "references",
        entry: "tsunagu-called-element",
        message:
          `呼び出し先 ${shown} がありません / called element '${shown}' is not a ` +
          `process in this bundle nor an alias (${ctx.aliases.slice().sort().join(", ") || "-"})`,
      });
    }
  }
  if (is(bo, "bpmn:BusinessRuleTask")) {
    const decision = bodyOf(bo, "spiffworkflow:CalledDecisionId");
    if (!ctx.decisions.includes(decision)) {
      out.push({
        rule: "references",
        entry: "tsunagu-decision",
        message:
          `決定表 ${decision || "(なし)"} がありません / decision table ` +
          `'${decision}' not found (spiffworkflow:calledDecisionId)`,
      });
    }
  }
}

/**
 * Every problem of one business object, as the deploy would report it.
 * ``ctx``: { roles, operations, forms, decisions, aliases, processes(), expressions, definitions }.
 */
export function problemsOf(bo, ctx) {
  const out = [];
  if (!bo || !bo.$type) return out;
  scriptProblems(bo, ctx, out);
  laneProblems(bo, ctx, out);
  serviceProblems(bo, ctx, out);
  formProblems(bo, ctx, out);
  conditionProblems(bo, ctx, out);
  timerProblems(bo, ctx, out);
  loopProblems(bo, ctx, out);
  referenceProblems(bo, ctx, out);
  return out;
}

export const RULES = ["no-script", "lane-role", "service-operation", "form-key", "expression", "references"];
