// Element's own key-export code: lib/utils/MegolmExportEncryption.js of matrix-react-sdk
// (fetched by setup.sh from the npm registry and checked against its published integrity),
// run unmodified. Its three imports are the app's translation function, its config (for
// the brand name in messages) and a logger; they are stood in for here, and `window` gives
// Node's WebCrypto, atob and btoa, as a browser would.
//
//   node react-sdk-export.mjs decrypt EXPORT_FILE PASSPHRASE_FILE          → plaintext JSON on stdout
//   node react-sdk-export.mjs encrypt SESSIONS_JSON PASSPHRASE_FILE [ROUNDS] → export file on stdout
import { readFileSync } from "node:fs";

const source = readFileSync(new URL("./.cache/MegolmExportEncryption.js", import.meta.url), "utf8");
const standIns = {
  "@babel/runtime/helpers/interopRequireDefault": (m) => (m && m.__esModule ? m : { default: m }),
  "matrix-js-sdk/src/logger": { logger: { log() {}, info() {}, warn() {}, error() {}, debug() {} } },
  "../languageHandler": { _t: (key) => key },
  "../SdkConfig": { __esModule: true, default: { get: () => ({ brand: "Element" }) } },
};
const module = { exports: {} };
new Function("require", "module", "exports", "window", source)(
  (name) => {
    if (!(name in standIns)) throw new Error(`MegolmExportEncryption.js needs ${name}`);
    return standIns[name];
  },
  module,
  module.exports,
  { crypto: globalThis.crypto, atob: globalThis.atob, btoa: globalThis.btoa },
);
export const { encryptMegolmKeyFile, decryptMegolmKeyFile } = module.exports;

/** A passphrase file loses one trailing newline, as our tool reads it. */
export function readPassphrase(path) {
  return readFileSync(path, "utf8").replace(/\r?\n$/, "");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [cmd, file, passFile, rounds] = process.argv.slice(2);
  try {
    if (cmd === "decrypt") {
      const data = readFileSync(file);
      const text = await decryptMegolmKeyFile(
        data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength),
        readPassphrase(passFile),
      );
      process.stdout.write(text);
    } else if (cmd === "encrypt") {
      const out = await encryptMegolmKeyFile(readFileSync(file, "utf8"), readPassphrase(passFile), {
        kdf_rounds: Number(rounds ?? 500000),
      });
      process.stdout.write(Buffer.from(out));
    } else {
      console.error("usage: react-sdk-export.mjs decrypt|encrypt FILE PASSPHRASE_FILE [ROUNDS]");
      process.exit(2);
    }
  } catch (e) {
    console.error(`react-sdk-export ${cmd}: ${e.message ?? e} ${e.friendlyText ?? ""}`);
    process.exit(1);
  }
}
