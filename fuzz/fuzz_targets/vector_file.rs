#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| megolm_backup_fuzz::vector_file(data));
