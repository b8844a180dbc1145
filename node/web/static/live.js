// Live parts of the page (node/web/live.py): each element with data-live is replaced by
// what the node sends for its id over server-sent events. Served from /static/ (the CSP
// allows no inline script).
(function () {
  "use strict";
  var parts = document.querySelectorAll("[data-live]");
  if (!parts.length || !window.EventSource) return;
  var source = new EventSource(parts[0].getAttribute("data-live"));
  parts.forEach(function (el) {
    source.addEventListener(el.id, function (e) {
      el.innerHTML = e.data;
      el.setAttribute("data-updated", String(Date.now()));
    });
  });
})();
