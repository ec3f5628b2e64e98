// "Copy link" on the invitation page: shown only where the browser can copy.
(function () {
  "use strict";
  document.querySelectorAll("[data-copy-target]").forEach(function (button) {
    if (!navigator.clipboard) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      var field = document.getElementById(button.getAttribute("data-copy-target"));
      var status = document.getElementById("copy-status");
      navigator.clipboard.writeText(field.value).then(
        function () { status.textContent = "Link copied."; },
        function () {
          field.select();
          status.textContent = "Copying was not allowed: the link is selected, copy it by hand.";
        }
      );
    });
  });
})();
