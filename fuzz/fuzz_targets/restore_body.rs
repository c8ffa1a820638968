#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| megolm_backup_fuzz::restore_body(data));
