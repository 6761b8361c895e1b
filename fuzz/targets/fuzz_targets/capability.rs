#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pictor_fuzz::capability(data));
