/* edgeinv page helpers (offline, no dependencies):
   - adds the session's CSRF token to every POST form and same-origin fetch();
   - refuses files larger than the server's upload limit before sending them;
   - shows a progress bar while a form with a file (or data-busy="text") is submitted. */
(function () {
  "use strict";
  var meta = function (name) {
    var el = document.querySelector('meta[name="' + name + '"]');
    return el ? el.getAttribute("content") : "";
  };
  var token = meta("csrf-token");
  var maxBytes = parseInt(meta("max-upload-bytes"), 10) || 0;

  function addToken(form) {
    if (!token || (form.getAttribute("method") || "get").toLowerCase() !== "post") return;
    if (form.querySelector('input[name="csrf_token"]')) return;
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = "csrf_token";
    input.value = token;
    form.appendChild(input);
  }

  function tooLarge(form) {
    if (!maxBytes) return null;
    var inputs = form.querySelectorAll('input[type="file"]');
    for (var i = 0; i < inputs.length; i++) {
      var files = inputs[i].files || [];
      for (var j = 0; j < files.length; j++) {
        if (files[j].size > maxBytes) return files[j];
      }
    }
    return null;
  }

  function showBusy(form) {
    if (form.hasAttribute("data-nobusy")) return;
    var text = form.getAttribute("data-busy");
    var hasFile = form.querySelector('input[type="file"]');
    if (!text && !hasFile) return;
    var busy = document.getElementById("busy");
    if (!busy) return;
    document.getElementById("busy-text").textContent = text || "Uploading and analysing…";
    busy.hidden = false;
    // disable after the submission has started, so the button's own name/value is still sent
    setTimeout(function () {
      var buttons = form.querySelectorAll('button[type="submit"], input[type="submit"], button:not([type])');
      for (var i = 0; i < buttons.length; i++) buttons[i].disabled = true;
    }, 0);
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    addToken(form);
    var big = tooLarge(form);
    if (big) {
      ev.preventDefault();
      alert(big.name + " is " + (big.size / 1048576).toFixed(1) + " MB; the limit is " +
            (maxBytes / 1048576).toFixed(0) + " MB.");
      return;
    }
    if (!ev.defaultPrevented) showBusy(form);
  }, true);

  document.addEventListener("DOMContentLoaded", function () {
    var forms = document.querySelectorAll("form");
    for (var i = 0; i < forms.length; i++) addToken(forms[i]);
  });

  // back/forward cache: a page restored after submitting must not stay "busy"
  window.addEventListener("pageshow", function () {
    var busy = document.getElementById("busy");
    if (busy) busy.hidden = true;
    var buttons = document.querySelectorAll("button[disabled], input[type=submit][disabled]");
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = false;
  });

  if (window.fetch && token) {
    var nativeFetch = window.fetch;
    window.fetch = function (input, init) {
      init = init || {};
      var isReq = typeof Request !== "undefined" && input instanceof Request;
      var method = (init.method || (isReq ? input.method : "GET")).toUpperCase();
      var url = new URL(isReq ? input.url : String(input), window.location.href);
      if (url.origin === window.location.origin && ["GET", "HEAD", "OPTIONS"].indexOf(method) < 0) {
        var headers = new Headers(init.headers || (isReq ? input.headers : undefined));
        if (!headers.has("X-CSRF-Token")) headers.set("X-CSRF-Token", token);
        init = Object.assign({}, init, { headers: headers });
      }
      return nativeFetch.call(this, input, init);
    };
  }
})();
