//! A real OpenID provider for the web tests (`oidc-provider`, run by
//! `tests/browser/oidc-server.mjs`), the prerequisites of the tests that need Node and Chromium
//! (with the rule: missing ones fail the test, unless `ONEONONE_SKIP_BROWSER_TESTS=1` outside CI),
//! and a sign-in over plain HTTP (no browser): the provider's login and consent forms submitted
//! with a small cookie jar, ending with the agenda server's session cookie.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const CLIENT_ID: &str = "oneonone-test";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// What is missing to run a test that needs Node and the packages (and Chromium, if `browser`).
pub fn missing_prerequisites(browser: bool) -> Vec<String> {
    let mut missing = Vec::new();
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node_ok {
        missing.push("node (Node.js 20.19 or newer) is not on PATH".to_string());
    }
    if browser && !chromium().exists() {
        missing.push(format!(
            "Chromium is not at {} (apt-get install chromium, or set CHROMIUM)",
            chromium().display()
        ));
    }
    let modules = root().join("tests/browser/node_modules");
    let packages: &[&str] = if browser {
        &["playwright-core", "oidc-provider"]
    } else {
        &["oidc-provider"]
    };
    for package in packages {
        if !modules.join(package).exists() {
            missing.push(format!(
                "{package} is not installed (run `npm ci` in tests/browser)"
            ));
        }
    }
    missing
}

/// `true` when the test may run; `false` when it is to be skipped (said loudly). Panics, saying
/// what to install, when something is missing and skipping is not allowed (never in CI).
pub fn prerequisites_or_skip(browser: bool) -> bool {
    let missing = missing_prerequisites(browser);
    if missing.is_empty() {
        return true;
    }
    let skip = std::env::var("ONEONONE_SKIP_BROWSER_TESTS").is_ok_and(|v| v == "1");
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
    if skip && !ci {
        eprintln!(
            "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
             SKIPPED (ONEONONE_SKIP_BROWSER_TESTS=1): {}\n\
             !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n",
            missing.join("; ")
        );
        return false;
    }
    panic!(
        "this test cannot run: {}. Install them (see .ci/run), or locally set \
         ONEONONE_SKIP_BROWSER_TESTS=1 to skip",
        missing.join("; ")
    );
}

/// A child process that is killed when dropped.
pub struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start the OpenID provider; its issuer URL (from its first line on stdout).
pub fn start_oidc(dir: &Path, redirect_uri: &str, secret: &str) -> (Child, String) {
    let mut child = Command::new("node")
        .arg(root().join("tests/browser/oidc-server.mjs"))
        .env("OIDC_CLIENT_ID", CLIENT_ID)
        .env("OIDC_CLIENT_SECRET", secret)
        .env("OIDC_REDIRECT_URI", redirect_uri)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the OpenID provider (node tests/browser/oidc-server.mjs)");
    let stdout = child.stdout.take().expect("provider stdout");
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .expect("read the provider's first line");
    // Keep reading, so the provider never writes into a closed pipe.
    std::thread::spawn(move || {
        for l in reader.lines().map_while(Result::ok) {
            eprintln!("oidc-provider: {l}");
        }
    });
    let issuer = line
        .trim()
        .strip_prefix("issuer ")
        .unwrap_or_else(|| panic!("the provider said {line:?}, not its issuer"))
        .to_string();
    (Child(child), issuer)
}

/// Cookies by name (the flow's cookies do not clash across the two loopback servers).
#[derive(Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn take(&mut self, res: &reqwest::Response) {
        for v in res.headers().get_all(reqwest::header::SET_COOKIE) {
            let Some((pair, attrs)) = v
                .to_str()
                .ok()
                .map(|s| s.split_once(';').unwrap_or((s, "")))
            else {
                continue;
            };
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let gone = value.is_empty() || attrs.to_ascii_lowercase().contains("max-age=0");
            if gone {
                self.0.remove(name.trim());
            } else {
                self.0
                    .insert(name.trim().to_string(), value.trim().to_string());
            }
        }
    }

    fn header(&self) -> String {
        let parts: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        parts.join("; ")
    }
}

/// The `action` of the first form in an HTML page.
fn form_action(html: &str) -> Option<String> {
    let at = html.find("<form")?;
    let rest = &html[at..];
    let start = rest.find("action=\"")? + "action=\"".len();
    let end = rest[start..].find('"')?;
    Some(rest[start..start + end].replace("&amp;", "&"))
}

/// Sign in to the agenda server at `public_url` as `email` through the provider's login and
/// consent forms; the `Cookie` header value of the resulting session (`oneonone_session=…`).
pub async fn sign_in(public_url: &str, email: &str) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut jar = Jar::default();
    let mut url = reqwest::Url::parse(&format!("{public_url}/signin?next=%2Fdashboard"))
        .expect("sign-in URL");
    let mut form: Option<Vec<(&str, String)>> = None;
    for _ in 0..20 {
        let req = match form.take() {
            Some(f) => client.post(url.clone()).form(&f),
            None => client.get(url.clone()),
        };
        let res = req
            .header(reqwest::header::COOKIE, jar.header())
            .send()
            .await
            .expect("sign-in request");
        jar.take(&res);
        if let Some(session) = jar.0.get("oneonone_session") {
            return format!("oneonone_session={session}");
        }
        let location = res
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let status = res.status();
        if let Some(loc) = location {
            url = url.join(&loc).expect("redirect URL");
            continue;
        }
        let body = res.text().await.expect("body");
        let action = form_action(&body)
            .unwrap_or_else(|| panic!("sign-in stuck at {url} ({status}):\n{body}"));
        form = Some(if body.contains("name=\"login\"") {
            vec![
                ("prompt", "login".to_string()),
                ("login", email.to_string()),
                ("password", "not checked".to_string()),
            ]
        } else {
            vec![("prompt", "consent".to_string())]
        });
        url = url.join(&action).expect("form action URL");
    }
    panic!("sign-in as {email} did not finish within 20 steps");
}
