/* The segment builder (DESIGN section 3), in plain JS with no build, shared by the admin
 * and the app's segment pages. It edits the JSON in the textarea it enhances: every change
 * re-writes the textarea, and typing valid JSON in the textarea ("Edit as JSON") re-draws
 * the builder. The server validates on save.
 * Everything it offers comes from the server (segments.selectors.rule_editor_schema,
 * rendered as a JSON script tag next to the textarea): fields in groups with their labels
 * and types, the operators of each type in words and what value each takes, and the
 * choices of picklist and catalogue fields.
 * With data-rule-count-url on the textarea, it also shows the live count and ARR of the
 * definition being edited: it posts the textarea's form there after each change. */
(function () {
  "use strict";

  var NUMERIC = ["integer", "number", "money"];

  function takes(schema, op) {
    var info = schema.operator_labels[op];
    return info ? info.takes : "value";
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") { node.textContent = attrs[key]; }
      else if (key.slice(0, 2) === "on") { node.addEventListener(key.slice(2), attrs[key]); }
      else { node.setAttribute(key, attrs[key]); }
    });
    (children || []).forEach(function (child) { if (child) { node.appendChild(child); } });
    return node;
  }

  function select(options, value, onchange, label) {
    var s = el("select", { "aria-label": label || "Value", onchange: function () { onchange(s.value); } });
    options.forEach(function (o) {
      var opt = el("option", { value: o[0], text: o[1] });
      if (String(o[0]) === String(value)) { opt.selected = true; }
      s.appendChild(opt);
    });
    return s;
  }

  /* A select whose options come in labelled groups: groups = [[label, [[value, text]...]]]. */
  function groupedSelect(groups, value, onchange, label) {
    var s = el("select", { "aria-label": label || "Field", onchange: function () { onchange(s.value); } });
    groups.forEach(function (g) {
      var parent = g[0] ? el("optgroup", { label: g[0] }) : s;
      g[1].forEach(function (o) {
        var opt = el("option", { value: o[0], text: o[1] });
        if (String(o[0]) === String(value)) { opt.selected = true; }
        parent.appendChild(opt);
      });
      if (parent !== s) { s.appendChild(parent); }
    });
    return s;
  }

  function valueText(v) {
    if (Array.isArray(v)) { return "[" + v.map(valueText).join(", ") + "]"; }
    return String(v);
  }

  /* The rule on one line, as rules/text.py writes it, with the server's labels. */
  function ruleText(schema, rule, top) {
    if (!rule || typeof rule !== "object") { return String(rule); }
    var key = "all" in rule ? "all" : ("any" in rule ? "any" : null);
    if (key) {
      var kids = rule[key] || [];
      if (!kids.length) { return key === "all" ? "every account" : "no account"; }
      var text = kids.map(function (k) { return ruleText(schema, k, false); }).join(key === "all" ? " AND " : " OR ");
      return top || kids.length === 1 ? text : "(" + text + ")";
    }
    if ("not" in rule) { return "NOT " + ruleText(schema, rule.not, false); }
    var info = schema.operator_labels[rule.op];
    var label = info ? info.label : String(rule.op);
    var kind = takes(schema, rule.op);
    if (kind === "nothing") { return rule.field + " " + label; }
    if (kind === "range" && Array.isArray(rule.value) && rule.value.length === 2) {
      return rule.field + " " + label + " " + valueText(rule.value[0]) + " and " + valueText(rule.value[1]);
    }
    if (kind === "days") { return rule.field + " " + label + " " + valueText(rule.value) + " " + info.suffix; }
    return rule.field + " " + label + " " + valueText(rule.value);
  }

  function Editor(textarea, schema) {
    this.textarea = textarea;
    this.schema = schema;
    this.root = el("div", { "class": "rule-builder" });
    this.readable = el("p", { "class": "rule-readable" });
    var self = this;
    var toggle = el("button", {
      type: "button", "class": "button rule-json-toggle", text: "Edit as JSON",
      onclick: function () {
        var hidden = textarea.style.display === "none";
        textarea.style.display = hidden ? "" : "none";
        toggle.textContent = hidden ? "Hide JSON" : "Edit as JSON";
      }
    });
    textarea.parentNode.insertBefore(this.root, textarea);
    textarea.parentNode.insertBefore(this.readable, textarea);
    textarea.parentNode.insertBefore(toggle, textarea);
    textarea.style.display = "none";
    textarea.addEventListener("input", function () {
      try { self.rule = JSON.parse(textarea.value); self.draw(false); } catch (e) { /* keep */ }
    });
    try { this.rule = JSON.parse(textarea.value || "{\"all\": []}"); } catch (e) {
      this.rule = null;
      textarea.style.display = "";  // not JSON: let the person fix it by hand
    }
    this.live = null;
    if (textarea.dataset.ruleCountUrl && textarea.form) {
      this.live = el("p", { "class": "rule-live", "aria-live": "polite", id: textarea.id + "-live" });
      this.moves = el("div", { "class": "rule-live-moves", id: textarea.id + "-moves" });
      textarea.parentNode.insertBefore(this.live, this.readable.nextSibling);
      textarea.parentNode.insertBefore(this.moves, this.live.nextSibling);
      textarea.form.addEventListener("change", function (event) {
        if (event.target !== textarea && !self.root.contains(event.target)) { self.count(); }
      });
      textarea.addEventListener("input", function () { self.count(); });
    }
    this.draw(false);
  }

  /* Post the form to data-rule-count-url (debounced) and show what the definition would
   * hold now: {count, arr, entering, exiting} or {errors: [{path, message}]}. */
  Editor.prototype.count = function () {
    var self = this;
    if (!this.live) { return; }
    clearTimeout(this.countTimer);
    this.countTimer = setTimeout(function () {
      var form = self.textarea.form;
      var token = form.querySelector("input[name=csrfmiddlewaretoken]");
      self.live.classList.add("busy");
      fetch(self.textarea.dataset.ruleCountUrl, {
        method: "POST", body: new FormData(form), credentials: "same-origin",
        headers: token ? { "X-CSRFToken": token.value } : {}
      }).then(function (r) { return r.json(); }).then(function (data) {
        self.live.classList.remove("busy");
        if (data.errors) {
          self.live.className = "rule-live error";
          self.live.textContent = "Not counted: " + data.errors.map(function (e) {
            return (e.path ? e.path + ": " : "") + e.message;
          }).join("; ");
          self.moves.innerHTML = "";
          return;
        }
        self.live.className = "rule-live ok";
        var text = "Would hold " + data.count_text + (data.count === 1 ? " account · " : " accounts · ") + data.arr_text + " ARR";
        if (data.entering !== null && data.entering !== undefined) {
          text += " · +" + data.entering + " entering, −" + data.exiting + " exiting";
        }
        self.live.textContent = text;
        self.live.dataset.count = data.count;
        self.showMoves(data);
      }).catch(function () {
        self.live.className = "rule-live error";
        self.live.textContent = "Could not count right now.";
      });
    }, 350);
  };

  /* The largest accounts that would enter and exit (an existing segment's edit), as two
   * lists of links beside the live count. */
  Editor.prototype.showMoves = function (data) {
    this.moves.innerHTML = "";
    if (data.entering === null || data.entering === undefined) { return; }
    var sides = [["Entering", data.entering, data.entering_accounts || []],
                 ["Exiting", data.exiting, data.exiting_accounts || []]];
    var self = this;
    sides.forEach(function (side) {
      var shown = side[2].length;
      var title = side[0] + (side[1] > shown ? " (largest " + shown + " of " + side[1] + ")" : "");
      var items = side[2].map(function (a) {
        return el("li", {}, [el("a", { href: a.url, text: a.name }), el("span", { "class": "muted", text: " " + a.arr_text })]);
      });
      if (!items.length) { items = [el("li", { "class": "empty", text: "Nobody." })]; }
      self.moves.appendChild(el("div", { "class": "rule-live-side", "data-side": side[0].toLowerCase() }, [
        el("h4", { text: title }), el("ul", { "class": "plain" }, items)
      ]));
    });
  };

  Editor.prototype.fieldType = function (name) {
    var field = this.schema.fields[name];
    return field ? field.type : null;
  };

  Editor.prototype.opLabel = function (op) {
    var info = this.schema.operator_labels[op];
    return info ? info.menu_label : op;
  };

  Editor.prototype.changed = function () { this.draw(true); };

  Editor.prototype.draw = function (write) {
    if (write) { this.textarea.value = JSON.stringify(this.rule, null, 2); }
    this.root.innerHTML = "";
    if (this.rule === null) {
      this.readable.textContent = "The rule is not valid JSON; edit it below.";
      return;
    }
    var self = this;
    this.root.appendChild(this.node(this.rule, function (replacement) { self.rule = replacement; }, true));
    this.readable.textContent = "Reads: " + ruleText(this.schema, this.rule, true);
    this.count();
  };

  Editor.prototype.node = function (node, replace, isRoot) {
    var self = this;
    if (node && typeof node === "object" && ("all" in node || "any" in node)) {
      return this.group(node, replace, isRoot);
    }
    if (node && typeof node === "object" && "not" in node) {
      var box = el("div", { "class": "rule-not" }, [
        el("span", { "class": "rule-tag", text: "NOT" }),
        el("button", { type: "button", "class": "button", text: "remove NOT",
          onclick: function () { replace(node.not); self.changed(); } })
      ]);
      box.appendChild(this.node(node.not, function (r) { node.not = r; }, false));
      return box;
    }
    return this.leaf(node, replace, isRoot);
  };

  Editor.prototype.group = function (node, replace, isRoot) {
    var self = this;
    var key = "all" in node ? "all" : "any";
    var children = Array.isArray(node[key]) ? node[key] : [];
    var box = el("div", { "class": "rule-group" });
    var header = el("div", { "class": "rule-group-header" }, [
      select([["all", "ALL of (AND)"], ["any", "ANY of (OR)"]], key, function (value) {
        var kids = node[key]; delete node[key]; node[value] = kids; self.changed();
      }, "Group combines"),
      el("button", { type: "button", "class": "button", text: "+ condition", onclick: function () {
        children.push({ field: "arr", op: "gte", value: 0 }); node[key] = children; self.changed();
      } }),
      el("button", { type: "button", "class": "button", text: "+ group", onclick: function () {
        children.push({ any: [] }); node[key] = children; self.changed();
      } }),
      el("button", { type: "button", "class": "button", text: "NOT", onclick: function () {
        replace({ not: node }); self.changed();
      } })
    ]);
    if (!isRoot) {
      header.appendChild(el("button", { type: "button", "class": "button rule-remove", text: "✕",
        onclick: function () { replace(undefined); self.changed(); } }));
    }
    box.appendChild(header);
    children.forEach(function (child, index) {
      box.appendChild(self.node(child, function (r) {
        if (r === undefined) { children.splice(index, 1); } else { children[index] = r; }
      }, false));
    });
    if (!children.length) {
      box.appendChild(el("p", { "class": "help", text: key === "all" ? "Empty: matches every account." : "Empty: matches no account." }));
    }
    return box;
  };

  Editor.prototype.leaf = function (node, replace, isRoot) {
    var self = this;
    if (!node || typeof node !== "object") { node = { field: "arr", op: "gte", value: 0 }; replace(node); }
    var type = this.fieldType(node.field);
    var label = function (f) { return self.schema.fields[f].label || f; };
    var groups = (this.schema.groups || [["", Object.keys(this.schema.fields)]]).map(function (g) {
      return [g[0], g[1].map(function (f) { return [f, label(f)]; })];
    });
    if (!type) { groups.unshift(["", [[node.field, String(node.field) + " (unknown field)"]]]); }
    var ops = (this.schema.operators[type] || [node.op]).map(function (op) { return [op, self.opLabel(op)]; });
    var row = el("div", { "class": "rule-leaf" }, [
      groupedSelect(groups, node.field, function (value) {
        node.field = value;
        var newType = self.fieldType(value);
        if ((self.schema.operators[newType] || []).indexOf(node.op) < 0) { node.op = self.schema.operators[newType][0]; }
        if (takes(self.schema, node.op) === "nothing") { delete node.value; }
        self.changed();
      }, "Field"),
      select(ops, node.op, function (value) {
        node.op = value;
        var kind = takes(self.schema, value);
        if (kind === "nothing") { delete node.value; }
        else if (kind === "range") { node.value = [null, null]; }
        else if (kind === "list") { node.value = []; }
        else if (kind === "days") { node.value = 30; }
        self.changed();
      }, "Operator")
    ]);
    var input = this.valueInput(node, type);
    if (input) { row.appendChild(input); }
    row.appendChild(el("button", { type: "button", "class": "button", text: "NOT", onclick: function () {
      replace({ not: node }); self.changed();
    } }));
    if (!isRoot) {
      row.appendChild(el("button", { type: "button", "class": "button rule-remove", text: "✕",
        onclick: function () { replace(undefined); self.changed(); } }));
    } else {
      row.appendChild(el("button", { type: "button", "class": "button", text: "wrap in group",
        onclick: function () { replace({ all: [node] }); self.changed(); } }));
    }
    return row;
  };

  Editor.prototype.parse = function (text, type) {
    text = String(text).trim();
    if (NUMERIC.indexOf(type) >= 0 && text !== "" && !isNaN(Number(text))) { return Number(text); }
    return text;
  };

  Editor.prototype.valueInput = function (node, type) {
    var self = this;
    var kind = takes(this.schema, node.op);
    if (kind === "nothing") { return null; }
    var inputType = type === "date" && kind !== "days" ? "date" : "text";
    if (type === "boolean") {
      return select([["true", "true"], ["false", "false"]], String(node.value), function (v) {
        node.value = v === "true"; self.changed();
      });
    }
    var choices = this.schema.choices[node.field];
    // One value of a choice field (eq, ne) or of a set field's choices (contains, not_contains).
    if (choices && kind === "value" && ["eq", "ne", "contains", "not_contains"].indexOf(node.op) >= 0) {
      return select([["", "—"]].concat(choices.map(function (c) { return [c, c]; })), node.value, function (v) {
        node.value = v; self.changed();
      });
    }
    if (kind === "range") {
      var pair = Array.isArray(node.value) ? node.value : [null, null];
      var wrap = el("span");
      [0, 1].forEach(function (i) {
        var inp = el("input", { type: inputType, value: pair[i] === null || pair[i] === undefined ? "" : pair[i], size: "12",
          "aria-label": i === 0 ? "From" : "To",
          onchange: function () { pair[i] = self.parse(inp.value, type); node.value = pair; self.changed(); } });
        wrap.appendChild(inp);
        if (i === 0) { wrap.appendChild(document.createTextNode(" and ")); }
      });
      return wrap;
    }
    if (kind === "list" && choices) {
      var picked = Array.isArray(node.value) ? node.value.map(String) : [];
      var multi = el("select", { multiple: "multiple", size: String(Math.min(6, choices.length)),
        "aria-label": "values", onchange: function () {
          node.value = Array.prototype.filter.call(multi.options, function (o) { return o.selected; })
            .map(function (o) { return o.value; });
          self.changed();
        } });
      choices.forEach(function (c) {
        var opt = el("option", { value: c, text: c });
        if (picked.indexOf(String(c)) >= 0) { opt.selected = true; }
        multi.appendChild(opt);
      });
      return multi;
    }
    if (kind === "list") {
      var list = Array.isArray(node.value) ? node.value : [];
      var inp = el("input", { type: "text", size: "40", value: list.join(", "), "aria-label": "Values",
        placeholder: choices ? choices.join(", ") : "comma-separated values",
        onchange: function () {
          node.value = inp.value.split(",").map(function (v) { return self.parse(v, type); }).filter(function (v) { return v !== ""; });
          self.changed();
        } });
      return inp;
    }
    var single = el("input", { type: inputType, size: "16", "aria-label": kind === "days" ? "Days" : "Value",
      value: node.value === null || node.value === undefined ? "" : node.value,
      onchange: function () {
        node.value = kind === "days" ? self.parse(single.value, "integer") : self.parse(single.value, type);
        self.changed();
      } });
    return single;
  };

  function init() {
    var areas = document.querySelectorAll("textarea[data-rule-editor]");
    Array.prototype.forEach.call(areas, function (area) {
      if (area.dataset.ruleEditorReady) { return; }
      area.dataset.ruleEditorReady = "1";
      var schema = JSON.parse(document.getElementById(area.dataset.ruleEditor).textContent);
      area.ruleEditor = new Editor(area, schema);
    });
  }

  window.csRuleText = ruleText;  // (schema, rule, top)
  window.csRuleEditorInit = init;  // enhance textareas marked later (admin inline rows)
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
