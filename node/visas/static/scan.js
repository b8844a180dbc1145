// Reads a visa pass's QR code with the camera and checks the visitor in with it.
// The browser's BarcodeDetector where it exists (Chrome on Android, macOS, ChromeOS);
// elsewhere the vendored jsQR decoder (jsQR-1.4.0.js, Apache-2.0) on video frames.
(function () {
  "use strict";
  var button = document.getElementById("scan");
  var video = document.getElementById("scan-video");
  var field = document.getElementById("f-pass");
  var form = document.getElementById("checkin-form");
  var status = document.getElementById("scan-status");
  if (!button || !video || !field || !form || !navigator.mediaDevices) { return; }
  button.hidden = false;
  var stream = null;
  var canvas = document.createElement("canvas");
  var context = canvas.getContext("2d", { willReadFrequently: true });

  function stop() {
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
    stream = null;
    video.hidden = true;
  }

  function found(text) {
    stop();
    field.value = text.trim();
    form.submit();
  }

  function detector() {
    if (!("BarcodeDetector" in window)) { return Promise.resolve(null); }
    return window.BarcodeDetector.getSupportedFormats().then(function (formats) {
      return formats.indexOf("qr_code") >= 0 ? new window.BarcodeDetector({ formats: ["qr_code"] }) : null;
    }, function () { return null; });
  }

  function withJsQR() {
    if (!video.videoWidth) { return null; }
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    context.drawImage(video, 0, 0, canvas.width, canvas.height);
    var image = context.getImageData(0, 0, canvas.width, canvas.height);
    var code = window.jsQR ? window.jsQR(image.data, image.width, image.height, { inversionAttempts: "dontInvert" }) : null;
    return code && code.data ? code.data : null;
  }

  function look(native) {
    if (!stream) { return; }
    var next = function () { window.setTimeout(function () { look(native); }, 150); };
    if (native) {
      native.detect(video).then(function (codes) {
        if (codes.length) { found(codes[0].rawValue); } else { next(); }
      }, next);
      return;
    }
    var text = withJsQR();
    if (text) { found(text); } else { next(); }
  }

  button.addEventListener("click", function () {
    status.textContent = button.dataset.scanning;
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false }).then(function (s) {
      stream = s;
      video.srcObject = s;
      video.hidden = false;
      return video.play().then(detector).then(look);
    }).catch(function () {
      stop();
      status.textContent = button.dataset.nocamera;
    });
  });
})();
