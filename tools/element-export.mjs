// An independent reader and writer of Element's key-export files, doing exactly what
// element-web's MegolmExportEncryption.ts does with WebCrypto: PBKDF2 (SHA-512) to 512
// bits, HMAC-SHA-256 over everything before the MAC, AES-CTR with `length: 64`.
// Node only, no packages. Used by the CLI tests; the passphrase comes from a file.
//   node tools/element-export.mjs decrypt EXPORT_FILE PASSPHRASE_FILE   -> plaintext on stdout
//   node tools/element-export.mjs encrypt PLAINTEXT_FILE PASSPHRASE_FILE ROUNDS -> export on stdout
import { webcrypto as wc } from "node:crypto";
import { readFileSync } from "node:fs";

const HEADER = "-----BEGIN MEGOLM SESSION DATA-----";
const TRAILER = "-----END MEGOLM SESSION DATA-----";
const readPassphrase = (f) => readFileSync(f, "utf8").replace(/\r?\n$/, "");

async function keys(passphrase, salt, rounds) {
  const pw = await wc.subtle.importKey("raw", new TextEncoder().encode(passphrase), "PBKDF2", false, ["deriveBits"]);
  const bits = new Uint8Array(await wc.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-512", salt, iterations: rounds }, pw, 512));
  const aes = await wc.subtle.importKey("raw", bits.slice(0, 32), "AES-CTR", false, ["encrypt", "decrypt"]);
  const hmac = await wc.subtle.importKey("raw", bits.slice(32), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
  return { aes, hmac };
}

// Element's unpack: find the header and trailer lines, join what is between, atob.
function unpack(text) {
  const lines = text.split("\n");
  let start = -1;
  for (let i = 0; i < lines.length; i++) if (lines[i].trim() === HEADER) { start = i + 1; break; }
  if (start < 0) throw new Error("Header line not found");
  let end = -1;
  for (let i = start; i < lines.length; i++) if (lines[i].trim() === TRAILER) { end = i; break; }
  if (end < 0) throw new Error("Trailer line not found");
  return new Uint8Array(Buffer.from(lines.slice(start, end).join(""), "base64"));
}

async function decrypt(file, passFile) {
  const body = unpack(readFileSync(file, "utf8"));
  if (body[0] !== 1) throw new Error("Unsupported version");
  const salt = body.subarray(1, 17), iv = body.subarray(17, 33);
  const rounds = (body[33] << 24) | (body[34] << 16) | (body[35] << 8) | body[36];
  const ct = body.subarray(37, body.length - 32), mac = body.subarray(body.length - 32);
  const k = await keys(readPassphrase(passFile), salt, rounds);
  if (!(await wc.subtle.verify("HMAC", k.hmac, mac, body.subarray(0, body.length - 32)))) throw new Error("Authentication check failed: incorrect password?");
  const pt = await wc.subtle.decrypt({ name: "AES-CTR", counter: iv, length: 64 }, k.aes, ct);
  process.stdout.write(Buffer.from(pt));
}

async function encrypt(file, passFile, rounds) {
  const data = readFileSync(file);
  const salt = wc.getRandomValues(new Uint8Array(16));
  const iv = wc.getRandomValues(new Uint8Array(16));
  iv[8] &= 0x7f;
  const k = await keys(readPassphrase(passFile), salt, rounds);
  const ct = new Uint8Array(await wc.subtle.encrypt({ name: "AES-CTR", counter: iv, length: 64 }, k.aes, data));
  const body = new Uint8Array(37 + ct.length + 32);
  body[0] = 1; body.set(salt, 1); body.set(iv, 17);
  body[33] = (rounds >> 24) & 0xff; body[34] = (rounds >> 16) & 0xff; body[35] = (rounds >> 8) & 0xff; body[36] = rounds & 0xff;
  body.set(ct, 37);
  const mac = new Uint8Array(await wc.subtle.sign("HMAC", k.hmac, body.subarray(0, 37 + ct.length)));
  body.set(mac, 37 + ct.length);
  const lines = [HEADER];
  for (let o = 0; o < body.length; o += 96) lines.push(Buffer.from(body.subarray(o, o + 96)).toString("base64"));
  lines.push(TRAILER);
  process.stdout.write(lines.join("\n") + "\n");
}

const [cmd, ...args] = process.argv.slice(2);
try {
  if (cmd === "decrypt") await decrypt(args[0], args[1]);
  else if (cmd === "encrypt") await encrypt(args[0], args[1], parseInt(args[2], 10));
  else throw new Error("usage: element-export.mjs decrypt|encrypt ...");
} catch (e) {
  process.stderr.write(`error: ${e.message}\n`);
  process.exit(1);
}
