  // The part both stand-ins share: where the sandbox is, and opening its page in a popup (the
  // result comes back by postMessage, checked against the sandbox's origin and a nonce) or in
  // the same window (redirect mode: the page navigates to the redirect URL with the result).
  var script = document.currentScript;
  var BASE = script && script.src ? new URL(script.src, location.href).origin : location.origin;

  function isMobile() {
    return /Mobi|Android|iPhone|iPad|iPod/i.test(navigator.userAgent || "");
  }

  function freshNonce() {
    var bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return (b < 16 ? "0" : "") + b.toString(16);
    }).join("");
  }

  // Opens the sandbox page for `params`. In redirect mode (`redirect` a URL) the window leaves
  // and `done` is never called; otherwise `done(result)` once, or `done(null, "blocked" |
  // "closed")` when the popup could not open or was closed without an answer.
  function openSandbox(params, redirect, done) {
    params.origin = location.origin;
    if (redirect) {
      params.mode = "redirect";
      params.redirect = new URL(redirect, location.href).href;
      location.assign(BASE + "/__sandbox/verify?" + new URLSearchParams(params));
      return;
    }
    params.mode = "popup";
    params.nonce = freshNonce();
    var url = BASE + "/__sandbox/verify?" + new URLSearchParams(params);
    var popup = window.open(url, "verigate_sandbox_" + params.nonce, "popup=yes,width=420,height=720");
    if (!popup) {
      done(null, "blocked");
      return;
    }
    var settled = false;
    var timer = null;
    function finish(result, why) {
      if (settled) return;
      settled = true;
      window.removeEventListener("message", onMessage);
      clearInterval(timer);
      try { popup.close(); } catch (e) { /* already gone */ }
      done(result, why);
    }
    function onMessage(ev) {
      var d = ev.data;
      if (ev.origin !== BASE || !d || d.source !== "verigate-sandbox" || d.nonce !== params.nonce) return;
      finish(d.result, null);
    }
    window.addEventListener("message", onMessage);
    // The page never closes itself, so a closed popup without an answer is the tester's doing.
    timer = setInterval(function () { if (popup.closed) finish(null, "closed"); }, 400);
  }
