// Live parts of the page (node/web/live.py): each element with data-live is replaced by
// what the node sends for its id over server-sent events. Served from /static/ (the CSP
// allows no inline script). Keyboard focus inside a part stays on the same control when
// the part is replaced (the element with the same id, else the same control of the form
// posting to the same address, else the link to the same address).
(function () {
  "use strict";
  var parts = document.querySelectorAll("[data-live]");
  if (!parts.length || !window.EventSource) return;
  var source = new EventSource(parts[0].getAttribute("data-live"));

  function counterpart(part, old) {
    var found = null;
    if (old.id) return document.getElementById(old.id);
    if (old.form && old.form.getAttribute("action")) {
      part.querySelectorAll("form").forEach(function (f) {
        if (!found && f.getAttribute("action") === old.form.getAttribute("action")) {
          found = f.querySelector(old.tagName.toLowerCase() + (old.name ? "[name='" + CSS.escape(old.name) + "']" : ""));
        }
      });
      return found;
    }
    if (old.getAttribute("href")) {
      part.querySelectorAll("a[href]").forEach(function (a) {
        if (!found && a.getAttribute("href") === old.getAttribute("href")) found = a;
      });
    }
    return found;
  }

  parts.forEach(function (el) {
    source.addEventListener(el.id, function (e) {
      var focused = document.activeElement;
      var inside = focused && focused !== el && el.contains(focused);
      el.innerHTML = e.data;
      el.setAttribute("data-updated", String(Date.now()));
      if (inside) {
        var again = counterpart(el, focused);
        if (again && el.contains(again)) again.focus();
      }
    });
  });
})();
