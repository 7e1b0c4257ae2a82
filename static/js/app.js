// Small progressive enhancements on top of htmx; every page works without them.
(function () {
  "use strict";
  function flash(text, kind) {
    var box = document.getElementById("flash");
    if (!box) { return; }
    var list = document.createElement("ul");
    list.className = "messages";
    var item = document.createElement("li");
    item.className = kind;
    item.setAttribute("role", "alert");
    item.textContent = text;
    list.appendChild(item);
    box.replaceChildren(list);
  }
  // htmx does not swap 4xx/5xx answers: say what happened instead of doing nothing.
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    if (status === 403) {
      flash("You are not allowed to do that: it belongs to another CSM's book.", "error");
    } else if (status !== 400) {
      flash("Something went wrong (HTTP " + status + "). Please reload and try again.", "error");
    }
  });
  // Forms answer 400 with the re-rendered form: swap it in to show its inline errors.
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr.status === 400) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  document.addEventListener("htmx:sendError", function () {
    flash("The server could not be reached. Check your connection and try again.", "error");
  });
  // "/" or Ctrl+K (Cmd+K) focuses the global search from any page; Escape closes its list.
  document.addEventListener("keydown", function (event) {
    var box = document.getElementById("global-search");
    if (!box) { return; }
    var typing = /^(INPUT|TEXTAREA|SELECT)$/.test(event.target.tagName) || event.target.isContentEditable;
    if ((event.key === "/" && !typing) || (event.key.toLowerCase() === "k" && (event.ctrlKey || event.metaKey))) {
      event.preventDefault();
      box.focus();
      box.select();
    } else if (event.key === "Escape" && event.target === box) {
      document.getElementById("global-search-results").replaceChildren();
      box.blur();
    }
  });
  // Bulk selection: "select all" boxes, the selected count, and the inputs an action needs.
  function bulkForm(el) {
    var form = el.closest("form[data-bulk]");
    if (form) { return form; }
    var id = el.getAttribute("form");
    if (id) { return document.getElementById(id); }
    var table = el.closest("table");
    var box = table && table.querySelector("input[name=ids]");
    return box ? (box.form || null) : null;
  }
  function boxesOf(form) {
    return Array.prototype.slice.call(document.querySelectorAll("input[name=ids]")).filter(function (b) {
      return b.form === form;
    });
  }
  function refreshBulk(form) {
    if (!form) { return; }
    var count = boxesOf(form).filter(function (b) { return b.checked; }).length;
    var shown = form.querySelector("[data-selected-count]");
    if (shown) { shown.textContent = String(count); }
    var action = form.querySelector("select[name=action]");
    form.querySelectorAll("[data-for-action]").forEach(function (input) {
      var wanted = input.getAttribute("data-for-action").split(" ");
      input.hidden = !action || wanted.indexOf(action.value) < 0;
    });
  }
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el.matches("input[data-select-all]")) {
      var form = bulkForm(el);
      boxesOf(form).forEach(function (b) { b.checked = el.checked; });
      refreshBulk(form);
    } else if (el.matches("input[name=ids]") || el.matches("form[data-bulk] select[name=action]")) {
      refreshBulk(el.form || bulkForm(el));
    }
  });
  function refreshAllBulk() { document.querySelectorAll("form[data-bulk]").forEach(refreshBulk); }
  document.addEventListener("DOMContentLoaded", refreshAllBulk);
  document.addEventListener("htmx:afterSettle", refreshAllBulk);
  // A saved view is the list's current query string (htmx filters update the address).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches("form[data-save-view]")) {
      form.querySelector("input[name=query]").value = window.location.search.replace(/^\?/, "");
    }
  });
  // Auto-submit filter forms when a select (or a column checkbox) changes (the submit button stays for keyboards).
  document.addEventListener("change", function (event) {
    var form = event.target.closest("form[data-autosubmit]");
    if (form && (event.target.tagName === "SELECT" || event.target.type === "checkbox")) {
      if (window.htmx) { window.htmx.trigger(form, "submit"); } else { form.submit(); }
    }
  });
})();
