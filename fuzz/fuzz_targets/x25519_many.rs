#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| megolm_backup_fuzz::x25519_many(data));
