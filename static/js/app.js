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
  // Auto-submit filter forms when a select changes (the submit button stays for keyboards).
  document.addEventListener("change", function (event) {
    var form = event.target.closest("form[data-autosubmit]");
    if (form && event.target.tagName === "SELECT") {
      if (window.htmx) { window.htmx.trigger(form, "submit"); } else { form.submit(); }
    }
  });
})();
