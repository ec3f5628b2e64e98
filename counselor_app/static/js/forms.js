// Warn before leaving a page whose forms hold edits that were not submitted.
(function () {
  "use strict";
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
