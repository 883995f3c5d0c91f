/* Sign-in page for helpline staff and editors (/signin?next=/staff or /signin?next=/editor; without a
 * `next`, staff go to /staff and editors and administrators to /editor).
 * Posts the username and password as JSON to /api/auth/login; the session is an HttpOnly cookie the
 * page never sees. On success it goes to `next`, which must be a path on this site. Messages are set
 * with textContent only. */
(function () {
  "use strict";

  var DEFAULT_NEXT = "/staff";
  var form, username, password, button, errorBox, busyBox, noticeBox;
  var busy = false;

  function $(id) { return document.getElementById(id); }

  /** The path to go to after signing in: a same-origin path only, never another site or a script URL. */
  function safeNext(value) {
    if (typeof value !== "string" || !value) { return DEFAULT_NEXT; }
    // A path on this site: one leading slash, no "//host", no backslashes or control characters.
    if (value.charAt(0) !== "/" || value.charAt(1) === "/" || /[\\\u0000-\u001f\u007f]/.test(value)) {
      return DEFAULT_NEXT;
    }
    var url;
    try { url = new URL(value, window.location.origin); } catch (e) { return DEFAULT_NEXT; }
    if (url.origin !== window.location.origin) { return DEFAULT_NEXT; }
    if (url.pathname === "/signin" || url.pathname.indexOf("/api/") === 0) { return DEFAULT_NEXT; }
    return url.pathname + url.search + url.hash;
  }

  function nextPath(role) {
    var params = new URLSearchParams(window.location.search);
    // No page asked for: editors and administrators start on the editors' page.
    if (!params.get("next") && (role === "editor" || role === "admin")) { return "/editor"; }
    return safeNext(params.get("next"));
  }

  function goOn(role) {
    window.location.replace(nextPath(role));
  }

  function roleOf(response) {
    return response.json().then(function (b) { return b && b.role ? String(b.role) : ""; }, function () { return ""; });
  }

  /** Minutes to wait from a Retry-After header (seconds or an HTTP date), at least one. */
  function waitMinutes(header) {
    var seconds = NaN;
    if (header) {
      var trimmed = String(header).trim();
      if (/^\d+$/.test(trimmed)) {
        seconds = parseInt(trimmed, 10);
      } else {
        var when = Date.parse(trimmed);
        if (!isNaN(when)) { seconds = (when - Date.now()) / 1000; }
      }
    }
    if (isNaN(seconds)) { seconds = 15 * 60; } // the service's lock-out period when it does not say
    return Math.max(1, Math.ceil(seconds / 60));
  }

  function plural(n, word) {
    return n + " " + word + (n === 1 ? "" : "s");
  }

  function setBusy(on) {
    busy = on;
    button.setAttribute("aria-disabled", on ? "true" : "false");
    busyBox.textContent = on ? "Signing in…" : "";
  }

  function markInvalid(fields) {
    [username, password].forEach(function (f) {
      if (fields.indexOf(f) >= 0) { f.setAttribute("aria-invalid", "true"); } else { f.removeAttribute("aria-invalid"); }
    });
  }

  /** Shows an error (announced by the alert region, even when the same message comes twice). */
  function showError(text, invalid, focusOn) {
    errorBox.textContent = "";
    markInvalid(invalid || []);
    window.setTimeout(function () { errorBox.textContent = text; }, 50);
    if (focusOn) {
      focusOn.focus();
      if (focusOn.select) { focusOn.select(); }
    }
  }

  function clearError() {
    errorBox.textContent = "";
    markInvalid([]);
  }

  function onSubmit(event) {
    event.preventDefault();
    if (busy) { return; }
    var user = username.value.trim();
    var pass = password.value;
    if (!user && !pass) { showError("Enter your username and password.", [username, password], username); return; }
    if (!user) { showError("Enter your username.", [username], username); return; }
    if (!pass) { showError("Enter your password.", [password], password); return; }
    clearError();
    noticeBox.textContent = "";
    setBusy(true);
    fetch("/api/auth/login", {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify({ username: user, password: pass })
    }).then(function (r) {
      if (r.ok) {
        password.value = "";
        busyBox.textContent = "Signed in. Opening the page…";
        return roleOf(r).then(goOn);
      }
      setBusy(false);
      if (r.status === 401) {
        password.value = "";
        showError("The username or password is not right. Check them and try again (passwords are case-sensitive).",
          [username, password], password);
      } else if (r.status === 429) {
        var minutes = waitMinutes(r.headers.get("Retry-After"));
        password.value = "";
        showError("Too many attempts to sign in. Please wait " + plural(minutes, "minute") +
          " before you try again, or ask your team leader to reset your password.", [], password);
      } else if (r.status === 403) {
        showError("The sign-in was refused because it did not come from this page. Reload the page and try again.",
          [], username);
      } else if (r.status === 422) {
        showError("Enter your username and password.", [username, password], username);
      } else {
        showError("Signing in is not working just now (error " + r.status + "). Try again in a minute.", [], password);
      }
    }).catch(function () {
      setBusy(false);
      showError("The service could not be reached. Check your connection and try again.", [], password);
    });
  }

  function init() {
    form = $("signin-form");
    username = $("username");
    password = $("password");
    button = $("signin-button");
    errorBox = $("signin-error");
    busyBox = $("signin-busy");
    noticeBox = $("signin-notice");

    var params = new URLSearchParams(window.location.search);
    if (params.get("signed_out")) {
      noticeBox.textContent = "You have signed out.";
    } else if (params.get("expired")) {
      noticeBox.textContent = "Your session has ended. Please sign in again.";
    }
    form.addEventListener("submit", onSubmit);
    [username, password].forEach(function (f) {
      f.addEventListener("input", function () { f.removeAttribute("aria-invalid"); });
    });
    if (document.activeElement === document.body) { username.focus(); }

    // Already signed in: straight on.
    fetch("/api/auth/me", { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } })
      .then(function (r) { if (r.ok && !busy) { return roleOf(r).then(function (role) { if (!busy) { goOn(role); } }); } })
      .catch(function () { /* not signed in or offline: the form stays */ });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
