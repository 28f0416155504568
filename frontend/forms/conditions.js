// Live show/hide of task form fields by their form-js `conditional.hide` (FEEL), evaluated with feelin, the
// FEEL interpreter form-js itself uses. The rules are the server's (platform/tsunagu/forms/conditions.py),
// step for step: fields in document order; a field is hidden when one of its expressions (its groups',
// outermost first, then its own) gives exactly `true`, each expression evaluated once per pass; a hidden
// field's value is cleared to its empty value (false, [] or null) before the fields after it are looked at.
// The server only accepts the FEEL subset of tsunagu.forms.feel, so both sides give the same answers.
//
// A hidden field's controls are disabled: the browser neither checks nor sends them (the server drops any
// value of a hidden field anyway). A conditional field that is required gets `required` while it shows.
// The form's fields come from the page (`data-form-conditions`, written by forms/fields.html); no inline
// script, no eval: the bundle runs under the app's CSP.
import { evaluate } from "@bpmn-io/feelin";

const MULTI = new Set(["checklist", "taglist"]);

function emptyValue(entry) {
  if (entry.type === "checkbox") return false;
  if (MULTI.has(entry.type)) return [];
  return null;
}

function setPath(target, key, value) {
  const parts = key.split(".");
  let node = target;
  for (const part of parts.slice(0, -1)) {
    if (typeof node[part] !== "object" || node[part] === null || Array.isArray(node[part])) node[part] = {};
    node = node[part];
  }
  node[parts[parts.length - 1]] = value;
}

// The option value as the server renders it into the HTML (forms.render._text).
function asText(value) {
  if (value === null || value === undefined || typeof value === "boolean") return "";
  return String(value);
}

function typedOption(entry, text) {
  if (!entry.options) return text;
  const found = entry.options.find((value) => asText(value) === text);
  return found === undefined ? text : found;
}

function controls(form, entry) {
  return Array.from(form.elements).filter((el) => el.name === entry.key);
}

function number(text) {
  const normal = text.normalize("NFKC").trim().replace(/,/g, "");
  if (normal === "") return null;
  const value = Number(normal);
  return Number.isFinite(value) ? value : null;
}

// The typed value of a field, as validation would clean it (a value it would refuse counts as empty).
function readValue(form, entry) {
  const els = controls(form, entry);
  if (entry.type === "checkbox") return els.some((el) => el.checked);
  if (MULTI.has(entry.type)) return els.filter((el) => el.checked).map((el) => typedOption(entry, el.value));
  if (entry.type === "radio") {
    const checked = els.find((el) => el.checked);
    return checked ? typedOption(entry, checked.value) : null;
  }
  const el = els[0];
  if (!el || el.value.trim() === "") return null;
  if (entry.type === "number") return number(el.value);
  if (entry.type === "select") return typedOption(entry, el.value);
  return entry.type === "datetime" ? el.value.trim() : el.value;
}

function isTrue(expression, data) {
  try {
    return evaluate(expression.replace(/^\s*=/, ""), data).value === true;
  } catch {
    return false; // the server refuses such a form; never hide on an error
  }
}

// The hidden fields and groups for the form's current values (the server's hidden_fields), where the fields
// in `skip` count as empty: the browser will not send them.
function pass(form, spec, skip) {
  const data = {};
  for (const entry of spec) setPath(data, entry.key, skip.has(entry.key) ? emptyValue(entry) : readValue(form, entry));
  const results = new Map();
  const fields = new Map();
  for (const entry of spec) {
    let hidden = false;
    for (const condition of entry.hide) {
      if (!results.has(condition.scope)) results.set(condition.scope, isTrue(condition.expression, data));
      if (results.get(condition.scope)) {
        hidden = true;
        break;
      }
    }
    if (hidden) setPath(data, entry.key, emptyValue(entry));
    fields.set(entry.key, hidden);
  }
  return { fields, results };
}

// What the server will decide on what this page sends: hidden controls are not sent, so repeat until the
// hidden set no longer changes (at most one pass per field).
export function hiddenState(form, spec) {
  let skip = new Set();
  let state = pass(form, spec, skip);
  for (let round = 0; round < spec.length; round += 1) {
    const next = new Set(spec.filter((entry) => state.fields.get(entry.key)).map((entry) => entry.key));
    if (next.size === skip.size && [...next].every((key) => skip.has(key))) break;
    skip = next;
    state = pass(form, spec, skip);
  }
  return state;
}

function show(element, visible) {
  element.hidden = !visible;
  // author styles (display: flex on .field.checkbox) would override the hidden attribute alone
  element.style.display = visible ? "" : "none";
}

function apply(form, spec) {
  const { fields, results } = hiddenState(form, spec);
  for (const entry of spec) {
    const hidden = fields.get(entry.key);
    const own = document.getElementById(entry.id);
    const wrapper = own ? own.closest(".field") || own : null;
    for (const condition of entry.hide) {
      const element = document.getElementById(condition.element);
      if (element && element !== own) show(element, !results.get(condition.scope));
    }
    if (wrapper && entry.hide.length) show(wrapper, !hidden);
    for (const el of controls(form, entry)) {
      el.disabled = hidden;
      if (entry.required && entry.hide.length && !MULTI.has(entry.type)) el.required = !hidden;
    }
    if (wrapper) {
      for (const mark of wrapper.querySelectorAll("[data-required-when-shown]")) show(mark, !hidden);
    }
  }
}

function wire(holder) {
  const form = holder.closest("form");
  let spec;
  try {
    spec = JSON.parse(holder.dataset.formConditions || "[]");
  } catch {
    return;
  }
  if (!form || !Array.isArray(spec) || spec.length === 0) return;
  const update = () => apply(form, spec);
  form.addEventListener("input", update);
  form.addEventListener("change", update);
  update();
}

document.querySelectorAll("[data-form-conditions]").forEach(wire);
