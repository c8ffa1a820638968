// Element's own client library — matrix-js-sdk with its Rust crypto, the code inside Element
// Web — driven the way Element drives it, against the test Synapse. The Rust tests
// (crates/megolm-backup/tests/element_client.rs) run it between uses of our tool, so every
// claim "Element reads it" or "we read what Element wrote" is checked by Element's code.
//
//   node element-client.mjs setup   --homeserver URL --user ID --password P [--passphrase PHRASE]
//                                    [--rooms N] [--messages M] --out FILE
//       Element's "Set up recovery": cross-signing, secret storage with a new Security Key
//       (or from a Security Phrase) and a new key backup; then N encrypted rooms with M
//       messages each, waiting until every room key is in the backup. Writes the Security
//       Key, the messages and exportRoomKeys() to FILE.
//   node element-client.mjs recover --homeserver URL --user ID --password P
//                                    (--security-key-file F | --passphrase-file F) [--expect FILE]
//                                    [--rooms N] [--messages M] --out FILE
//       A fresh Element device that has only what the user was given: unlocks secret storage,
//       imports the cross-signing keys, reports whether secret storage is ready and the backup
//       trusted, restores the backup, decrypts every message listed in FILE, then sends M
//       messages in each of N new encrypted rooms and waits until their room keys reach the
//       backup.
//   node element-client.mjs import  --homeserver URL --user ID --password P --export-file F
//                                    --passphrase-file F --expect FILE --out FILE
//       Element's "Import E2E room keys" on a fresh device: the file decrypted by Element's
//       export code (react-sdk-export.mjs), imported, and every listed message decrypted.
//
// Node 20 lacks Promise.withResolvers, which matrix-js-sdk 43 uses (it asks for Node 22).

if (!Promise.withResolvers) {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

import { readFileSync, writeFileSync } from "node:fs";

const sdk = await import("matrix-js-sdk");
const cryptoApi = await import("matrix-js-sdk/lib/crypto-api/index.js");
const { logger } = await import("matrix-js-sdk/lib/logger.js");
logger.setLevel(process.env.MKB_JS_SDK_LOG ?? "error");

function parseArgs(argv) {
  const out = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) {
      out._.push(a);
    } else if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) {
      out[a.slice(2)] = argv[++i];
    } else {
      out[a.slice(2)] = true;
    }
  }
  return out;
}

function need(args, name) {
  if (args[name] === undefined || args[name] === true) {
    throw new Error(`--${name} is required`);
  }
  return args[name];
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, fn, { timeoutMs = 60000, everyMs = 250 } = {}) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Logs in as a new device and starts a syncing client with Rust crypto, as Element does. */
async function startDevice(baseUrl, user, password, cryptoCallbacks) {
  const anon = sdk.createClient({ baseUrl });
  const login = await anon.loginRequest({
    type: "m.login.password",
    identifier: { type: "m.id.user", user },
    password,
    initial_device_display_name: "Element (matrix-js-sdk) in the megolm-backup tests",
  });
  const client = sdk.createClient({
    baseUrl,
    userId: login.user_id,
    deviceId: login.device_id,
    accessToken: login.access_token,
    cryptoCallbacks,
  });
  await client.initRustCrypto({ useIndexedDB: false });
  const prepared = new Promise((resolve, reject) => {
    client.on(sdk.ClientEvent.Sync, (state) => {
      if (state === "PREPARED" || state === "SYNCING") resolve();
      if (state === "ERROR") reject(new Error("sync failed"));
    });
  });
  await client.startClient({ initialSyncLimit: 50 });
  await prepared;
  return client;
}

/** GET on the client-server API with the device's token (for what the SDK does not expose). */
async function api(client, path) {
  return client.http.authedRequest(sdk.Method.Get, path, undefined, undefined, {
    prefix: sdk.ClientPrefix.V3,
  });
}

/** Waits until the server's current backup holds every (room, session) in `keys`. */
async function waitForBackup(client, keys) {
  return waitFor(
    "the room keys to reach the backup",
    async () => {
      const info = await client.getCrypto().getKeyBackupInfo();
      if (!info?.version) return false;
      const body = await api(client, `/room_keys/keys?version=${encodeURIComponent(info.version)}`);
      const ok = keys.every((k) => body.rooms?.[k.room_id]?.sessions?.[k.session_id]);
      return ok ? info.version : false;
    },
    { timeoutMs: 90000, everyMs: 500 },
  );
}

/** Fetches each message from the server and decrypts it with the keys this device has. */
async function decryptAll(client, messages) {
  const decrypted = [];
  for (const m of messages) {
    const ev = new sdk.MatrixEvent(await client.fetchRoomEvent(m.room_id, m.event_id));
    await client.decryptEventIfNeeded(ev);
    decrypted.push({
      room_id: m.room_id,
      event_id: m.event_id,
      ok: !ev.isDecryptionFailure() && ev.getContent().body === m.body,
      body: ev.getContent().body ?? null,
    });
  }
  return decrypted;
}

/** Creates `rooms` encrypted rooms and sends `perRoom` messages in each. */
async function sendMessages(client, rooms, perRoom, who) {
  const crypto = client.getCrypto();
  const messages = [];
  for (let r = 0; r < rooms; r++) {
    const { room_id } = await client.createRoom({
      name: `megolm-backup interop ${r}`,
      initial_state: [
        { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
      ],
    });
    await waitFor("the room to sync", async () =>
      client.getRoom(room_id) && (await crypto.isEncryptionEnabledInRoom(room_id)),
    );
    for (let m = 0; m < perRoom; m++) {
      const body = `message ${m} in room ${r}, from ${who}`;
      const { event_id } = await client.sendTextMessage(room_id, body);
      messages.push({ room_id, event_id, body });
    }
  }
  return messages;
}

async function setup(args) {
  const baseUrl = need(args, "homeserver");
  const user = need(args, "user");
  const password = need(args, "password");
  const phrase = typeof args.passphrase === "string" ? args.passphrase : undefined;
  const rooms = Number(args.rooms ?? 2);
  const perRoom = Number(args.messages ?? 3);

  // Element keeps the new key in memory while it sets up (cacheSecretStorageKey) and hands
  // it back when secret storage asks for it.
  let cached = null;
  const client = await startDevice(baseUrl, user, password, {
    cacheSecretStorageKey: (keyId, _info, key) => {
      cached = [keyId, key];
    },
    getSecretStorageKey: async ({ keys }) => (cached && keys[cached[0]] ? cached : null),
  });
  const crypto = client.getCrypto();
  await crypto.bootstrapCrossSigning({
    authUploadDeviceSigningKeys: async (makeRequest) => {
      await makeRequest({
        type: "m.login.password",
        identifier: { type: "m.id.user", user: client.getUserId() },
        password,
      });
    },
  });
  const key = await crypto.createRecoveryKeyFromPassphrase(phrase);
  await crypto.bootstrapSecretStorage({
    createSecretStorageKey: async () => key,
    setupNewSecretStorage: true,
    setupNewKeyBackup: true,
  });
  await crypto.checkKeyBackupAndEnable();

  const messages = await sendMessages(client, rooms, perRoom, "Element");
  const exported = await crypto.exportRoomKeys();
  const version = await waitForBackup(client, exported);
  const out = {
    user_id: client.getUserId(),
    security_key: key.encodedPrivateKey,
    passphrase: phrase ?? null,
    backup_version: version,
    secret_storage_ready: await crypto.isSecretStorageReady(),
    messages,
    exported,
  };
  writeFileSync(need(args, "out"), JSON.stringify(out, null, 2));
  client.stopClient();
}

async function recover(args) {
  const baseUrl = need(args, "homeserver");
  const user = need(args, "user");
  const password = need(args, "password");
  const expect = args.expect
    ? JSON.parse(readFileSync(args.expect, "utf8"))
    : { messages: [] };
  const securityKey = args["security-key-file"]
    ? readFileSync(args["security-key-file"], "utf8").trim()
    : null;
  const phrase = args["passphrase-file"]
    ? readFileSync(args["passphrase-file"], "utf8").replace(/\r?\n$/, "")
    : null;
  if (!securityKey && phrase === null) throw new Error("give --security-key-file or --passphrase-file");

  // Element's "Verify with Security Key or Phrase": the key comes from what the user typed.
  let client;
  const getSecretStorageKey = async ({ keys }) => {
    const defaultId = await client.secretStorage.getDefaultKeyId();
    const id = keys[defaultId] ? defaultId : Object.keys(keys)[0];
    const info = keys[id];
    let raw;
    if (securityKey) {
      raw = cryptoApi.decodeRecoveryKey(securityKey);
    } else {
      if (!info.passphrase) throw new Error("the secret-storage key has no passphrase");
      raw = await cryptoApi.deriveRecoveryKeyFromPassphrase(
        phrase,
        info.passphrase.salt,
        info.passphrase.iterations,
      );
    }
    if (!(await client.secretStorage.checkKey(raw, info))) {
      throw new Error("what the user has does not match the secret-storage key");
    }
    return [id, raw];
  };
  client = await startDevice(baseUrl, user, password, { getSecretStorageKey });
  const crypto = client.getCrypto();

  // As Element's "Verify this device" does: fetch the account's public cross-signing keys
  // first, then import the private ones from secret storage and sign this device.
  if (!(await crypto.userHasCrossSigningKeys(client.getUserId(), true))) {
    throw new Error("the account has no cross-signing keys on the server");
  }
  await crypto.bootstrapCrossSigning({});
  const result = {
    cross_signing_ready: await crypto.isCrossSigningReady(),
    secret_storage_ready: await crypto.isSecretStorageReady(),
  };
  await crypto.loadSessionBackupPrivateKeyFromSecretStorage();
  const check = await crypto.checkKeyBackupAndEnable();
  result.backup_version = check?.backupInfo?.version ?? null;
  result.trust = check
    ? {
        trusted: check.trustInfo.trusted,
        matchesDecryptionKey: check.trustInfo.matchesDecryptionKey,
      }
    : null;
  result.active_backup = await crypto.getActiveSessionBackupVersion();
  const restored = await crypto.restoreKeyBackup();
  result.restored = { total: restored.total, imported: restored.imported };

  result.decrypted = await decryptAll(client, expect.messages);

  // This device's own new room keys must reach the backup: Element backs up only to a
  // backup it trusts.
  result.messages = await sendMessages(client, Number(args.rooms ?? 0), Number(args.messages ?? 2), "a fresh Element device");
  if (result.messages.length > 0) {
    const sessions = [];
    for (const m of result.messages) {
      const raw = await client.fetchRoomEvent(m.room_id, m.event_id);
      sessions.push({ room_id: m.room_id, session_id: raw.content.session_id });
    }
    await waitForBackup(client, sessions);
    result.new_sessions_in_backup = sessions;
  }
  result.exported = await crypto.exportRoomKeys();
  writeFileSync(need(args, "out"), JSON.stringify(result, null, 2));
  client.stopClient();
}

/**
 * Element's "Import E2E room keys": the export file decrypted by Element's own export code,
 * the keys imported into a fresh device, then every listed message decrypted with them.
 */
async function importExport(args) {
  const { decryptMegolmKeyFile, readPassphrase } = await import("./react-sdk-export.mjs");
  const expect = JSON.parse(readFileSync(need(args, "expect"), "utf8"));
  const data = readFileSync(need(args, "export-file"));
  const json = await decryptMegolmKeyFile(
    data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength),
    readPassphrase(need(args, "passphrase-file")),
  );
  const client = await startDevice(need(args, "homeserver"), need(args, "user"), need(args, "password"), {});
  await client.getCrypto().importRoomKeysAsJson(json);
  const result = {
    imported: (await client.getCrypto().exportRoomKeys()).length,
    decrypted: await decryptAll(client, expect.messages),
  };
  writeFileSync(need(args, "out"), JSON.stringify(result, null, 2));
  client.stopClient();
}

/**
 * Element's "Reset key storage" on a new, unverified device whose user cancels the
 * secret-storage prompt: matrix-js-sdk deletes the old backup versions, creates a new one
 * signed by this device only, and cannot store its key in secret storage. Writes the new
 * version, this device and whether storing the key failed to FILE.
 *
 *   node element-client.mjs reset-backup-unverified --homeserver URL --user ID --password P --out FILE
 */
async function resetBackupUnverified(args) {
  const client = await startDevice(need(args, "homeserver"), need(args, "user"), need(args, "password"), {
    getSecretStorageKey: async () => {
      throw new Error("the user cancelled the secret-storage prompt");
    },
  });
  const crypto = client.getCrypto();
  let storeError = null;
  try {
    await crypto.resetKeyBackup();
  } catch (e) {
    storeError = String(e?.message ?? e);
  }
  const info = await crypto.getKeyBackupInfo();
  const result = {
    device_id: client.getDeviceId(),
    backup_version: info?.version ?? null,
    store_error: storeError,
    secret_storage_ready: await crypto.isSecretStorageReady(),
  };
  writeFileSync(need(args, "out"), JSON.stringify(result, null, 2));
  client.stopClient();
}

const args = parseArgs(process.argv.slice(2));
const commands = { setup, recover, import: importExport, "reset-backup-unverified": resetBackupUnverified };
const cmd = commands[args._[0]];
if (!cmd) {
  console.error("usage: element-client.mjs setup|recover …");
  process.exit(2);
}
try {
  await cmd(args);
  process.exit(0);
} catch (e) {
  console.error(`element-client ${args._[0]}: ${e?.stack ?? e}`);
  process.exit(1);
}
