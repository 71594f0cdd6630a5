#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| basins_fuzz_targets::include_graph(data));
