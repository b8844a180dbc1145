// Reads a QR code with the device's camera into a form's field and submits the form, exactly
// as if the operator had pasted the code's text and pressed the form's button. Any page may
// use it (served from /static/, the CSP allows no inline script):
//
//   <textarea id="F" ...>                      the field the code's text goes into (in a form)
//   <button type="button" data-scan="F" hidden  the button; shown once this script runs
//      data-scanning="…" data-nocamera="…"      what to say while looking, and without a camera
//      data-denied="…" data-stop="…">           permission refused; the button's label while looking
//   <p id="F-scan-status" role="status">        where those words go
//   <video id="F-video" class="scan" hidden>    the camera's picture while looking
//
// The browser's BarcodeDetector where it exists (Chrome on Android, macOS, ChromeOS); elsewhere
// the vendored jsQR decoder (jsQR-1.4.0.js, Apache-2.0, loaded before this) on video frames.
// Without a camera, or without the operator's permission, the page says so and pasting works.
(function () {
  "use strict";

  function detector() {
    if (!("BarcodeDetector" in window)) { return Promise.resolve(null); }
    return window.BarcodeDetector.getSupportedFormats().then(function (formats) {
      return formats.indexOf("qr_code") >= 0 ? new window.BarcodeDetector({ formats: ["qr_code"] }) : null;
    }, function () { return null; });
  }

  function scanner(button) {
    var id = button.getAttribute("data-scan");
    var field = document.getElementById(id);
    var video = document.getElementById(id + "-video");
    var status = document.getElementById(id + "-scan-status");
    if (!field || !field.form || !video || !status) { return; }
    var label = button.textContent;
    var stream = null;
    var canvas = document.createElement("canvas");
    var context = canvas.getContext("2d", { willReadFrequently: true });
    button.hidden = false;

    function say(what) { status.textContent = button.getAttribute("data-" + what) || ""; }

    function stop() {
      if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
      stream = null;
      video.hidden = true;
      button.textContent = label;
    }

    function found(text) {
      stop();
      status.textContent = "";
      field.value = text.trim();
      field.form.submit();
    }

    function withJsQR() {
      if (!video.videoWidth || !window.jsQR) { return null; }
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      context.drawImage(video, 0, 0, canvas.width, canvas.height);
      var image = context.getImageData(0, 0, canvas.width, canvas.height);
      var code = window.jsQR(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
      return code && code.data ? code.data : null;
    }

    function look(native) {
      if (!stream) { return; }
      var next = function () { window.setTimeout(function () { look(native); }, 150); };
      if (native) {
        native.detect(video).then(function (codes) {
          if (codes.length && stream) { found(codes[0].rawValue); } else { next(); }
        }, next);
        return;
      }
      var text = withJsQR();
      if (text) { found(text); } else { next(); }
    }

    function refused(error) {
      stop();
      // NotAllowedError: the operator (or the browser's settings) said no; SecurityError: a
      // page the browser will not let near a camera. Anything else: there is no usable camera.
      var name = error && error.name;
      say(name === "NotAllowedError" || name === "SecurityError" ? "denied" : "nocamera");
      if (!status.textContent) { say("nocamera"); }
      field.focus();
    }

    var asking = false;  // the browser is asking for the camera: a second click must not open a second one
    button.addEventListener("click", function () {
      if (asking) { return; }
      if (stream) { stop(); status.textContent = ""; return; }
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { refused(null); return; }
      say("scanning");
      asking = true;
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false }).then(function (s) {
        asking = false;
        stream = s;
        video.srcObject = s;
        video.hidden = false;
        if (button.getAttribute("data-stop")) { button.textContent = button.getAttribute("data-stop"); }
        return video.play().then(detector).then(look);
      }).catch(function (error) { asking = false; refused(error); });
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("button[data-scan]"), scanner);
})();
