// Warn before leaving a page whose forms hold edits that were not submitted. A therapist's
// pages only: a partner's pages load this file for the error summary below, and keep no such
// warning (each of their pages is saved as it is sent).
(function () {
  "use strict";
  if (document.body.classList.contains("counselor-partner")) { return; }
  var submitting = false;
  document.querySelectorAll("form[method='post']").forEach(function (form) {
    form.addEventListener("input", function () { form.dataset.dirty = "yes"; });
    form.addEventListener("submit", function () { submitting = true; });
  });
  window.addEventListener("beforeunload", function (event) {
    if (submitting) { return; }
    var dirty = document.querySelector("form[data-dirty='yes']");
    if (dirty) {
      event.preventDefault();
      event.returnValue = "";
    }
  });
})();

// A refused form's error summary (macros/forms.html, form_errors). Focus goes to its heading as
// the page loads: a screen reader announces it, and a long page lands at the form that failed.
// Each link moves focus to its field: following a link only scrolls to an element that takes no
// focus (a group's fieldset), and leaves a field's label out of sight above it.
(function () {
  "use strict";
  var summary = document.querySelector("[data-error-summary]");
  if (!summary) { return; }
  // Inside a host's layout the <title> is the host's, drawn without knowing a form failed.
  if (document.title.indexOf("Error:") !== 0) { document.title = "Error: " + document.title; }
  summary.querySelector("[tabindex='-1']").focus();

  var CONTROLS = "input:not([type='hidden']), select, textarea";

  function caption(control) {
    var group = control.closest("fieldset");
    if (group && group.querySelector("legend")) { return group.querySelector("legend"); }
    return document.querySelector("label[for='" + CSS.escape(control.id) + "']");
  }

  summary.addEventListener("click", function (event) {
    var link = event.target.closest("a[href^='#']");
    var target = link && document.getElementById(decodeURIComponent(link.hash.slice(1)));
    var control = target && (target.matches(CONTROLS) ? target : target.querySelector(CONTROLS));
    if (!control) { return; }
    event.preventDefault();
    (caption(control) || control).scrollIntoView({ block: "start" });
    control.focus({ preventScroll: true });
  });
})();
