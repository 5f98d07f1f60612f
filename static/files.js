// Files in the browser (docs/FORMAT.md, "Files (stream)"): a chosen file is sealed chunk by
// chunk before it is uploaded, and a downloaded sealed stream is opened chunk by chunk, so
// neither the file nor its name ever reaches the server. Without JavaScript the server does
// the same steps; this only makes the browser do them. Needs crypto.js.
(function (root) {
  "use strict";
  var C = root.SafeShareCrypto;
  var CHUNK = 65536, SEALED = CHUNK + 16;
  var encoder = new TextEncoder();
  var CHUNK_AD = encoder.encode("safe-share/v2 file chunk");
  var META_AD = encoder.encode("safe-share/v2 file meta");
  var SECRET_FIELDS = ["content", "passphrase", "file", "_csrf_token"];

  function join(a, b) {
    var out = new Uint8Array(a.length + b.length);
    out.set(a, 0);
    out.set(b, a.length);
    return out;
  }

  // prefix (7 random bytes per file) || uint32_be(index) || last flag: chunks cannot move.
  function chunkNonce(prefix, index, last) {
    var nonce = new Uint8Array(12);
    nonce.set(prefix, 0);
    new DataView(nonce.buffer).setUint32(7, index);
    nonce[11] = last ? 1 : 0;
    return nonce;
  }

  function aesKey(raw, use) {
    return root.crypto.subtle.importKey("raw", raw, "AES-GCM", false, [use]);
  }

  async function sealChunk(key, prefix, index, last, data) {
    return new Uint8Array(await root.crypto.subtle.encrypt({ name: "AES-GCM", iv: chunkNonce(prefix, index, last), additionalData: CHUNK_AD }, key, data));
  }

  async function openChunk(key, prefix, index, last, data) {
    return new Uint8Array(await root.crypto.subtle.decrypt({ name: "AES-GCM", iv: chunkNonce(prefix, index, last), additionalData: CHUNK_AD }, key, data));
  }

  async function sealMeta(contentKey, meta, nonce) {
    nonce = nonce || C.randomBytes(12);
    var doc = encoder.encode(JSON.stringify({ name: meta.name, type: meta.type, size: meta.size }));
    return join(nonce, await C.gcmSeal(contentKey, nonce, doc, META_AD));
  }

  async function openMeta(contentKey, sealed) {
    var doc = await C.gcmOpen(contentKey, sealed.subarray(0, 12), sealed.subarray(12), META_AD);
    return JSON.parse(new TextDecoder().decode(doc));
  }

  // Reads the file a chunk at a time; the sealed parts become one Blob for the upload.
  async function sealFile(blob, fileKey, prefix, progress) {
    var key = await aesKey(fileKey, "encrypt");
    var count = Math.max(1, Math.ceil(blob.size / CHUNK)), parts = [];
    for (var i = 0; i < count; i++) {
      var data = new Uint8Array(await blob.slice(i * CHUNK, (i + 1) * CHUNK).arrayBuffer());
      parts.push(await sealChunk(key, prefix, i, i === count - 1, data));
      if (progress) progress((i + 1) / count);
    }
    return new Blob(parts);
  }

  // Opens a sealed stream as it arrives; a stream cut at any place fails on its last chunk.
  async function openStream(reader, fileKey, prefix, progress) {
    var key = await aesKey(fileKey, "decrypt");
    var buffer = new Uint8Array(0), parts = [], index = 0, received = 0;
    for (;;) {
      var step = await reader.read();
      if (step.done) break;
      buffer = join(buffer, step.value);
      received += step.value.length;
      if (progress) progress(received);
      while (buffer.length > SEALED) {
        parts.push(await openChunk(key, prefix, index++, false, buffer.subarray(0, SEALED)));
        buffer = buffer.slice(SEALED);
      }
    }
    if (buffer.length <= 16) throw new Error("cut off");
    parts.push(await openChunk(key, prefix, index, true, buffer));
    return parts;
  }

  root.SafeShareFiles = { chunkNonce: chunkNonce, aesKey: aesKey, sealChunk: sealChunk, openChunk: openChunk, sealMeta: sealMeta, openMeta: openMeta, sealFile: sealFile, openStream: openStream };
  if (!root.document || !C || !C.supported()) return;
  var doc = root.document;

  function show(progress, fraction) {
    if (!progress) return;
    progress.hidden = false;
    progress.value = Math.round(fraction * 100);
  }

  function fileInput(form) {
    return form.querySelector("input[type=file][name=file]");
  }

  function tooLarge(form) {
    var input = fileInput(form), limit = Number(form.getAttribute("data-max-file-bytes") || 0);
    var file = input && input.files && input.files[0];
    var big = !!(file && limit && file.size > limit);
    var note = form.querySelector("#file-too-large");
    if (note) note.hidden = !big;
    if (input) input.setAttribute("aria-invalid", big ? "true" : "false");
    return big;
  }

  doc.addEventListener("change", function (event) {
    var form = event.target.form;
    if (event.target.name === "file" && form && form.hasAttribute("data-max-file-bytes")) tooLarge(form);
  });

  // Capture phase: runs before htmx sees the submit, and takes over when a file is chosen.
  doc.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute || !form.hasAttribute("data-max-file-bytes")) return;
    var input = fileInput(form), file = input && input.files && input.files[0];
    if (tooLarge(form)) { event.preventDefault(); event.stopPropagation(); input.focus(); return; }
    var create = form.getAttribute("data-encrypt") === "create";
    // Text alone goes through htmx and app.js as a plain form: multipart is for files only.
    if (!file && create) form.removeAttribute("enctype");
    // Other forms with a file (a guest's) go as they are: the server seals it as it arrives.
    if (!file || !create) return;
    if (form.getAttribute("data-busy")) { event.preventDefault(); event.stopPropagation(); return; }
    event.preventDefault();
    event.stopPropagation();
    form.setAttribute("data-busy", "1");
    upload(form, file).catch(function () { form.removeAttribute("data-busy"); });
  }, true);

  async function upload(form, file) {
    var content = form.querySelector("[name=content]").value;
    var passField = form.querySelector("[name=passphrase]");
    var passphrase = passField ? passField.value : "";
    var progress = form.querySelector(".upload-progress");
    var linkKey = C.randomBytes(32), salt = passphrase ? C.randomBytes(16) : null, prefix = C.randomBytes(7);
    var keys = await C.deriveKeys(linkKey, salt ? await C.stretchPassphrase(passphrase, salt) : null);
    var text = await C.sealText(content, keys.contentKey);
    var meta = await sealMeta(keys.contentKey, { name: file.name, type: file.type || "application/octet-stream", size: file.size });
    show(progress, 0);
    // Sealing is the first tenth of the bar, sending the rest.
    var sealed = await sealFile(file, keys.fileKey, prefix, function (f) { show(progress, f / 10); });
    var body = new FormData();
    var fields = { format: "2", nonce: C.b64uEncode(text.nonce), ciphertext: C.b64uEncode(text.ciphertext), proof: C.b64uEncode(keys.proof) };
    if (salt) fields.kdf_salt = C.b64uEncode(salt);
    new FormData(form).forEach(function (value, name) { if (SECRET_FIELDS.indexOf(name) < 0) body.append(name, value); });
    Object.keys(fields).forEach(function (name) { body.append(name, fields[name]); });
    body.append("file_meta", C.b64uEncode(meta));
    body.append("file_prefix", C.b64uEncode(prefix));
    body.append("file_sealed", sealed, "sealed");
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.getAttribute("action"));
    xhr.setRequestHeader("HX-Request", "true");
    xhr.setRequestHeader("x-csrftoken", (form.querySelector("[name=_csrf_token]") || {}).value || "");
    xhr.upload.onprogress = function (e) { if (e.lengthComputable) show(progress, 0.1 + 0.9 * e.loaded / e.total); };
    xhr.onload = function () {
      var holder = doc.createElement("div");
      holder.innerHTML = xhr.responseText;
      var next = holder.querySelector("#create") || holder.firstElementChild;
      if (!next) { form.removeAttribute("data-busy"); return; }
      form.replaceWith(next);
      if (root.htmx) root.htmx.process(next);
      var link = doc.querySelector("[data-append-link-key]"), bare = doc.querySelector("[data-link-key]");
      var key = C.b64uEncode(linkKey);
      if (link) link.value += "#" + key;
      if (bare) bare.value = key;
      if (next.tagName === "FORM") {
        next.querySelector("[name=content]").value = content;
        if (next.querySelector("[name=passphrase]")) next.querySelector("[name=passphrase]").value = passphrase;
      }
      // As after an htmx swap: app.js shows the copy buttons, moves focus and announces.
      next.dispatchEvent(new CustomEvent("htmx:afterSwap", { bubbles: true, detail: { target: next } }));
    };
    xhr.onerror = xhr.onabort = function () { form.removeAttribute("data-busy"); if (progress) progress.hidden = true; };
    xhr.send(body);
  }

  doc.addEventListener("htmx:xhr:progress", function (event) {
    var bar = event.detail.elt.querySelector && event.detail.elt.querySelector(".upload-progress");
    if (bar && event.detail.lengthComputable) show(bar, event.detail.loaded / event.detail.total);
  });

  // The reveal's key and passphrase, taken before the request goes: the file opens with them.
  var opened = null;
  doc.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.detail.elt;
    if (!form.getAttribute || form.getAttribute("data-encrypt") !== "reveal") return;
    var key = ((form.querySelector("[name=key]") || {}).value || "").trim().split("#").pop();
    var pass = form.querySelector("[name=passphrase]");
    opened = { key: key, passphrase: pass ? pass.value : "", salt: form.getAttribute("data-kdf-salt") };
  });

  async function fileKeys(state) {
    var linkKey = C.b64uDecode(state.key);
    if (!linkKey || linkKey.length !== 32) throw new Error("no key");
    var stretched = state.salt ? await C.stretchPassphrase(state.passphrase, C.b64uDecode(state.salt)) : null;
    return C.deriveKeys(linkKey, stretched);
  }

  doc.addEventListener("htmx:afterSwap", function () {
    var form = doc.querySelector("form[data-file-download][data-meta]");
    if (!form || !opened) return;
    form.keys = fileKeys(opened);
    form.keys.then(function (keys) {
      return openMeta(keys.contentKey, C.b64uDecode(form.getAttribute("data-meta")));
    }).then(function (meta) {
      form.fileName = String(meta.name || "file");
      var label = form.querySelector("[data-file-name]");
      if (label) label.textContent = form.fileName;
    }, function () { failed(form); });
  });

  function failed(form) {
    var error = form.querySelector("[data-download-error]");
    if (error) error.hidden = false;
  }

  doc.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute || !form.hasAttribute("data-meta") || !form.keys) return;
    event.preventDefault();
    download(form).catch(function () { failed(form); });
  }, true);

  async function download(form) {
    var keys = await form.keys;
    var progress = form.querySelector(".download-progress");
    var body = new URLSearchParams();
    body.append("ticket", form.querySelector("[name=ticket]").value);
    body.append("sealed", "1");
    body.append("_csrf_token", (form.querySelector("[name=_csrf_token]") || {}).value || "");
    var response = await fetch(form.getAttribute("action"), { method: "POST", body: body, credentials: "same-origin" });
    if (!response.ok || !response.body) throw new Error("refused");
    var total = Number(response.headers.get("content-length")) || 1;
    var parts = await openStream(response.body.getReader(), keys.fileKey, C.b64uDecode(form.getAttribute("data-prefix")), function (n) { show(progress, n / total); });
    var url = URL.createObjectURL(new Blob(parts, { type: "application/octet-stream" }));
    var link = doc.createElement("a");
    link.href = url;
    link.download = form.fileName || "file";
    doc.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
  }
})(window);
