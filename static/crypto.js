// Safe Share's encryption format 2 (docs/FORMAT.md) in WebCrypto: the same bytes as
// app/crypto.py, checked against tests/vectors/v2.json. Pure: no DOM, no network.
(function (root) {
  "use strict";
  var subtle = root.crypto && root.crypto.subtle;
  var encoder = new TextEncoder();
  var PBKDF2_ITERATIONS = 600000;
  var LABELS = {
    contentKey: "safe-share/v2 content key",
    proof: "safe-share/v2 reveal proof",
    fileKey: "safe-share/v2 file key"
  };
  var TEXT_AD = encoder.encode("safe-share/v2 text");

  function b64uEncode(bytes) {
    var text = "";
    for (var i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // Strict, like the server: null for anything that would not encode back to the same text.
  function b64uDecode(text) {
    if (typeof text !== "string" || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
    var binary = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "==".slice(0, (4 - text.length % 4) % 4));
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return b64uEncode(bytes) === text ? bytes : null;
  }

  function randomBytes(length) {
    return root.crypto.getRandomValues(new Uint8Array(length));
  }

  function concat(a, b) {
    var out = new Uint8Array(a.length + b.length);
    out.set(a, 0);
    out.set(b, a.length);
    return out;
  }

  async function stretchPassphrase(passphrase, salt) {
    var material = await subtle.importKey("raw", encoder.encode(passphrase.normalize("NFC")), "PBKDF2", false, ["deriveBits"]);
    var bits = await subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt: salt, iterations: PBKDF2_ITERATIONS }, material, 256);
    return new Uint8Array(bits);
  }

  // An empty salt is HKDF's default (HashLen zero bytes), as on the server.
  async function hkdf(ikm, label) {
    var material = await subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
    var bits = await subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: encoder.encode(label) }, material, 256);
    return new Uint8Array(bits);
  }

  // Content key, reveal proof and file key from K (and the stretched passphrase P).
  async function deriveKeys(linkKey, stretched) {
    var ikm = stretched ? concat(linkKey, stretched) : linkKey;
    return {
      contentKey: await hkdf(ikm, LABELS.contentKey),
      proof: await hkdf(ikm, LABELS.proof),
      fileKey: await hkdf(ikm, LABELS.fileKey)
    };
  }

  async function gcmSeal(rawKey, nonce, plaintext, associatedData) {
    var key = await subtle.importKey("raw", rawKey, "AES-GCM", false, ["encrypt"]);
    return new Uint8Array(await subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: associatedData }, key, plaintext));
  }

  // Rejects when the data does not authenticate (altered, or the wrong key).
  async function gcmOpen(rawKey, nonce, ciphertext, associatedData) {
    var key = await subtle.importKey("raw", rawKey, "AES-GCM", false, ["decrypt"]);
    return new Uint8Array(await subtle.decrypt({ name: "AES-GCM", iv: nonce, additionalData: associatedData }, key, ciphertext));
  }

  async function sealText(text, contentKey, nonce) {
    nonce = nonce || randomBytes(12);
    return { nonce: nonce, ciphertext: await gcmSeal(contentKey, nonce, encoder.encode(text), TEXT_AD) };
  }

  async function openText(nonce, ciphertext, contentKey) {
    if (!nonce || nonce.length !== 12 || !ciphertext) throw new Error("cannot be opened");
    return new TextDecoder().decode(await gcmOpen(contentKey, nonce, ciphertext, TEXT_AD));
  }

  root.SafeShareCrypto = {
    supported: function () { return !!(subtle && root.TextEncoder && "".normalize); },
    b64uEncode: b64uEncode,
    b64uDecode: b64uDecode,
    randomBytes: randomBytes,
    stretchPassphrase: stretchPassphrase,
    deriveKeys: deriveKeys,
    gcmSeal: gcmSeal,
    gcmOpen: gcmOpen,
    sealText: sealText,
    openText: openText
  };
})(window);
