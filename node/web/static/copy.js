// Copy buttons: a button with data-copy="<input id>" copies that input's value and says
// so in the element "<input id>-status" (its text from data-copied). Served from /static/
// (the CSP allows no inline script); without a clipboard API the text is selected instead.
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var button = e.target.closest ? e.target.closest("button[data-copy]") : null;
    if (!button) return;
    var id = button.getAttribute("data-copy");
    var input = document.getElementById(id);
    var status = document.getElementById(id + "-status");
    if (!input) return;
    function done() { if (status) status.textContent = button.getAttribute("data-copied") || ""; }
    input.focus();
    input.select();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });
})();
