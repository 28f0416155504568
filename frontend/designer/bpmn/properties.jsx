// The properties-panel group for exactly what Tsunagu's engine reads: lane → role, a user task's form and
// due days, a service task's operation (the platform allowlist) and its parameters, a business rule task's
// decision table, a call activity's process, a flow's condition and a message's variable. Problems found by
// the checks (checks.js, as the deploy reports them) are shown at the entry that fixes them.
import { SelectEntry, TextFieldEntry, isSelectEntryEdited, isTextFieldEntryEdited } from "@bpmn-io/properties-panel";
import { useService } from "bpmn-js-properties-panel";
import { getBusinessObject, is } from "bpmn-js/lib/util/ModelUtil";

import { t } from "../common.js";
import { bodyOf, operatorOf, parametersOf, spiffProperty } from "./checks.js";
import {
  setBodyExtension,
  setCondition,
  setOperation,
  setParameter,
  setResultVariable,
  setSpiffProperty,
} from "./model.js";

const DUE_DAYS = /^\d{0,4}$/;

function Select({ element, id, label, description, options, getValue, setValue }) {
  return (
    <SelectEntry
      element={element}
      id={id}
      label={label}
      description={description}
      getValue={getValue}
      setValue={setValue}
      getOptions={() => options(element)}
    />
  );
}

function Text({ element, id, label, description, getValue, setValue, validate }) {
  const debounce = useService("debounceInput");
  return (
    <TextFieldEntry
      element={element}
      id={id}
      label={label}
      description={description}
      getValue={getValue}
      setValue={setValue}
      validate={validate}
      debounce={debounce}
    />
  );
}

function withCurrent(options, current, unknownLabel) {
  if (current && !options.some((o) => o.value === current)) {
    return [{ value: current, label: `${current} — ${unknownLabel}` }, ...options];
  }
  return options;
}

export default function TsunaguPropertiesProvider(propertiesPanel, injector, designerContext) {
  const ctx = designerContext;

  function entry(id, Component, isEdited, props) {
    return { id, component: (p) => <Component {...p} id={id} {...props} />, isEdited };
  }

  function laneEntries(element) {
    const bo = getBusinessObject(element);
    return [
      entry("tsunagu-lane-role", Select, isSelectEntryEdited, {
        label: t("担当するロール", "Role of this lane"),
        description: t("レーン名がロールになります（日本語名で保存）。", "The lane's name is the role (saved as its Japanese label)."),
        options: () =>
          withCurrent(
            [{ value: "", label: t("（選んでください）", "(choose)") }, ...ctx.roles.map((r) => ({ value: r.label, label: `${r.label} (${r.key})` }))],
            bo.name,
            t("ロールではありません", "not a role"),
          ),
        getValue: () => {
          const role = ctx.roles.find((r) => r.key === (bo.name || "").trim());
          return role ? role.label : bo.name || "";
        },
        setValue: (value) => injector.get("modeling").updateProperties(element, { name: value }),
      }),
    ];
  }

  function userTaskEntries(element) {
    const bo = getBusinessObject(element);
    return [
      entry("tsunagu-form-key", Select, isSelectEntryEdited, {
        label: t("フォーム", "Form"),
        description: t("この作業で記入するフォーム（forms/<名前>.form）。", "The form filled in at this step (forms/<key>.form)."),
        options: () =>
          withCurrent(
            [{ value: "", label: t("（なし）", "(none)") }, ...ctx.forms.map((key) => ({ value: key, label: key }))],
            spiffProperty(bo, "formKey"),
            t("見つかりません", "not found"),
          ),
        getValue: () => spiffProperty(bo, "formKey") || "",
        setValue: (value) => setSpiffProperty(injector, element, "formKey", value),
      }),
      entry("tsunagu-due-days", Text, isTextFieldEntryEdited, {
        label: t("期限（日数）", "Due in days"),
        description: t("作業が用意されてからの日数。空欄なら期限なし。", "Days after the step becomes ready; empty for no due date."),
        getValue: () => spiffProperty(bo, "dueInDays") || "",
        setValue: (value) => setSpiffProperty(injector, element, "dueInDays", (value || "").trim()),
        validate: (value) => (DUE_DAYS.test((value || "").trim()) ? null : t("0 以上の整数で入力してください。", "Enter a whole number of days.")),
      }),
    ];
  }

  function serviceTaskEntries(element) {
    const bo = getBusinessObject(element);
    const operator = operatorOf(bo);
    const operation = operator && ctx.operations.find((op) => op.name === operator.id);
    const entries = [
      entry("tsunagu-operation", Select, isSelectEntryEdited, {
        label: t("サービス操作", "Service operation"),
        description: operation ? operation.description : t("プラットフォームが用意した操作だけが使えます。", "Only the platform's operations can run."),
        options: () =>
          withCurrent(
            [{ value: "", label: t("（選んでください）", "(choose)") }, ...ctx.operations.map((op) => ({ value: op.name, label: `${op.name} — ${op.description.split(" — ")[0]}` }))],
            operator && operator.id,
            t("許可されていません", "not allowed"),
          ),
        getValue: () => (operator && operator.id) || "",
        setValue: (value) => setOperation(injector, element, ctx.operations.find((op) => op.name === value) || null),
      }),
    ];
    if (!operation) return entries;
    entries.push(
      entry("tsunagu-result-variable", Text, isTextFieldEntryEdited, {
        label: t("結果を入れる変数", "Result variable"),
        getValue: () => operator.resultVariable || "",
        setValue: (value) => setResultVariable(injector, element, (value || "").trim()),
      }),
    );
    for (const spec of operation.params) {
      const current = parametersOf(operator).find((p) => p.id === spec.name);
      entries.push(
        entry(`tsunagu-param-${spec.name}`, Text, isTextFieldEntryEdited, {
          label: `${spec.name} (${spec.type})${spec.required ? t("（必須）", " (required)") : ""}`,
          description: `${spec.description} — ${t("式で書きます。文字列は引用符で: 'plan_ready'", "an expression; quote text: 'plan_ready'")}`,
          getValue: () => (current && current.value) || "",
          setValue: (value) => setParameter(injector, element, spec, value),
        }),
      );
    }
    return entries;
  }

  function businessRuleEntries(element) {
    const bo = getBusinessObject(element);
    return [
      entry("tsunagu-decision", Select, isSelectEntryEdited, {
        label: t("決定表", "Decision table"),
        options: () =>
          withCurrent(
            [{ value: "", label: t("（選んでください）", "(choose)") }, ...ctx.decisions.map((d) => ({ value: d, label: d }))],
            bodyOf(bo, "spiffworkflow:CalledDecisionId"),
            t("見つかりません", "not found"),
          ),
        getValue: () => bodyOf(bo, "spiffworkflow:CalledDecisionId"),
        setValue: (value) => setBodyExtension(injector, element, bo, "spiffworkflow:CalledDecisionId", value),
      }),
    ];
  }

  function callActivityEntries(element) {
    const bo = getBusinessObject(element);
    return [
      entry("tsunagu-called-element", Select, isSelectEntryEdited, {
        label: t("呼び出すプロセス", "Called process"),
        description: t("meeting は自治体ごとの会議プロセスに置き換わります。", "'meeting' stands for the tenant's meeting process."),
        options: () =>
          withCurrent(
            [{ value: "", label: t("（選んでください）", "(choose)") }, ...[...ctx.aliases, ...ctx.processes()].map((p) => ({ value: p, label: p }))],
            bo.calledElement,
            t("見つかりません", "not found"),
          ),
        getValue: () => bo.calledElement || "",
        setValue: (value) => injector.get("modeling").updateProperties(element, { calledElement: value || undefined }),
      }),
    ];
  }

  function conditionEntries(element) {
    const bo = getBusinessObject(element);
    return [
      entry("tsunagu-condition", Text, isTextFieldEntryEdited, {
        label: t("条件式", "Condition"),
        description: t("例: screening_outcome == 'continue'（入力しながらサーバーが確認します）", "e.g. screening_outcome == 'continue' (checked by the server as you type)"),
        getValue: () => (bo.conditionExpression && bo.conditionExpression.body) || "",
        setValue: (value) => setCondition(injector, element, (value || "").trim()),
      }),
    ];
  }

  function messageEntries(element, definition) {
    return [
      entry("tsunagu-message-variable", Text, isTextFieldEntryEdited, {
        label: t("受け取った内容を入れる変数", "Variable for the message payload"),
        getValue: () => bodyOf(definition, "spiffworkflow:MessageVariable"),
        setValue: (value) => setBodyExtension(injector, element, definition, "spiffworkflow:MessageVariable", (value || "").trim()),
      }),
    ];
  }

  this.getGroups = function (element) {
    return function (groups) {
      const bo = getBusinessObject(element);
      let entries = [];
      if (is(element, "bpmn:Lane")) entries = laneEntries(element);
      else if (is(element, "bpmn:UserTask")) entries = userTaskEntries(element);
      else if (is(element, "bpmn:ServiceTask")) entries = serviceTaskEntries(element);
      else if (is(element, "bpmn:BusinessRuleTask")) entries = businessRuleEntries(element);
      else if (is(element, "bpmn:CallActivity")) entries = callActivityEntries(element);
      else if (is(element, "bpmn:SequenceFlow") && bo.sourceRef && (is(bo.sourceRef, "bpmn:ExclusiveGateway") || is(bo.sourceRef, "bpmn:InclusiveGateway"))) {
        entries = conditionEntries(element);
      }
      const message = (bo.eventDefinitions || []).find((d) => is(d, "bpmn:MessageEventDefinition"));
      if (message && (is(element, "bpmn:IntermediateCatchEvent") || is(element, "bpmn:StartEvent") || is(element, "bpmn:BoundaryEvent"))) {
        entries = entries.concat(messageEntries(element, message));
      }
      if (entries.length) {
        groups.splice(1, 0, { id: "tsunagu", label: t("つなぐの設定", "Tsunagu settings"), entries });
      }
      return groups;
    };
  };
  propertiesPanel.registerProvider(400, this);
}

TsunaguPropertiesProvider.$inject = ["propertiesPanel", "injector", "designerContext"];
