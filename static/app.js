// Safe Share's one first-party script: key handling, copy buttons, small comforts.
// Everything works without it; it only makes things smoother.
(function () {
  "use strict";
  var KEY_PREFIX = "safe-share-key:";

  function secretIdFromPath() {
    var match = location.pathname.match(/^\/s\/([A-Za-z0-9_-]+)/);
    return match ? match[1] : null;
  }

  // The key lives in the fragment, which never reaches the server. Keep it in this tab's
  // sessionStorage (it survives the sign-in round trip) and drop it from the address bar.
  function rememberKey() {
    var id = secretIdFromPath();
    if (!id) return null;
    var fromHash = location.hash.length > 1 ? decodeURIComponent(location.hash.slice(1)) : "";
    if (fromHash) {
      try { sessionStorage.setItem(KEY_PREFIX + id, fromHash); } catch (e) { /* private mode */ }
      history.replaceState(null, "", location.pathname + location.search);
      return fromHash;
    }
    try { return sessionStorage.getItem(KEY_PREFIX + id); } catch (e) { return null; }
  }

  function fillKey(root, key) {
    if (!key) return;
    var forms = root.querySelectorAll("form[data-secret-id]");
    for (var i = 0; i < forms.length; i++) {
      var input = forms[i].querySelector("input[name=key]");
      var field = forms[i].querySelector("[data-key-field]");
      if (input && !input.value) input.value = key;
      if (field && !forms[i].querySelector("[aria-invalid=true]")) field.hidden = true;
    }
  }

  function forgetKey() {
    var id = secretIdFromPath();
    if (id) { try { sessionStorage.removeItem(KEY_PREFIX + id); } catch (e) { /* ignore */ } }
  }

  function enhance(root) {
    var buttons = root.querySelectorAll("[data-copy]");
    for (var i = 0; i < buttons.length; i++) buttons[i].hidden = false;
    fillKey(root, key);
    if (root.querySelector && root.querySelector("[data-revealed]")) forgetKey();
  }

  function announce(text) {
    var region = document.getElementById("announcer");
    if (region && text) { region.textContent = ""; setTimeout(function () { region.textContent = text; }, 50); }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    var original = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", original);
    var done = function () { button.textContent = "✓ " + original; announce(button.textContent); setTimeout(function () { button.textContent = original; }, 2000); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(source.value).then(done, function () { source.select(); });
    } else {
      source.hidden = false; source.select(); document.execCommand("copy"); done();
    }
  });

  document.addEventListener("focusin", function (event) {
    if (event.target.hasAttribute && event.target.hasAttribute("data-select-on-focus")) event.target.select();
  });

  // After an in-place swap, move focus to the new content and announce it.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target || document;
    var root = target.parentNode || document;
    enhance(root);
    var focus = document.querySelector("[data-focus-on-swap]");
    if (focus) { focus.focus(); announce(focus.getAttribute("data-announce") || focus.textContent); }
  });

  var key = rememberKey();
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone && document.cookie.indexOf("safe_share_tz=" + zone) === -1) {
    document.cookie = "safe_share_tz=" + zone + "; path=/; max-age=31536000; samesite=lax" + (location.protocol === "https:" ? "; secure" : "");
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  } else {
    enhance(document);
  }
})();
