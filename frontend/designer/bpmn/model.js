// Writing the SpiffWorkflow extension elements Tsunagu's engine reads, through bpmn-js commands (undo-able):
// <spiffworkflow:properties><spiffworkflow:property name="formKey" value="..."/>, the service task operator
// with its parameters, <spiffworkflow:calledDecisionId> and <spiffworkflow:messageVariable>.
import { getBusinessObject } from "bpmn-js/lib/util/ModelUtil";

import { findExtension } from "./checks.js";

const UPDATE = "element.updateModdleProperties";

function update(element, moddleElement, properties) {
  return { cmd: UPDATE, context: { element, moddleElement, properties } };
}

function run(injector, commands) {
  if (commands.length) injector.get("commandStack").execute("properties-panel.multi-command-executor", commands);
}

function create(injector, type, attrs, parent) {
  const created = injector.get("bpmnFactory").create(type, attrs);
  created.$parent = parent;
  return created;
}

/** The extension elements of ``target`` (a business object or event definition), created when missing. */
function extensionElements(injector, element, target, commands) {
  let ext = target.extensionElements;
  if (!ext) {
    ext = create(injector, "bpmn:ExtensionElements", { values: [] }, target);
    commands.push(update(element, target, { extensionElements: ext }));
  }
  return ext;
}

function extension(injector, element, target, type, attrs, commands) {
  const ext = extensionElements(injector, element, target, commands);
  let found = findExtension(target, type) || (ext.values || []).find((v) => v.$type === type);
  if (!found) {
    found = create(injector, type, attrs, ext);
    commands.push(update(element, ext, { values: [...(ext.values || []), found] }));
  }
  return found;
}

function removeExtension(element, target, type, commands) {
  const ext = target.extensionElements;
  const found = ext && (ext.values || []).find((v) => v.$type === type);
  if (found) commands.push(update(element, ext, { values: ext.values.filter((v) => v !== found) }));
}

export function setSpiffProperty(injector, element, name, value) {
  const bo = getBusinessObject(element);
  const commands = [];
  const existing = findExtension(bo, "spiffworkflow:Properties");
  const current = existing && (existing.values || []).find((p) => p.name === name);
  if (!value) {
    if (current) commands.push(update(element, existing, { values: existing.values.filter((p) => p !== current) }));
  } else if (current) {
    commands.push(update(element, current, { value }));
  } else {
    const properties = extension(injector, element, bo, "spiffworkflow:Properties", { values: [] }, commands);
    const property = create(injector, "spiffworkflow:Property", { name, value }, properties);
    commands.push(update(element, properties, { values: [...(properties.values || []), property] }));
  }
  run(injector, commands);
}

export function setOperation(injector, element, operation) {
  const bo = getBusinessObject(element);
  const commands = [];
  if (!operation) {
    removeExtension(element, bo, "spiffworkflow:ServiceTaskOperator", commands);
  } else {
    const operator = extension(injector, element, bo, "spiffworkflow:ServiceTaskOperator", { id: operation.name }, commands);
    const keep = ((operator.parameters && operator.parameters.parameters) || []).filter((p) =>
      operation.params.some((spec) => spec.name === p.id),
    );
    commands.push(update(element, operator, { id: operation.name }));
    if (operator.parameters) {
      commands.push(update(element, operator.parameters, { parameters: keep }));
    }
  }
  run(injector, commands);
}

export function setResultVariable(injector, element, value) {
  const operator = findExtension(getBusinessObject(element), "spiffworkflow:ServiceTaskOperator");
  if (operator) run(injector, [update(element, operator, { resultVariable: value || undefined })]);
}

export function setParameter(injector, element, spec, value) {
  const operator = findExtension(getBusinessObject(element), "spiffworkflow:ServiceTaskOperator");
  if (!operator) return;
  const commands = [];
  let list = operator.parameters;
  if (!list) {
    list = create(injector, "spiffworkflow:Parameters", { parameters: [] }, operator);
    commands.push(update(element, operator, { parameters: list }));
  }
  const params = list.parameters || [];
  const current = params.find((p) => p.id === spec.name);
  if (!value) {
    if (current) commands.push(update(element, list, { parameters: params.filter((p) => p !== current) }));
  } else if (current) {
    commands.push(update(element, current, { value }));
  } else {
    const param = create(injector, "spiffworkflow:Parameter", { id: spec.name, type: spec.type, value }, list);
    commands.push(update(element, list, { parameters: [...params, param] }));
  }
  run(injector, commands);
}

/** A body-valued extension (calledDecisionId, messageVariable) of ``target``. */
export function setBodyExtension(injector, element, target, type, value) {
  const commands = [];
  const current = findExtension(target, type);
  if (!value) {
    removeExtension(element, target, type, commands);
  } else if (current) {
    commands.push(update(element, current, { value }));
  } else {
    extension(injector, element, target, type, { value }, commands);
  }
  run(injector, commands);
}

export function setCondition(injector, element, text) {
  const bo = getBusinessObject(element);
  if (!text) {
    run(injector, [update(element, bo, { conditionExpression: undefined })]);
  } else if (bo.conditionExpression) {
    run(injector, [update(element, bo.conditionExpression, { body: text })]);
  } else {
    const expression = create(injector, "bpmn:FormalExpression", { body: text }, bo);
    run(injector, [update(element, bo, { conditionExpression: expression })]);
  }
}
