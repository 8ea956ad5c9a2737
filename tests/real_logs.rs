//! Issue 12: real public training logs read as their trainers wrote them. Each case in
//! fixtures/real/ has its expectations in `cases/<case>.expected.json` (loss points, final loss
//! and step, the facts the files state), so adding a case is adding files. The cases losscmp cannot read
//! right yet are listed in fixtures/real/known_gaps.txt with why; this test fails when a case
//! that reads right regresses, and when a listed gap starts reading right (so the list shrinks
//! as the readers grow).

mod common;

use std::path::Path;

use serde_json::Value;

/// Why a case does not read as expected, or `None` when it does.
fn check(dir: &Path, exp: &Value) -> Option<String> {
    let rel = dir
        .strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(dir)
        .to_string_lossy()
        .into_owned();
    let out = common::losscmp()
        .args([rel.as_str(), "--json", "-"])
        .output()
        .expect("runs");
    let want_points = exp["loss_points"].as_u64().unwrap_or(0);
    if out.status.code() == Some(2) {
        // A run with nothing to read is refused, as it should be.
        return (want_points > 0).then(|| {
            let err = String::from_utf8_lossy(&out.stderr);
            format!("refused: {}", err.lines().last().unwrap_or(""))
        });
    }
    let doc: Value = serde_json::from_slice(&out.stdout).ok()?;
    let run = &doc["runs"][0];
    let loss = &run["metrics"]["loss"];
    let mut why = Vec::new();
    let points = loss["points"].as_u64().unwrap_or(0);
    if points != want_points {
        why.push(format!("{points} loss points, expected {want_points}"));
    }
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1.0);
    if let Some(v) = exp["final_loss"]["value"].as_f64() {
        if !loss["final"].as_f64().is_some_and(|f| close(f, v)) {
            why.push(format!("final loss {}, expected {v}", loss["final"]));
        }
    }
    if let Some(s) = exp["final_loss"]["step"].as_f64() {
        if !loss["final_step"].as_f64().is_some_and(|f| close(f, s)) {
            why.push(format!("final step {}, expected {s}", loss["final_step"]));
        }
    }
    for (key, want) in exp["facts"].as_object().into_iter().flatten() {
        let got = run["config"][key]["value"].as_f64();
        if let Some(w) = want.as_f64() {
            if !got.is_some_and(|g| close(g, w)) {
                why.push(format!("{key} {got:?}, expected {w}"));
            }
        }
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// One test per case directory (libtest-mimic: the cases are found at run time, so adding a
/// case is adding files), plus one that checks known_gaps.txt names only cases that exist.
fn main() -> std::process::ExitCode {
    let args = libtest_mimic::Arguments::from_args();
    let root = common::fixture("real");
    let gaps_text = std::fs::read_to_string(root.join("known_gaps.txt")).expect("known_gaps.txt");
    let gaps: Vec<String> = gaps_text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
        .collect();
    // Each case's run directory holds the run's files only (what a user would point losscmp
    // at); its expectations and provenance are kept apart, in cases/<case>.expected.json.
    let mut names: Vec<String> = std::fs::read_dir(root.join("cases"))
        .expect("fixtures/real/cases")
        .filter_map(|e| {
            let name = e.expect("entry").file_name().to_string_lossy().into_owned();
            name.strip_suffix(".expected.json").map(str::to_string)
        })
        .collect();
    names.sort();
    let cases: Vec<_> = names.iter().map(|n| root.join(n)).collect();
    let mut tests = Vec::new();
    {
        let (gaps, names) = (gaps.clone(), names.clone());
        tests.push(libtest_mimic::Trial::test(
            "at_least_20_cases_and_the_gap_list_names_real_ones",
            move || {
                if names.len() < 20 {
                    return Err(
                        format!("{} cases; the issue asks for at least 20", names.len()).into(),
                    );
                }
                let unknown: Vec<&String> = gaps.iter().filter(|g| !names.contains(g)).collect();
                if unknown.is_empty() {
                    Ok(())
                } else {
                    Err(format!("known_gaps.txt names cases that do not exist: {unknown:?}").into())
                }
            },
        ));
    }
    for (dir, name) in cases.into_iter().zip(names) {
        let listed = gaps.contains(&name);
        let expected = root.join("cases").join(format!("{name}.expected.json"));
        tests.push(libtest_mimic::Trial::test(name.clone(), move || {
            let exp: Value = serde_json::from_str(
                &std::fs::read_to_string(&expected).map_err(|e| e.to_string())?,
            )
            .map_err(|e| format!("{}: {e}", expected.display()))?;
            match (check(&dir, &exp), listed) {
                (None, false) | (Some(_), true) => Ok(()),
                (None, true) => {
                    Err(format!("{name} now reads right: remove it from known_gaps.txt").into())
                }
                (Some(why), false) => Err(why.into()),
            }
        }));
    }
    libtest_mimic::run(&args, tests).exit_code()
}
