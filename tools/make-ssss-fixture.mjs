// Writes an account-data fixture for the secret-storage CLI tests, computed with Node's
// WebCrypto and node:crypto only — an implementation independent of this repository's
// Rust code:
//   - a secret-storage key derived from a passphrase (PBKDF2-HMAC-SHA-512), with its key
//     description and key check (HKDF-SHA-256, AES-CTR length 64, HMAC-SHA-256);
//   - the backup key secret (m.megolm_backup.v1) and the three cross-signing seeds;
//   - the expected values (secrets, Ed25519/X25519 public keys, recovery key).
// Run: node tools/make-ssss-fixture.mjs OUT_DIR
import { webcrypto as wc, createPrivateKey, createPublicKey, randomBytes } from "node:crypto";
import { writeFileSync, mkdirSync } from "node:fs";

const out = process.argv[2] ?? "crates/megolm-backup/tests/fixtures";
mkdirSync(out, { recursive: true });
const b64 = (b) => Buffer.from(b).toString("base64").replace(/=+$/, "");
const b64p = (b) => Buffer.from(b).toString("base64");
const enc = new TextEncoder();
const alnum = (n) => {
  const A = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  let s = "";
  while (s.length < n) { const b = randomBytes(1)[0]; if (b < 248) s += A[b % 62]; }
  return s;
};

async function deriveKeys(key, name) {
  const ikm = await wc.subtle.importKey("raw", key, "HKDF", false, ["deriveBits"]);
  const bits = await wc.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(32), info: enc.encode(name) }, ikm, 512);
  const b = new Uint8Array(bits);
  return [b.slice(0, 32), b.slice(32)];
}

async function encryptSecret(key, name, data, iv) {
  const [aesRaw, macRaw] = await deriveKeys(key, name);
  const aes = await wc.subtle.importKey("raw", aesRaw, "AES-CTR", false, ["encrypt"]);
  const ct = new Uint8Array(await wc.subtle.encrypt({ name: "AES-CTR", counter: iv, length: 64 }, aes, data));
  const hmac = await wc.subtle.importKey("raw", macRaw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await wc.subtle.sign("HMAC", hmac, ct));
  return { iv, ct, mac };
}

function freshIv() { const iv = randomBytes(16); iv[8] &= 0x7f; return new Uint8Array(iv); }

// Ed25519 / X25519 public keys from raw private bytes via PKCS#8.
function publicFrom(prefixHex, raw) {
  const der = Buffer.concat([Buffer.from(prefixHex, "hex"), Buffer.from(raw)]);
  const pub = createPublicKey(createPrivateKey({ key: der, format: "der", type: "pkcs8" }));
  return b64(Buffer.from(pub.export({ format: "jwk" }).x, "base64url"));
}
const ED25519_PKCS8 = "302e020100300506032b657004220420";
const X25519_PKCS8 = "302e020100300506032b656e04220420";

// base58 (Bitcoin alphabet) of the 35-byte recovery-key form.
function recoveryKey(key) {
  const buf = [0x8b, 0x01, ...key];
  buf.push(buf.reduce((a, b) => a ^ b, 0));
  const A = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  let n = BigInt("0x" + Buffer.from(buf).toString("hex")), s = "";
  while (n > 0n) { s = A[Number(n % 58n)] + s; n /= 58n; }
  return s.match(/.{1,4}/g).join(" ");
}

const passphrase = "  fixture: correct horse battery staple ";
const salt = alnum(32);
const iterations = 100000;
const keyId = alnum(32);
const pw = await wc.subtle.importKey("raw", enc.encode(passphrase), "PBKDF2", false, ["deriveBits"]);
const ssssKey = new Uint8Array(await wc.subtle.deriveBits(
  { name: "PBKDF2", hash: "SHA-512", salt: enc.encode(salt), iterations }, pw, 256));

const check = await encryptSecret(ssssKey, "", new Uint8Array(32), freshIv());
const backupKey = new Uint8Array(randomBytes(32));
const seeds = {
  "m.cross_signing.master": new Uint8Array(randomBytes(32)),
  "m.cross_signing.self_signing": new Uint8Array(randomBytes(32)),
  "m.cross_signing.user_signing": new Uint8Array(randomBytes(32)),
};
// Values as clients write them: js-sdk wrote padded base64; rust-sdk unpadded.
const secrets = {
  "m.megolm_backup.v1": b64p(backupKey),
  "m.cross_signing.master": b64p(seeds["m.cross_signing.master"]),
  "m.cross_signing.self_signing": b64(seeds["m.cross_signing.self_signing"]),
  "m.cross_signing.user_signing": b64(seeds["m.cross_signing.user_signing"]),
};
const events = [
  { type: "m.secret_storage.default_key", content: { key: keyId } },
  { type: `m.secret_storage.key.${keyId}`, content: {
      algorithm: "m.secret_storage.v1.aes-hmac-sha2", name: "Security Phrase",
      passphrase: { algorithm: "m.pbkdf2", salt, iterations },
      iv: b64p(check.iv), mac: b64p(check.mac) } },
  { type: "m.push_rules", content: { global: {} } },
];
for (const [name, value] of Object.entries(secrets)) {
  const s = await encryptSecret(ssssKey, name, enc.encode(value), freshIv());
  events.push({ type: name, content: { encrypted: { [keyId]: { iv: b64p(s.iv), ciphertext: b64p(s.ct), mac: b64p(s.mac) } } } });
}
writeFileSync(`${out}/account-data.json`, JSON.stringify({ account_data: { events } }, null, 2) + "\n");
writeFileSync(`${out}/account-data.expected.json`, JSON.stringify({
  generator: "tools/make-ssss-fixture.mjs (Node WebCrypto)",
  passphrase, key_id: keyId, recovery_key: recoveryKey(ssssKey), secrets,
  backup_public_key: publicFrom(X25519_PKCS8, backupKey),
  cross_signing_public_keys: Object.fromEntries(Object.entries(seeds).map(([n, s]) => [n, publicFrom(ED25519_PKCS8, s)])),
}, null, 2) + "\n");
