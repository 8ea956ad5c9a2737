//! The report in a real browser: headless Chromium renders `--out report.html` to a PNG
//! screenshot; the charts must be drawn (both runs' colours present in quantity) and the page
//! must log no console or network error. CI installs Debian's chromium and sets
//! `LOSSCMP_REQUIRE_BROWSER=1`, so there a missing browser fails the test instead of skipping it.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::losscmp;

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

#[test]
fn the_report_renders_with_charts_and_without_errors() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("LOSSCMP_REQUIRE_BROWSER").is_none(),
            "LOSSCMP_REQUIRE_BROWSER is set but chromium is not installed"
        );
        eprintln!("skipped: chromium is not installed (apt-get install chromium)");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let html = dir.path().join("report.html");
    let shot = dir.path().join("shot.png");
    losscmp()
        .args(["fixtures/lf_1gpu_ga8", "fixtures/lf_8proc_ga8", "--out"])
        .arg(&html)
        .assert()
        .success();
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1320,2600",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("chromium runs");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(shot.exists(), "no screenshot; chromium said:\n{log}");
    for bad in ["CONSOLE", "net::ERR", "Uncaught"] {
        assert!(!log.contains(bad), "the page logged {bad}:\n{log}");
    }
    let img = image::open(&shot).expect("a PNG screenshot").to_rgb8();
    // Below the verdict and table: the chart grid.
    let charts_from = img.height() / 3;
    let count = |rgb: [u8; 3]| {
        img.enumerate_pixels()
            .filter(|(_, y, p)| *y >= charts_from && p.0 == rgb)
            .count()
    };
    let (blue, red) = (count([31, 119, 180]), count([214, 39, 40]));
    assert!(
        blue > 1000 && red > 1000,
        "charts drawn in both run colours: {blue} blue, {red} red pixels"
    );
    let blank = img
        .enumerate_pixels()
        .filter(|(_, y, p)| *y >= charts_from && p.0 == [255, 255, 255])
        .count();
    let area = (img.width() * (img.height() - charts_from)) as usize;
    assert!(
        blank < area * 97 / 100,
        "the chart area is not blank: {blank} of {area} pixels white"
    );
}
