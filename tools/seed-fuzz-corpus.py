#!/usr/bin/env python3
"""Seeds fuzz/corpus/<target>/ from test-vectors/ (files named by content hash).

The seeds are the real inputs of the known-answer vectors, so each fuzzer starts from
data that reaches deep into its parser. Run from the repository root; re-running adds
nothing twice.
"""
import glob, hashlib, json, os

def add(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join("fuzz", "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)

for path in sorted(glob.glob("test-vectors/*.json")):
    text = open(path).read()
    doc = json.loads(text)
    small = dict(doc, cases=[c for c in doc["cases"] if len(json.dumps(c)) < 4000][:6])
    add("vector_file", json.dumps(small))
    for c in doc["cases"]:
        i = c.get("input", {})
        k = c["kind"]
        if k == "recovery_key.decode":
            add("recovery_key_decode", i["recovery_key"])
        if k == "passphrase.derive":
            add("passphrase_info_json", json.dumps({"algorithm": "m.pbkdf2", "salt": i.get("salt", ""), "iterations": min(i["iterations"], 50), "bits": i.get("bits", 256)}))
        if k == "ssss.key_check":
            add("key_description_json", json.dumps(i["key_description_json"]))
        if k == "ssss.decrypt":
            e = i["encrypted"]
            add("ssss_secret", i["secret_name"] + "\0" + e["iv"] + "\0" + e["ciphertext"] + "\0" + e["mac"])
        if k == "backup.decrypt":
            add("backup_decrypt", b"\x02" + json.dumps(i["session_data"]).encode())
        if k == "backup.restore":
            add("restore_body", json.dumps(i["backup_json"]))
        if k == "key_export.decrypt":
            add("key_export_decrypt", i["armored"])
add("passphrase_info_json", json.dumps({"public_key": "x", "private_key_salt": "s", "private_key_iterations": 3}))
add("restore_body", '{"rooms": {"!a:b": {"sessions": {"s": {"session_data": {"ephemeral": "", "ciphertext": "", "mac": ""}}}}}}')
add("backup_decrypt_differential", bytes(range(256)))
add("backup_decrypt_differential", b"\x00" * 40 + b"{}" * 40)
