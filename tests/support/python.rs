//! The Python side of the integration tests: real servers and reference validators (aiosmtpd,
//! Slack's SDK, the Adaptive Card schema via jsonschema, the Prometheus parser) from
//! `tests/tools/`, run in a virtualenv under the target directory that the first test to need it
//! creates from `tests/tools/requirements.txt` (needs `python3` with `venv`; on Debian
//! `apt-get install python3-venv`). Each server prints `ready`, then one JSON line per event.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A script in `tests/tools`.
pub fn tool(name: &str) -> PathBuf {
    root().join("tests/tools").join(name)
}

/// A file in `tests/oracles`.
pub fn oracle(name: &str) -> PathBuf {
    root().join("tests/oracles").join(name)
}

/// The virtualenv's interpreter, made (once, under a file lock) if missing or out of date.
pub fn python() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-python");
    let bin = venv.join("bin/python");
    let requirements = std::fs::read_to_string(tool("requirements.txt")).expect("requirements");
    let stamp = venv.join("requirements.stamp");
    std::fs::create_dir_all(&venv).expect("venv dir");
    let lock = std::fs::File::create(venv.with_extension("lock")).expect("venv lock");
    lock.lock().expect("lock the venv");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(requirements.as_str()) {
        run(
            Command::new("python3")
                .args(["-m", "venv", "--clear"])
                .arg(&venv),
            "python3 -m venv (the integration tests need python3 with venv: on Debian, apt-get install python3-venv)",
        );
        run(
            Command::new(&bin)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "-r",
                ])
                .arg(tool("requirements.txt")),
            "pip install -r tests/tools/requirements.txt (needs access to PyPI)",
        );
        std::fs::write(&stamp, &requirements).expect("stamp");
    }
    bin
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Run a tool script with `stdin` and return its stdout (panics when it fails).
pub fn run_tool(script: &str, args: &[&str], stdin: &str) -> String {
    let mut child = Command::new(python())
        .arg(tool(script))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python tool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("python tool");
    assert!(
        out.status.success(),
        "{script} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A server script running in the background; killed when dropped.
pub struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Server {
    /// Start `script` with `args` and wait for its `ready` line.
    pub fn start(script: &str, args: &[&str]) -> Server {
        let mut child = Command::new(python())
            .arg(tool(script))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn python server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let server = Server { child, lines };
        match server.lines.recv_timeout(Duration::from_secs(60)) {
            Ok(l) if l == "ready" => server,
            other => panic!("{script} did not start: {other:?}"),
        }
    }

    /// Every JSON line that arrived within `wait` (returns early once `want` lines are in).
    pub fn records(&self, want: usize, wait: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + wait;
        let mut out = Vec::new();
        while out.len() < want {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    out.push(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")))
                }
                Err(_) => break,
            }
        }
        out
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}
