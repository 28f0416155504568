// bpmnlint in the modeller: a local plugin ("tsunagu/<rule>") whose rules are the server's checks
// (checks.js). There is no .bpmnlintrc loader in the browser, so the config and a resolver are built here.
import { problemsOf, RULES } from "./checks.js";

export function lintConfig(ctx) {
  const factories = Object.fromEntries(
    RULES.map((rule) => [
      rule,
      () => ({
        check(node, reporter) {
          if (!node.id || node.$instanceOf("bpmn:Definitions")) return;
          for (const problem of problemsOf(node, ctx)) {
            if (problem.rule === rule) reporter.report(node.id, problem.message);
          }
        },
      }),
    ]),
  );
  return {
    config: { rules: Object.fromEntries(RULES.map((rule) => [`tsunagu/${rule}`, "error"])) },
    resolver: {
      resolveRule(pkg, ruleName) {
        if (pkg !== "bpmnlint-plugin-tsunagu" || !factories[ruleName]) {
          throw new Error(`unknown rule ${pkg}/${ruleName}`);
        }
        return factories[ruleName];
      },
      resolveConfig(pkg, configName) {
        throw new Error(`unknown config ${pkg}/${configName}`);
      },
    },
  };
}
