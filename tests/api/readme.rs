//! The README's curl flows, run word for word: every `sh` block of its "Using it with curl" section, in
//! order, in one bash session against a real server whose administrator is the quick start's
//! (`admin` / `change-me`). A block followed by a `json` or `text` block must print that answer, up to
//! what differs between runs (identifiers, times, curl's version, float timestamps).
//! So the README cannot drift from what the service does.

use serde_json::Value;
use std::process::Stdio;

use crate::both_stores;
use crate::common::{self, Store};

const README: &str = include_str!("../../README.md");
const SECTION: &str = "## Using it with curl";
const END_OF_BLOCK: &str = "@@ end of README block @@";

both_stores!(curl_flows_run_as_written);

async fn curl_flows_run_as_written(store: Store) {
    let blocks = flow_blocks();
    assert!(blocks.len() >= 5, "the curl section lost its flows");
    let srv = common::start_with(store, |config| {
        config.bootstrap_password = Some("change-me".into());
    })
    .await;

    let mut script = String::from("set -eu -o pipefail\n");
    for block in &blocks {
        // The README talks to the default address; the test server listens on a free port.
        script.push_str(
            &block
                .script
                .replace("127.0.0.1:9497", &srv.addr.to_string()),
        );
        script.push_str(&format!("\necho '{END_OF_BLOCK}'\n"));
    }
    let dir = tempfile::tempdir().unwrap();
    let workdir = dir.path().to_path_buf();
    // coreutils' timeout: a block that hangs fails the test instead of holding it.
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new("timeout")
            .args(["60", "bash", "-c", &script])
            .current_dir(workdir)
            .stdin(Stdio::null())
            .output()
    });
    let output = run
        .await
        .unwrap()
        .expect("bash, curl and jq must be installed (apt-get install curl jq)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let printed: Vec<&str> = stdout.split(&format!("{END_OF_BLOCK}\n")).collect();
    assert!(
        output.status.success() && printed.len() == blocks.len() + 1,
        "README block {} failed ({}); stderr:\n{stderr}\nstdout:\n{stdout}",
        printed.len(),
        output.status
    );
    for (index, (block, printed)) in blocks.iter().zip(&printed).enumerate() {
        let Some(expected) = &block.answer else {
            continue;
        };
        let context = format!("README block {} ({store:?}):\n{}", index + 1, block.script);
        match expected.language.as_str() {
            "json" => {
                let actual: Value = serde_json::from_str(printed)
                    .unwrap_or_else(|e| panic!("{context}\nprinted no JSON ({e}):\n{printed}"));
                let shown: Value = serde_json::from_str(&expected.text)
                    .unwrap_or_else(|e| panic!("{context}\nshows no JSON ({e})"));
                assert_same(&shown, &actual, &format!("{context}\nprinted:\n{printed}"));
            }
            "text" => {
                let actual: Vec<&str> = printed.lines().collect();
                let shown: Vec<&str> = expected.text.lines().collect();
                assert_eq!(shown.len(), actual.len(), "{context}\nprinted:\n{printed}");
                for (shown, actual) in shown.iter().zip(&actual) {
                    match (
                        serde_json::from_str::<Value>(shown),
                        serde_json::from_str::<Value>(actual),
                    ) {
                        (Ok(shown), Ok(actual)) => assert_same(&shown, &actual, &context),
                        _ => assert_eq!(shown.trim(), actual.trim(), "{context}"),
                    }
                }
            }
            other => panic!("{context}\nan answer block must be json or text, not {other}"),
        }
    }
}

struct Block {
    script: String,
    answer: Option<Answer>,
}

struct Answer {
    language: String,
    text: String,
}

/// The fenced blocks of the curl section: each `sh` block with the answer block right after it.
fn flow_blocks() -> Vec<Block> {
    let start = README.find(SECTION).expect("README has a curl section");
    let section = &README[start + SECTION.len()..];
    let section = section.find("\n## ").map_or(section, |end| &section[..end]);
    let mut fences: Vec<(String, String)> = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        let Some(language) = line.strip_prefix("```") else {
            continue;
        };
        let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        fences.push((language.to_string(), body.join("\n")));
    }
    let mut blocks: Vec<Block> = Vec::new();
    let mut last_was_sh = false;
    for (language, text) in fences {
        if language == "sh" {
            blocks.push(Block {
                script: text,
                answer: None,
            });
            last_was_sh = true;
        } else {
            let block = blocks.last_mut().filter(|_| last_was_sh);
            let block = block.expect("an answer block follows an sh block");
            block.answer = Some(Answer { language, text });
            last_was_sh = false;
        }
    }
    blocks
}

/// `actual` has the shape and the values `shown` shows, up to what differs between runs.
fn assert_same(shown: &Value, actual: &Value, context: &str) {
    match (shown, actual) {
        (Value::Object(shown), Value::Object(actual)) => {
            let shown_keys: Vec<&String> = shown.keys().collect();
            let actual_keys: Vec<&String> = actual.keys().collect();
            assert_eq!(shown_keys, actual_keys, "{context}");
            for (key, value) in shown {
                assert_same(value, &actual[key], &format!("{context}\nat {key}"));
            }
        }
        (Value::Array(shown), Value::Array(actual)) => {
            assert_eq!(shown.len(), actual.len(), "{context}");
            for (shown, actual) in shown.iter().zip(actual) {
                assert_same(shown, actual, context);
            }
        }
        (Value::String(shown), Value::String(actual)) => {
            assert_eq!(varying(shown), varying(actual), "{context}");
        }
        // Float timestamps differ from run to run; counts and statuses do not.
        (Value::Number(shown), Value::Number(actual)) if shown.is_f64() => {
            assert!(actual.is_f64(), "{context}: {actual} is not a float");
        }
        _ => assert_eq!(shown, actual, "{context}"),
    }
}

/// `text` with what varies between runs replaced by a placeholder: UUIDs, ISO 8601 times, curl's version.
fn varying(text: &str) -> String {
    if common::is_uuid_text(text) {
        return "<uuid>".into();
    }
    if chrono::DateTime::parse_from_rfc3339(text).is_ok()
        || chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
    {
        return "<time>".into();
    }
    if text.starts_with("curl/") {
        return "curl/<version>".into();
    }
    text.to_string()
}
