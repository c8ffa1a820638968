// Element's "Import E2E room keys", offline: the file decrypted by Element's own export
// code (react-sdk-export.mjs), then the keys handed to matrix-sdk-crypto-wasm's
// OlmMachine.importExportedRoomKeys — the call matrix-js-sdk's
// CryptoApi.importRoomKeysAsJson makes (lib/rust-crypto/backup.js) — on a fresh in-memory
// device. Prints {"accepted": N, "in_file": M} on stdout; exits 1 when Element refuses the
// file (the message on stderr).
//
//   node tools/element/import-keys.mjs EXPORT_FILE PASSPHRASE_FILE
// Needs `bash tools/element/setup.sh`.
import { readFileSync } from "node:fs";

import { decryptMegolmKeyFile, readPassphrase } from "./react-sdk-export.mjs";

const wasm = await import("@matrix-org/matrix-sdk-crypto-wasm");
const [file, passFile] = process.argv.slice(2);
try {
  const data = readFileSync(file);
  const json = await decryptMegolmKeyFile(
    data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength),
    readPassphrase(passFile),
  );
  await wasm.initAsync();
  const machine = await wasm.OlmMachine.initialize(
    new wasm.UserId("@importer:example.org"),
    new wasm.DeviceId("IMPORTER"),
  );
  const result = await machine.importExportedRoomKeys(json, () => {});
  process.stdout.write(
    JSON.stringify({ accepted: result.importedCount, in_file: result.totalCount }) + "\n",
  );
} catch (e) {
  console.error(`Element refused the file: ${e.message ?? e}`);
  process.exit(1);
}
