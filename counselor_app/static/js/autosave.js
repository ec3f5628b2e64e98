// Autosave for forms marked data-autosave: a few seconds after the last keystroke the draft is
// posted in the background, so nothing typed in session is lost if the page is closed.
(function () {
  "use strict";
  var DELAY_MS = 3000;
  document.querySelectorAll("form[data-autosave]").forEach(function (form) {
    var status = form.querySelector(".autosave-status");
    var version = form.querySelector("input[name$='version']");
    var timer = null;
    var dirty = false;

    function say(text) { if (status) { status.textContent = text; } }

    function save() {
      timer = null;
      if (!dirty) { return; }
      dirty = false;
      say("Saving…");
      fetch(form.dataset.autosave, {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: { "X-Requested-With": "fetch" }
      }).then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      }).then(function (result) {
        if (result.ok && result.body.saved) {
          if (version) { version.value = result.body.version; }
          say("Draft saved " + new Date(result.body.at).toLocaleTimeString() + ".");
        } else {
          dirty = true;
          say("Not saved: " + (result.body.error || "please use Save draft."));
        }
      }).catch(function () {
        dirty = true;
        say("Not saved (no connection). Your text is still here; it will be saved when you click Save draft.");
      });
    }

    form.addEventListener("input", function () {
      dirty = true;
      say("Unsaved changes…");
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(save, DELAY_MS);
    });
  });
})();
