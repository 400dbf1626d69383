//! Any bytes as a manifest: parsing and planning return, never panic.
#![no_main]

use jobrun::plan::{PlanOptions, build};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Manifests are read as UTF-8 (bad bytes are an error before parsing).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // An empty folder of its own, so relative globs and `lines` files stay small.
    let dir = std::env::temp_dir().join("jobrun-fuzz");
    let _ = std::fs::create_dir_all(&dir);
    let Ok(loaded) = jobrun::manifest::parse(dir.join("fuzz.toml"), text.to_owned()) else {
        return;
    };
    let Ok(plan) = build(&loaded, &PlanOptions::default()) else {
        return;
    };
    for i in 0..plan.units.len().min(50) {
        let _ = plan.argv(i, Some(jobrun::plan::Start { worker: 1, held: &[] }));
        let _ = plan.dir(i);
        let _ = plan.env(i, None);
    }
});
