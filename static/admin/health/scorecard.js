/* The scorecard admin page (health/admin): each measure shows the inputs of its source,
 * a condition's rule gets the segments' rule editor (also in rows added with "Add
 * another"), and the preview panel is refreshed from the definition on the page as it is
 * edited (POSTed to the admin's preview URL; nothing is saved). Plain JS, no build. */
(function () {
  "use strict";

  var DELAY_MS = 700;
  var timer = null;

  function sourceInputs() {
    var node = document.getElementById("health-source-inputs");
    return node ? JSON.parse(node.textContent) : {};
  }

  function inTemplate(node) { return !!node.closest(".empty-form"); }

  /* Show a measure's inputs for its source, hide the others. */
  function showSource(select) {
    var row = select.closest(".inline-related");
    if (!row) { return; }
    var inputs = sourceInputs();
    var all = [];
    Object.keys(inputs).forEach(function (source) { all = all.concat(inputs[source]); });
    var wanted = inputs[select.value] || [];
    all.forEach(function (name) {
      row.querySelectorAll(".field-" + name).forEach(function (box) {
        box.style.display = wanted.indexOf(name) === -1 ? "none" : "";
      });
    });
  }

  function enhance(root) {
    root.querySelectorAll("select[data-health-source]").forEach(function (select) {
      if (inTemplate(select)) { return; }
      showSource(select);
    });
    var marked = false;
    root.querySelectorAll("textarea[data-health-rule]").forEach(function (area) {
      if (inTemplate(area) || area.dataset.ruleEditor) { return; }
      area.dataset.ruleEditor = "health-rule-schema";
      marked = true;
    });
    if (marked && window.csRuleEditorInit) { window.csRuleEditorInit(); }
  }

  function preview(withBacktest) {
    var panel = document.getElementById("health-preview");
    var form = panel && panel.closest("form");
    if (!form) { return; }
    var data = new FormData(form);
    if (withBacktest) { data.append("backtest", "1"); }
    var target = document.getElementById("health-preview-result");
    target.setAttribute("aria-busy", "true");
    fetch(panel.dataset.previewUrl, { method: "POST", body: data, credentials: "same-origin",
                                      headers: { "X-Requested-With": "fetch" } })
      .then(function (response) { return response.text(); })
      .then(function (html) { target.innerHTML = html; })
      .catch(function () { target.textContent = "The preview could not be loaded."; })
      .finally(function () { target.removeAttribute("aria-busy"); });
  }

  function later() {
    window.clearTimeout(timer);
    timer = window.setTimeout(function () { preview(false); }, DELAY_MS);
  }

  function init() {
    var panel = document.getElementById("health-preview");
    if (!panel) { return; }
    var form = panel.closest("form");
    enhance(document);
    form.addEventListener("change", function (event) {
      if (event.target.matches("select[data-health-source]")) { showSource(event.target); }
      later();
    });
    form.addEventListener("input", later);
    // The rule editor's buttons rewrite the rule without a change event.
    form.addEventListener("click", function (event) {
      if (event.target.closest(".rule-builder")) { later(); }
    });
    document.addEventListener("formset:added", function (event) { enhance(event.target); });
    document.getElementById("health-preview-now").addEventListener("click", function () { preview(false); });
    document.getElementById("health-backtest").addEventListener("click", function () { preview(true); });
    if (panel.dataset.existing) {
      preview(false);
    }
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
