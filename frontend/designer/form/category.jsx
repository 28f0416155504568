// The form designer's extra property: the information category of a field (一般 / 要配慮 / 税情報 / 世帯),
// stored as the form-js custom property ``properties.category``; the sharing rules read it.
//
// form-js-editor carries its own copy of the properties-panel components and exports none of them, so this
// entry is a plain Preact component (the editor's Preact, see scripts/build-assets.mjs) with the panel's
// markup and classes.
import { lang, t } from "../common.js";

const INPUTS = new Set(["textfield", "textarea", "number", "datetime", "select", "radio", "checkbox", "checklist", "taglist"]);

export function categoryModule(categories) {
  function CategoryEntry({ id, field, editField }) {
    const value = (field.properties && field.properties.category) || "general";
    const domId = `bio-properties-panel-${id}`;
    const change = (event) => editField(field, ["properties"], { ...(field.properties || {}), category: event.target.value });
    return (
      <div class="bio-properties-panel-entry" data-entry-id={id}>
        <div class="bio-properties-panel-select">
          <label for={domId} class="bio-properties-panel-label">{t("情報の区分", "Information category")}</label>
          <select id={domId} name={id} class="bio-properties-panel-input" onChange={change}>
            {categories.map((c) => (
              <option value={c.key} selected={c.key === value}>{lang === "en" ? c.en : c.ja}</option>
            ))}
          </select>
        </div>
        <div class="bio-properties-panel-description">{t("情報共有のときの扱いを決めます。", "Decides how the field is shared.")}</div>
      </div>
    );
  }

  class CategoryProvider {
    constructor(propertiesPanel) {
      propertiesPanel.registerProvider(this, 400);
    }

    getGroups(field, editField) {
      return (groups) => {
        if (!INPUTS.has(field.type)) return groups;
        const entry = { id: "tsunagu-category", component: CategoryEntry, field, editField, isEdited: () => false };
        groups.splice(1, 0, { id: "tsunagu-category", label: t("つなぐの設定", "Tsunagu settings"), entries: [entry] });
        return groups;
      };
    }
  }
  CategoryProvider.$inject = ["propertiesPanel"];

  return { __init__: ["tsunaguCategoryProvider"], tsunaguCategoryProvider: ["type", CategoryProvider] };
}
