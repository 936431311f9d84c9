//! The 1:1 health dashboard in a real browser: Debian's Chromium driven by `playwright-core`
//! (`tests/browser/dashboard.mjs`), sign-in against a real OpenID provider (`oidc-provider`), over
//! the fixtures of `tests/dashboard.rs` (ann~bob's last five 1:1s: held, held, cancelled,
//! declined, cancelled). The script checks the timeline's marks and their order, the filters,
//! phone and dark mode, and saves screenshots to `target/browser-artifacts/` (`dashboard-*.png`).
//!
//! Prerequisites: `node`, Chromium (`/usr/bin/chromium`, or `$CHROMIUM`), and `npm ci` in
//! `tests/browser`. When one is missing the test fails, saying what to install — unless
//! `ONEONONE_SKIP_BROWSER_TESTS=1` is set (never in CI), when it says loudly that it skipped.
#[path = "support/oidc.rs"]
mod oidc;

#[path = "support/dashboard.rs"]
mod fixtures;

use fixtures::*;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dashboard_in_a_real_browser() {
    if !oidc::prerequisites_or_skip(true) {
        return;
    }
    let s = start(true).await;
    let artifacts = oidc::root().join("target/browser-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let shot = artifacts.join("dashboard-manager.png");
    let _ = std::fs::remove_file(&shot);
    let script = oidc::root().join("tests/browser/dashboard.mjs");
    let public = s.public.clone();
    let dir = artifacts.clone();
    let run = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .env("PUBLIC_URL", &public)
            .env("MANAGER", "ann@x.org")
            .env("ADMIN", ADMIN)
            .env("STREAK_PAIR", ANN_BOB)
            .env("HEALTHY_PAIR", ANN_CY)
            .env("OTHER_MANAGER", "dan@x.org")
            .env("CHROMIUM", oidc::chromium())
            .env("ARTIFACTS", &dir)
            .output()
            .expect("run node tests/browser/dashboard.mjs")
    });
    let out = tokio::time::timeout(std::time::Duration::from_secs(300), run)
        .await
        .expect("the browser test finishes within 5 minutes")
        .expect("browser test task");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "the browser test failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("all dashboard checks passed"), "{stdout}");
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 10_000,
        "a screenshot of the dashboard at {}",
        shot.display()
    );
}
