//! The pages in a real browser: Debian's Chromium driven by `playwright-core` (npm), the
//! pages checked by `axe-core` (WCAG 2.2 AA). The scripts are in `tests/browser/`.
//!
//! Chromium comes from Debian (`apt-get install chromium`; `.ci/run` installs it and sets
//! `COFUND_BROWSER_TESTS=required`). Without it these tests say so and pass, unless required.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::helpers::*;

/// The browser to drive: `CHROMIUM`, else Debian's.
fn chromium() -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var("CHROMIUM").unwrap_or("/usr/bin/chromium".into()));
    if path.exists() {
        return Some(path);
    }
    let required = std::env::var("COFUND_BROWSER_TESTS").is_ok_and(|v| v == "required");
    assert!(
        !required,
        "COFUND_BROWSER_TESTS=required, but there is no Chromium at {} (apt-get install chromium)",
        path.display()
    );
    eprintln!(
        "browser tests skipped: no Chromium at {} (apt-get install chromium; CI requires them)",
        path.display()
    );
    None
}

/// `node_modules` with playwright-core and axe-core, installed once under
/// `target/browser-node` from the npm registry.
fn browser_packages() -> &'static Path {
    static MODULES: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    MODULES.get_or_init(|| {
        let prefix = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-node");
        let modules = prefix.join("node_modules");
        let wanted = ["playwright-core@1.65.2", "axe-core@4.14.1"];
        let has = |package: &str| {
            let (name, version) = package.split_once('@').unwrap();
            std::fs::read_to_string(modules.join(name).join("package.json"))
                .is_ok_and(|p| p.contains(&format!("\"version\": \"{version}\"")))
        };
        if !wanted.iter().all(|p| has(p)) {
            let installed = Command::new("npm")
                .args([
                    "install",
                    "--no-save",
                    "--no-audit",
                    "--no-fund",
                    "--prefix",
                ])
                .arg(&prefix)
                .args(wanted)
                .status();
            assert!(
                installed.is_ok_and(|s| s.success()),
                "could not install playwright-core and axe-core from npm"
            );
        }
        modules
    })
}

/// Runs a script of `tests/browser/` against `address` and asserts it passed.
async fn run_script(script: &str, args: Vec<String>) {
    let Some(chromium) = chromium() else {
        return;
    };
    let modules = browser_packages().to_owned();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/browser")
        .join(script);
    // Off the test's thread: the server answers the browser on this runtime meanwhile.
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(path)
            .args(args)
            .env("NODE_PATH", modules)
            .env("CHROMIUM", chromium)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.starts_with("browser: "),
        "{script}:\n{said}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{said}");
}

#[tokio::test]
async fn a_person_signs_in_and_out_in_chromium_and_the_pages_pass_axe() {
    let app = spawn_app().await;
    let council = app.org("Herefordshire", "local_authority", &[]).await;
    let name = "Asha Patel";
    let out = app.cofund(&[
        "member",
        "add",
        "--role",
        "commissioner",
        "--org",
        &council,
        "--email",
        "asha@herefordshire.example",
        "--name",
        name,
    ]);
    assert!(out.status.success());
    run_script("sign_in.cjs", vec![app.address.clone(), name.to_owned()]).await;
}
