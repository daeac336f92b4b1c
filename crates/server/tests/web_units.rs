//! The unit tests of the pages' stores (`web/moderator-store.js`, `web/supervisor-store.js`):
//! `node --test` on `tests/web/`, so that `cargo test --workspace` runs them. They need
//! Node.js 20+ and no npm package; a failure shows node's own report.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn store_unit_tests_pass_under_node() {
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("web");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&directory)
        .expect("tests/web is readable")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.to_string_lossy().ends_with(".test.mjs"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "the store tests are missing from {}", directory.display());
    let output = Command::new("node")
        .arg("--test")
        .arg("--test-reporter=spec")
        .args(&files)
        .current_dir(&directory)
        .output()
        .unwrap_or_else(|error| panic!("cannot run `node` (install Node.js 20+): {error}"));
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "node --test failed:\n{report}");
}
