// Autosave for forms marked data-autosave: a few seconds after the last keystroke the draft is
// posted in the background, so nothing typed in session is lost if the page is closed.
// One save at a time; a failed save is retried with the next keystroke or the manual button.
(function () {
  "use strict";
  var DELAY_MS = 3000;
  document.querySelectorAll("form[data-autosave]").forEach(function (form) {
    var status = form.querySelector(".autosave-status");
    var version = form.querySelector("input[name$='version']");
    var timer = null;
    var dirty = false;
    var saving = false;
    // A Save pressed while a draft save is on its way waits for it: both would carry the same
    // version, and the second would be refused as if another tab had saved.
    var held = null;

    function say(text) { if (status) { status.textContent = text; } }

    function finished(ok, body) {
      saving = false;
      if (ok && body && body.saved) {
        if (version) { version.value = body.version; }
        if (!dirty) { form.dataset.dirty = ""; }
        say("Draft saved at " + new Date(body.at).toLocaleTimeString() + ".");
      }
      if (held) {
        var submitter = held.submitter;
        held = null;
        form.requestSubmit(submitter || undefined);
        return;
      }
      if (!(ok && body && body.saved)) {
        dirty = true;
        say("Not saved: " + ((body && body.error) || "please save with the button below (you may need to sign in again)."));
      }
      if (dirty && ok) { schedule(); }
    }

    function save() {
      timer = null;
      if (!dirty || saving) { return; }
      dirty = false;
      saving = true;
      say("Saving…");
      fetch(form.dataset.autosave, {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: { "Accept": "application/json" }
      }).then(function (response) {
        var json = (response.headers.get("Content-Type") || "").indexOf("application/json") === 0;
        if (!json) { finished(false, null); return; }
        return response.json().then(function (body) { finished(response.ok, body); });
      }).catch(function () {
        finished(false, { error: "no connection. Your text is still here." });
      });
    }

    function schedule() {
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(save, DELAY_MS);
    }

    form.addEventListener("submit", function (event) {
      if (timer) { clearTimeout(timer); timer = null; }
      dirty = false;  // the form's own save carries everything typed
      if (saving) {
        event.preventDefault();
        held = { submitter: event.submitter };
        say("Finishing the draft save first…");
      }
    });

    form.addEventListener("input", function () {
      dirty = true;
      say("Unsaved changes…");
      schedule();
    });
  });
})();
