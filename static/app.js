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
      if (field && input && input.getAttribute("aria-invalid") !== "true") field.hidden = true;
    }
  }

  function forgetKey() {
    var id = secretIdFromPath();
    if (id) { try { sessionStorage.removeItem(KEY_PREFIX + id); } catch (e) { /* ignore */ } }
  }

  function enhance(root) {
    var buttons = root.querySelectorAll("[data-copy]");
    for (var i = 0; i < buttons.length; i++) buttons[i].hidden = false;
    if (e2e) {
      var on = root.querySelectorAll("[data-e2e-on]"), off = root.querySelectorAll("[data-e2e-off]");
      for (var j = 0; j < on.length; j++) on[j].hidden = false;
      for (var k = 0; k < off.length; k++) off[k].hidden = true;
    }
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

  // --- End to end (docs/FORMAT.md): with JavaScript the browser encrypts and decrypts, so
  // neither the text, nor the link key K, nor the passphrase is ever sent. htmx:confirm holds
  // the request while WebCrypto works; htmx:configRequest swaps the fields for the results.
  var C = window.SafeShareCrypto;
  var e2e = !!(C && C.supported());
  var pending = null;
  var SECRET_FIELDS = ["content", "passphrase", "key", "kdf_salt", "proof", "ciphertext", "nonce", "format"];

  async function prepareCreate(form) {
    var content = form.querySelector("[name=content]").value;
    var passField = form.querySelector("[name=passphrase]");
    var passphrase = passField ? passField.value : "";
    var state = { content: content, passphrase: passphrase, params: { content: "" } };
    if (!content.trim()) return state; // the server asks for the secret; nothing was typed
    var linkKey = C.randomBytes(32);
    var salt = passphrase ? C.randomBytes(16) : null;
    var keys = await C.deriveKeys(linkKey, salt ? await C.stretchPassphrase(passphrase, salt) : null);
    var sealed = await C.sealText(content, keys.contentKey);
    state.linkKey = C.b64uEncode(linkKey);
    state.params = { format: "2", nonce: C.b64uEncode(sealed.nonce), ciphertext: C.b64uEncode(sealed.ciphertext), proof: C.b64uEncode(keys.proof) };
    if (salt) state.params.kdf_salt = C.b64uEncode(salt);
    return state;
  }

  async function prepareReveal(form) {
    var raw = (form.querySelector("[name=key]") || {}).value || "";
    var keyText = raw.trim().split("#").pop();
    var linkKey = keyText.length === 43 ? C.b64uDecode(keyText) : null;
    var passField = form.querySelector("[name=passphrase]");
    var passphrase = passField ? passField.value : "";
    var salt = form.getAttribute("data-kdf-salt");
    if (salt && !passphrase) return { params: { kdf_salt: salt, passphrase: "" } }; // the server asks for it
    if (!linkKey) return { params: { proof: "" } }; // refused as a wrong key; what was typed stays here
    var keys = await C.deriveKeys(linkKey, salt ? await C.stretchPassphrase(passphrase, C.b64uDecode(salt)) : null);
    return { contentKey: keys.contentKey, params: { proof: C.b64uEncode(keys.proof) } };
  }

  document.addEventListener("htmx:confirm", function (event) {
    var form = event.detail.elt;
    var kind = e2e && form.getAttribute && form.getAttribute("data-encrypt");
    // Rows made before format 2 open as before: the key goes to the server.
    if (!kind || (kind === "reveal" && form.getAttribute("data-format") === "1")) return;
    event.preventDefault();
    if (pending) return; // one request at a time: a double click makes one secret
    var state = pending = { form: form, kind: kind };
    (kind === "create" ? prepareCreate(form) : prepareReveal(form)).then(function (result) {
      Object.assign(state, result);
      event.detail.issueRequest(true);
    }, function () { pending = null; });
  });

  document.addEventListener("htmx:configRequest", function (event) {
    if (!pending || !pending.params || event.detail.elt !== pending.form) return;
    var params = event.detail.parameters;
    SECRET_FIELDS.forEach(function (name) { delete params[name]; });
    Object.keys(pending.params).forEach(function (name) { params[name] = pending.params[name]; });
  });

  // Whatever the outcome (an error, a halted request), the next submit starts afresh.
  function settle(event) {
    var state = pending;
    if (state && event.detail.elt === state.form) setTimeout(function () { if (pending === state) pending = null; }, 0);
  }
  document.addEventListener("htmx:afterRequest", settle);
  document.addEventListener("htmx:validation:halted", settle);

  function afterEncryptedSwap(state) {
    if (state.kind === "create") {
      var link = document.querySelector("[data-append-link-key]");
      var bare = document.querySelector("[data-link-key]");
      if (link && state.linkKey) link.value += "#" + state.linkKey;
      if (bare && state.linkKey) bare.value = state.linkKey;
      var form = document.getElementById("create");
      // A refused form comes back empty (the server never had the text): put it back.
      if (form && form.tagName === "FORM") {
        var content = form.querySelector("[name=content]"), pass = form.querySelector("[name=passphrase]");
        if (content && !content.value) content.value = state.content || "";
        if (pass && !pass.value) pass.value = state.passphrase || "";
      }
      return;
    }
    var pre = document.querySelector("[data-ciphertext]");
    if (!pre || !state.contentKey) return;
    var nonce = C.b64uDecode(pre.getAttribute("data-nonce")), ciphertext = C.b64uDecode(pre.getAttribute("data-ciphertext"));
    C.openText(nonce, ciphertext, state.contentKey).then(function (text) {
      pre.textContent = text;
      var copy = document.getElementById("secret-copy");
      if (copy) copy.value = text;
      announce(pre.getAttribute("data-announce"));
    }, function () {
      pre.hidden = true;
      var error = document.querySelector("[data-decrypt-error]");
      if (error) { error.hidden = false; announce(error.textContent); }
    });
  }

  // After an in-place swap, move focus to the new content and announce it.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target || document;
    var root = target.parentNode || document;
    var config = event.detail.requestConfig;
    if (pending && pending.params && config && config.elt === pending.form) {
      var state = pending;
      pending = null;
      afterEncryptedSwap(state);
    }
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
