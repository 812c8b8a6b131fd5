//! Starts a moto server for the AWS backend tests.
//!
//! One server per test process, started on first use on a free loopback port. The
//! server runs under a small Python wrapper that exits as soon as its standard input
//! closes; the test process holds the write end for its whole life, so the kernel
//! closes it — and the server exits — however the test process ends, crashes
//! included.
//!
//! The wrapper also makes each DynamoDB request atomic (one lock around moto's
//! DynamoDB calls, as DynamoDB applies each), and has a transaction back up only the
//! items it names rather than deep-copy whole tables (the same roll-back, at a cost
//! that no longer grows with the table).
//!
//! The server is found as `moto_server` on `PATH`, or at the path in `MOTO_SERVER`.
//! Each [`backend`] gets its own table, queue pair and secrets prefix on it, so tests
//! can run in parallel.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use textbridge_app::Backend;
use textbridge_aws::aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use textbridge_aws::aws_config::{self, BehaviorVersion, Region, SdkConfig};
use textbridge_aws::aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};
use textbridge_aws::{AwsConfig, aws_sdk_dynamodb, aws_sdk_sqs, schema};

/// How long the server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// The region every test resource lives in.
const REGION: &str = "us-east-1";
/// Lines of the server's output kept for error messages.
const LOG_LINES: usize = 40;

/// Runs moto's server and exits the moment standard input reaches end of file.
const WRAPPER: &str = r#"
import os, sys, threading
def _watch_stdin():
    try:
        sys.stdin.buffer.read()
    finally:
        os._exit(0)
threading.Thread(target=_watch_stdin, daemon=True).start()
import copy, functools
import moto.dynamodb.models as _models
from moto.dynamodb.models import DynamoDBBackend, DynamoType, Table
# moto backs up every table a transaction names by deep-copying the whole table, so
# a transaction's cost grows with its table (three quarters of this server's time in
# the tests that import hundreds of users). A transaction writes only the items it
# names: those are backed up instead, and put back when it is cancelled, as moto's
# own roll-back would. A request whose keys cannot be read takes moto's path.
class _TablesAsThemselves:
    @staticmethod
    def deepcopy(x, memo=None):
        return x if isinstance(x, Table) else copy.deepcopy(x, memo)
_transact_whole_tables = DynamoDBBackend.transact_write_items
def _named_items(backend, transact_items):
    named = []
    for entry in transact_items:
        op = next(iter(entry.values()))
        table = backend.tables[op["TableName"]]
        key = op["Item"] if "Item" in op else op["Key"]
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        named.append((table, hash_value, range_value, copy.deepcopy(table.get_item(hash_value, range_value))))
    return named
def _put_back(table, hash_value, range_value, item):
    if range_value is None:
        rows, key = table.items, hash_value
    elif item is None:
        rows, key = table.items.get(hash_value, {}), range_value
    else:
        rows, key = table.items[hash_value], range_value
    if item is None:
        rows.pop(key, None)
    else:
        rows[key] = item
def _transact_write_items(self, transact_items):
    try:
        named = _named_items(self, transact_items)
    except Exception:
        return _transact_whole_tables(self, transact_items)
    _models.copy = _TablesAsThemselves
    try:
        return _transact_whole_tables(self, transact_items)
    except BaseException:
        for table, hash_value, range_value, item in reversed(named):
            _put_back(table, hash_value, range_value, item)
        raise
    finally:
        _models.copy = copy
DynamoDBBackend.transact_write_items = _transact_write_items
# DynamoDB applies each request (a conditional write, a transaction) atomically;
# moto's threaded server would interleave two requests' condition checks and
# writes. One lock around every DynamoDB backend call gives the real semantics.
_lock = threading.RLock()
def _atomic(f):
    @functools.wraps(f)
    def call(*args, **kwargs):
        with _lock:
            return f(*args, **kwargs)
    return call
for _name, _f in list(vars(DynamoDBBackend).items()):
    if callable(_f) and not _name.startswith("_"):
        setattr(DynamoDBBackend, _name, _atomic(_f))
from moto.server import main
main(["-H", "127.0.0.1", "-p", sys.argv[1]])
"#;

/// The running server. Never dropped: it lives as long as the test process.
struct Server {
    endpoint: String,
    /// The write end of the server's standard input; closing it stops the server.
    _stdin: ChildStdin,
    _child: Child,
}

static SERVER: OnceLock<Server> = OnceLock::new();

fn install_hint() -> &'static str {
    "moto is needed for the AWS backend tests: run the test command from the README \
     (scripts/test.sh), which installs it, or set MOTO_SERVER to the full path of moto_server"
}

/// `moto_server`: from `MOTO_SERVER`, else the first on `PATH`.
fn find_moto_server() -> PathBuf {
    if let Some(path) = std::env::var_os("MOTO_SERVER").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "MOTO_SERVER={} is not a file; {}", path.display(), install_hint());
        return path;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("moto_server"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("moto_server was not found on PATH; {}", install_hint()))
}

/// The Python that runs `moto_server`: the one next to it (a virtualenv's `bin`), else
/// the interpreter named on its `#!` line.
fn python_for(moto_server: &Path) -> PathBuf {
    if let Some(dir) = moto_server.parent() {
        for name in ["python3", "python"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    let script = std::fs::read_to_string(moto_server).unwrap_or_default();
    let shebang = script.lines().next().and_then(|l| l.strip_prefix("#!")).map(str::trim).unwrap_or_default();
    let mut words = shebang.split_whitespace();
    match (words.next(), words.next()) {
        (Some(env), Some(interpreter)) if env.ends_with("/env") => PathBuf::from(interpreter),
        (Some(interpreter), _) => PathBuf::from(interpreter),
        _ => PathBuf::from("python3"),
    }
}

fn free_port() -> u16 {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap_or_else(|e| panic!("no free loopback port for moto: {e}"));
    listener.local_addr().unwrap_or_else(|e| panic!("no free loopback port for moto: {e}")).port()
}

/// Keeps the last lines of a stream of the server's output.
fn collect_output(stream: impl std::io::Read + Send + 'static, log: Arc<Mutex<VecDeque<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Ok(mut log) = log.lock() {
                if log.len() == LOG_LINES {
                    log.pop_front();
                }
                log.push_back(line);
            }
        }
    });
}

fn start() -> Server {
    let moto_server = find_moto_server();
    let python = python_for(&moto_server);
    let port = free_port();
    let mut child = Command::new(&python)
        .arg("-c")
        .arg(WRAPPER)
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start moto with {}: {e}; {}", python.display(), install_hint()));
    let log = Arc::new(Mutex::new(VecDeque::new()));
    if let Some(out) = child.stdout.take() {
        collect_output(out, log.clone());
    }
    if let Some(err) = child.stderr.take() {
        collect_output(err, log.clone());
    }
    let output = || log.lock().map(|l| Vec::from(l.clone()).join("\n")).unwrap_or_default();
    let Some(stdin) = child.stdin.take() else { panic!("moto's standard input is not piped") };

    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("moto ({}) exited with {status} before accepting connections:\n{}", python.display(), output());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("moto did not accept connections on {addr} within {START_TIMEOUT:?}:\n{}", output());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Server { endpoint: format!("http://{addr}"), _stdin: stdin, _child: child }
}

/// The server's URL (`http://127.0.0.1:{port}`), starting it on first use.
pub fn endpoint() -> &'static str {
    &SERVER.get_or_init(start).endpoint
}

/// How long a call to moto may go without a byte of its answer. The SDK's default
/// (20 s) is for a network that stalls; moto answers one DynamoDB call at a time (the
/// wrapper's lock), and under the full test load on 2 cores a call has waited longer
/// than that for the calls queued before it.
const STALL_GRACE: Duration = Duration::from_secs(120);

/// An SDK configuration pointed at the moto server: region `us-east-1`, dummy
/// credentials, no environment or profile settings involved in either.
pub async fn sdk_config() -> SdkConfig {
    sdk_config_signed_by(Credentials::new("testing", "testing", None, None, "moto")).await
}

/// [`sdk_config`], signing with `credentials` (an IAM user's keys, where the server
/// enforces IAM).
pub async fn sdk_config_signed_by(credentials: Credentials) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint())
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(textbridge_aws::sdk_http_client())
        .stalled_stream_protection(StalledStreamProtectionConfig::enabled().grace_period(STALL_GRACE).build())
        .load()
        .await
}

/// A fresh AWS backend on the moto server: its own table, intake queue with
/// dead-letter queue, and secrets prefix, created through
/// [`textbridge_aws::schema`]. Clients are built for each call, on the caller's
/// runtime.
pub async fn backend() -> Backend {
    let sdk = sdk_config().await;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let name = format!("textbridge-test-{id}");
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    schema::create_table(&dynamodb, &name).await.unwrap_or_else(|e| panic!("create table {name} on moto: {e}"));
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue_name = format!("tb-{id}");
    let (queue_url, dlq_url) =
        schema::create_queues(&sqs, &queue_name).await.unwrap_or_else(|e| panic!("create queues on moto: {e}"));
    let cfg = AwsConfig {
        table_name: name,
        intake_queue_url: queue_url,
        intake_dlq_url: dlq_url,
        secrets_prefix: format!("textbridge/test-{id}/"),
    };
    textbridge_aws::backend(&sdk, &cfg).await
}
