// The warning before the idle sign-out (WCAG 2.2.1): a while before the time is up, a dialog
// says how long is left and offers to stay signed in. The server keeps the clock (a page
// opened or a draft saved in any tab counts), so the page asks it how long is really left
// before warning, and again when the time is up, before saying the session has ended.
(function () {
  "use strict";
  var dialog = document.getElementById("session-timeout");
  if (!dialog || typeof dialog.showModal !== "function") { return; }
  var title = document.getElementById("session-timeout-title");
  var message = document.getElementById("session-timeout-message");
  var stay = dialog.querySelector("[data-stay]");
  var signIn = dialog.querySelector("[data-sign-in]");
  var warning = Number(dialog.dataset.warning);
  var clock = null;  // the server's last answer
  var endsAt = 0;  // when the session ends, by this page's clock (ms)
  var timer = null;
  var ticker = null;

  function later(seconds, then) {
    clearTimeout(timer);
    timer = setTimeout(then, Math.max(0, seconds) * 1000);
  }

  function duration(seconds) {
    var minutes = Math.floor(seconds / 60);
    var parts = [];
    if (minutes) { parts.push(minutes + (minutes === 1 ? " minute" : " minutes")); }
    if (seconds % 60 || !minutes) {
      parts.push(seconds % 60 + (seconds % 60 === 1 ? " second" : " seconds"));
    }
    return parts.join(" ");
  }

  function secondsLeft() { return Math.max(0, Math.round((endsAt - Date.now()) / 1000)); }

  function finalEnd() {
    var end = new Date(Date.now() + clock.absolute_remaining * 1000);
    return end.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  // Staying signed in cannot help when the absolute limit is the one that is near.
  function capped() { return clock.absolute_remaining <= clock.remaining; }

  function describe() {
    var left = duration(secondsLeft());
    if (capped()) {
      message.textContent = "Your session ends for good at " + finalEnd() + ", in " + left +
        ": it has lasted as long as a session may. Save your work now; then sign in again.";
    } else if (clock.final) {
      message.textContent = "Without activity you will be signed out in " + left + ". " +
        "Staying signed in keeps you signed in until " + finalEnd() +
        " at the latest: the session then ends for good.";
    } else {
      message.textContent = "Without activity you will be signed out in " + left + ".";
    }
  }

  function show(action, shown) { action.parentElement.hidden = !shown; }

  function open(focus) {
    if (!dialog.open) { dialog.showModal(); }
    if (focus) { focus.focus(); }
  }

  function warn() {
    title.textContent = "Your session is about to end";
    show(stay, !capped());
    show(signIn, false);
    describe();
    clearInterval(ticker);
    ticker = setInterval(describe, 1000);
    open(capped() ? null : stay);
  }

  // `said`: the server's own words, which already say the text is kept (a refused save's).
  function signedOut(reason, said) {
    clearTimeout(timer);
    clearInterval(ticker);
    title.textContent = "You have been signed out";
    message.textContent = said ||
      (reason || "Your session has ended.") + " What you typed is still on this page.";
    show(stay, false);
    show(signIn, true);
    open(signIn);
  }

  // A form's token is good for an hour (WTF_CSRF_TIME_LIMIT), a page may stay open longer
  // while its drafts are saved: each answer brings a fresh one for the page's forms, so "Stay
  // signed in" and the drafts' saves keep working.
  function renewToken(token) {
    if (!token) { return; }
    var meta = document.querySelector("meta[name='csrf-token']");
    if (meta) { meta.content = token; }
    document.querySelectorAll("input[name$='csrf_token']").forEach(function (input) {
      input.value = token;
    });
  }

  function follow(answer) {
    renewToken(answer.csrf_token);
    clock = answer;
    endsAt = Date.now() + answer.remaining * 1000;
    if (answer.signed_out) { signedOut(answer.message); return; }
    if (answer.remaining > warning) {
      if (dialog.open) { dialog.close(); }
      later(answer.remaining - warning, check);
      return;
    }
    warn();
    later(answer.remaining + 1, check);  // a second late: the server counts whole seconds
  }

  function ask(url, options) {
    options.credentials = "same-origin";
    options.headers = Object.assign({ "Accept": "application/json" }, options.headers);
    fetch(url, options).then(function (response) {
      var json = (response.headers.get("Content-Type") || "").indexOf("application/json") === 0;
      if (!json) {
        // Sent to the sign-in page: the session is over. Anything else: ask again soon.
        if (response.redirected) { signedOut(""); } else { later(15, check); }
        return;
      }
      return response.json().then(function (body) {
        // Only 401 means the session is over. Anything else (503 while an upgrade runs or the
        // database is away, 429, a 400 from a token gone stale): ask again soon.
        if (response.ok) { follow(body); } else if (response.status === 401) {
          signedOut("", body.error);
        } else { later(15, check); }
      });
    }).catch(function () {
      later(15, check);  // no connection: ask again soon, the warning (if shown) stays
    });
  }

  function check() { ask(dialog.dataset.status, { method: "GET" }); }

  stay.addEventListener("click", function () {
    var token = document.querySelector("meta[name='csrf-token']");
    ask(dialog.dataset.keepAlive, {
      method: "POST",
      body: "{}",
      headers: { "Content-Type": "application/json", "X-CSRFToken": token ? token.content : "" }
    });
  });
  dialog.querySelector("[data-close]").addEventListener("click", function () { dialog.close(); });
  dialog.addEventListener("close", function () { clearInterval(ticker); });

  later(Number(dialog.dataset.remaining) - warning, check);
})();
