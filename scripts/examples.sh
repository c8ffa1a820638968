#!/usr/bin/env bash
# Runs the two library examples of crates/homeserver/examples against the test Synapse,
# with Element's own library (matrix-js-sdk, tools/element/element-client.mjs) checking
# what they did:
#  1. a fresh user; `setup_recovery` does Element's "Set up recovery" and prints the
#     Security Key;
#  2. a fresh Element device with only that Security Key: cross-signing and secret
#     storage ready, the backup trusted; it sends messages and backs their keys up;
#  3. `restore_with_security_key` restores the backup with the Security Key into an
#     Element key-export file; its session count is the backup's, and Element imports the
#     file and decrypts every message with it.
# Needs Synapse (scripts/synapse.sh start) and Element's code (tools/element/setup.sh).
# Any failure exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  [ -s "${work:-/nonexistent}/node.log" ] && tail -n 40 "$work/node.log" >&2
  echo "examples.sh: FAILED: $*" >&2
  exit 1
}

# shellcheck disable=SC1091
. .synapse/env
[ -n "${MKB_HOMESERVER:-}" ] || fail "no Synapse: run scripts/synapse.sh start"
[ -f tools/element/node_modules/matrix-js-sdk/package.json ] \
  || fail "Element's code is missing: run tools/element/setup.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A fresh user (open registration on the test Synapse, as homeserver::testing does).
name="example$$x$(date +%s%N)"
password="pw-$name-long-enough"
user=$(python3 - "$MKB_HOMESERVER" "$name" "$password" <<'PY'
import json, sys, urllib.request
url, name, password = sys.argv[1:]
body = json.dumps({"username": name, "password": password, "auth": {"type": "m.login.dummy"}})
req = urllib.request.Request(url + "/_matrix/client/v3/register", body.encode(),
                             {"Content-Type": "application/json"})
print(json.load(urllib.request.urlopen(req))["user_id"])
PY
) || fail "cannot register a user"
export MATRIX_HOMESERVER=$MKB_HOMESERVER MATRIX_USER=$user MATRIX_PASSWORD=$password

# 1. Element's "Set up recovery", by the library.
cargo build -q -p megolm-backup-homeserver --examples
cargo run -q -p megolm-backup-homeserver --example setup_recovery >"$work/setup.out" \
  || fail "the setup_recovery example"
security_key=$(tail -n 1 "$work/setup.out")
[ "${#security_key}" -eq 59 ] || fail "setup_recovery printed no Security Key: $security_key"
printf '%s\n' "$security_key" >"$work/security-key.txt"
echo "examples.sh: setup_recovery set up recovery for $user" >&2

# 2. Element, with only the Security Key: ready, trusted; new messages backed up.
node tools/element/element-client.mjs recover --homeserver "$MKB_HOMESERVER" --user "$user" \
  --password "$password" --security-key-file "$work/security-key.txt" --rooms 2 --messages 2 \
  --out "$work/element.json" >>"$work/node.log" 2>&1 || fail "Element's recover"
sessions=$(node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const bad = [];
  if (r.cross_signing_ready !== true) bad.push("cross-signing not ready");
  if (r.secret_storage_ready !== true) bad.push("secret storage not ready");
  if (!r.trust || r.trust.trusted !== true) bad.push("backup not trusted");
  if (!r.trust || r.trust.matchesDecryptionKey !== true) bad.push("backup key does not match");
  if (r.active_backup !== r.backup_version) bad.push("backup not active");
  if (bad.length) { console.error(bad.join(", ")); process.exit(1); }
  const ids = new Set((r.new_sessions_in_backup || []).map((s) => s.room_id + " " + s.session_id));
  console.log(ids.size);
' "$work/element.json") || fail "Element does not trust the setup"
[ "$sessions" -ge 2 ] || fail "Element backed up $sessions sessions"
echo "examples.sh: Element trusts the backup and backed up $sessions sessions" >&2

# 3. Restore with the Security Key into an export file; Element imports it.
printf 'an export passphrase for the example\n' >"$work/export-passphrase.txt"
SECURITY_KEY=$security_key EXPORT_PASSPHRASE="an export passphrase for the example" \
  EXPORT_FILE="$work/element-keys.txt" \
  cargo run -q -p megolm-backup-homeserver --example restore_with_security_key >"$work/restore.out" \
  || fail "the restore_with_security_key example"
restored=$(sed -n 's/^restored \([0-9]*\) sessions.*/\1/p' "$work/restore.out")
[ "$restored" = "$sessions" ] || fail "restored ${restored:-no} sessions, the backup holds $sessions"
node tools/element/element-client.mjs import --homeserver "$MKB_HOMESERVER" --user "$user" \
  --password "$password" --export-file "$work/element-keys.txt" \
  --passphrase-file "$work/export-passphrase.txt" --expect "$work/element.json" \
  --out "$work/import.json" >>"$work/node.log" 2>&1 || fail "Element's import"
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const bad = r.decrypted.filter((m) => !m.ok);
  if (r.decrypted.length === 0 || bad.length) { console.error(JSON.stringify(r)); process.exit(1); }
' "$work/import.json" || fail "Element cannot decrypt with the restored keys"
echo "examples.sh: restore_with_security_key restored $restored sessions; Element decrypts every message with them" >&2
echo "examples.sh: ok"
