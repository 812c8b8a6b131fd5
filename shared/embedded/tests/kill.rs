//! What a call accepted survives the process being killed (SIGKILL): the backend runs
//! in a child process (this test binary, running the ignored `child` test), which is
//! killed right after its calls returned.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use textbridge_app::ports::{Item, Key, SecretName};

const DIR_VAR: &str = "TEXTBRIDGE_EMBEDDED_KILL_TEST_DIR";
const MESSAGES: usize = 50;

fn secret_name() -> SecretName {
    SecretName::from_parts(&["t1", "textus", "system", "-"]).expect("name")
}

/// The child: writes, reports, then waits to be killed.
#[tokio::test]
#[ignore = "run by survives_sigkill in a child process"]
async fn child() {
    let Ok(dir) = std::env::var(DIR_VAR) else { return };
    let backend = textbridge_embedded::open(std::path::Path::new(&dir)).await.expect("open").backend();
    for i in 0..MESSAGES {
        backend.queue.send(&format!("m{i}")).await.expect("send");
    }
    backend.store.put(&Item::new(Key::new("T#1", "X")).with("n", 1), None).await.expect("put");
    backend.secrets.create(&secret_name(), &SecretString::from("kept".to_owned())).await.expect("create");
    println!("READY");
    loop {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
}

#[tokio::test]
async fn survives_sigkill() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(std::env::current_exe().expect("current exe"))
        .args(["--exact", "child", "--ignored", "--nocapture", "--test-threads=1"])
        .env(DIR_VAR, tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("stdout");
    let ready = BufReader::new(stdout).lines().map_while(Result::ok).any(|line| line.contains("READY"));
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");
    assert!(ready, "the child did not finish its writes");

    let backend = textbridge_embedded::open(tmp.path()).await.expect("reopen").backend();
    assert_eq!(backend.queue.depth().await.expect("depth").visible, MESSAGES as u64);
    let item = backend.store.get(&Key::new("T#1", "X")).await.expect("get");
    assert_eq!(item.and_then(|i| i.int("n")), Some(1));
    assert_eq!(backend.secrets.get(&secret_name()).await.expect("get").expose_secret(), "kept");
}
