//! A real headless Chromium driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`): a chromedriver child process on a free loopback port, one
//! browser session on it, screenshots saved into the target directory.

use std::{
    net::TcpListener,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use serde_json::{Value, json};

/// Where chromedriver and Chromium are looked for, in order.
const DRIVERS: [&str; 2] = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"];
const BROWSERS: [&str; 2] = ["/usr/bin/chromium", "/usr/lib/chromium/chromium"];

/// A browser session, its chromedriver killed on drop.
pub struct Browser {
    driver: Child,
    /// The WebDriver client.
    pub client: Client,
    shots: PathBuf,
}

impl Drop for Browser {
    /// Kills chromedriver's whole process group: the Chromium processes it started
    /// would otherwise outlive the test.
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn first_existing(paths: &[&str]) -> Option<PathBuf> {
    paths.iter().map(PathBuf::from).find(|p| p.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium at 1280×800. Without them: under
    /// `CI=true` the test fails; otherwise it is skipped with the reason printed
    /// (`None`).
    pub async fn start() -> Option<Browser> {
        let (Some(driver), Some(chromium)) = (first_existing(&DRIVERS), first_existing(&BROWSERS)) else {
            let why = "Chromium or chromedriver is not installed (apt-get install chromium chromium-driver; \
                       scripts/test.sh installs them)";
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
            eprintln!("skipped: {why}");
            return None;
        };
        let port = free_port();
        let mut child = Command::new(driver)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
        let caps = json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,800", "--lang=en-US", "--no-first-run", "--disable-extensions"],
            }
        });
        let caps = match caps {
            Value::Object(map) => map,
            _ => unreachable!("an object"),
        };
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..300 {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    let shots = Path::new(crate::common::BIN).parent().expect("target dir").join("console-screenshots");
                    std::fs::create_dir_all(&shots).expect("screenshot dir");
                    return Some(Browser { driver: child, client, shots });
                }
                Err(e) => last = Some(e.to_string()),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).status();
        let _ = child.kill();
        panic!("chromedriver did not start a session: {last:?}");
    }

    /// Saves a screenshot of the window as `{name}.png` in the target directory.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        eprintln!("screenshot: {}", path.display());
    }

    /// Waits (up to 30 s, a loaded machine's margin) for an element matching the CSS selector.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css:?}: {e}"))
    }

    /// The element whose label has exactly `label` (within the CSS scope `within`).
    pub async fn labelled(&self, within: &str, label: &str) -> Element {
        let xpath = format!(
            "//{}//label[normalize-space(.)={label:?}]",
            if within.is_empty() { "body".to_owned() } else { within.to_owned() }
        );
        let label = self
            .client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no label {xpath}: {e}"));
        let id = label.attr("for").await.expect("for").expect("label for");
        self.client.find(Locator::Id(&id)).await.expect("the labelled control")
    }

    /// Types `text` into the control labelled `label` (after clearing it).
    pub async fn type_into(&self, within: &str, label: &str, text: &str) {
        let input = self.labelled(within, label).await;
        input.clear().await.expect("clear");
        input.send_keys(text).await.expect("type");
    }

    /// Waits (up to 30 s) until the text of the page's `main` contains `text`;
    /// returns that text.
    pub async fn wait_for_text(&self, text: &str) -> String {
        let mut seen = String::new();
        for _ in 0..300 {
            seen = self.text("main").await;
            if seen.contains(text) {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{text:?} never appeared; the page shows:\n{seen}");
    }

    /// The visible text of the first element matching `css` (empty when none).
    pub async fn text(&self, css: &str) -> String {
        match self.client.find(Locator::Css(css)).await {
            Ok(el) => el.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Runs a script in the page; returns its value.
    pub async fn eval(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.expect("script")
    }

    /// Opens a page of the console by its hash (`#/users`) and waits for its heading.
    pub async fn open(&self, base: &str, hash: &str, heading: &str) {
        self.client.goto(&format!("{base}/{hash}")).await.expect("goto");
        self.wait_for_heading(heading).await;
    }

    /// Waits until the page's `h1` reads `heading`.
    pub async fn wait_for_heading(&self, heading: &str) {
        for _ in 0..300 {
            if self.text("main h1").await == heading {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("heading {heading:?} never appeared; main shows:\n{}", self.text("main").await);
    }
}
