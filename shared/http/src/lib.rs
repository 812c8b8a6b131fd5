//! The one outbound HTTP client every connector shares (texting providers, the ATS):
//! a time limit per attempt, at most [`ATTEMPTS`] attempts with exponential backoff
//! honouring `Retry-After`, answers read whole up to [`MAX_BODY_BYTES`], no
//! redirects. Callers map [`Answer`] and [`Failure`] to their own errors.
//!
//! Whether a request may reach the server twice is the caller's to say ([`Repeat`]):
//! a write that is not idempotent is repeated only when the server cannot have acted
//! on it.
//!
//! Log lines carry the label, method, path, status and attempt: never a header
//! value, a query string or a body.
//!
//! Every client made with [`builder`] trusts the same roots ([`client_tls`]): the
//! Mozilla root program's, built into the binary, so building a client reads and parses
//! nothing; plus the certificates of the PEM file `SSL_CERT_FILE` names, if set (a
//! private CA, a proxy's).

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::{
    StatusCode,
    header::{HeaderMap, RETRY_AFTER},
};

/// How many times a request is sent at most.
pub const ATTEMPTS: u32 = 3;

/// The largest answer read, unless a client is told otherwise ([`Client::with_max_body`]).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The wait before the second attempt when the server names none; doubled each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// Whether a request may be sent again after it may have reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// Safe to repeat (reads, idempotent writes): retried on 429, any 5xx and any
    /// failed or broken connection.
    Safe,
    /// Must not be acted on twice: retried only on 429, 503 or a connection that was
    /// never made. Other 5xx answers are returned as they are; a connection that
    /// broke after sending is [`Failure::Lost`].
    OnlyIfUnsent,
}

/// A final answer: anything but a retried status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The whole body.
    pub body: Vec<u8>,
}

/// Why no final answer came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No answer within the time limit (the request may have arrived).
    Timeout,
    /// The attempts are spent on throttling, failures or unreachable servers; the
    /// last status, if there was one.
    Unavailable {
        /// The last HTTP status.
        status: Option<u16>,
    },
    /// The connection broke after the request may have arrived ([`Repeat::OnlyIfUnsent`]).
    Lost,
    /// The answer was larger than the client reads ([`MAX_BODY_BYTES`] unless set
    /// otherwise, [`Client::with_max_body`]); its length, when the server announced it.
    TooLarge {
        /// The answer's `Content-Length`.
        length: Option<u64>,
    },
    /// The request could not be built or repeated.
    Unbuildable,
}

/// One attempt's outcome.
enum Attempt {
    Answered { status: StatusCode, retry_after: Option<Duration>, body: Vec<u8> },
    NotSent,
    Lost,
    TooLarge(Option<u64>),
}

/// A builder of a `reqwest` client that speaks TLS through rustls on ring, the one
/// TLS stack of every outbound call (this client's, the AWS SDK's, the tests'), with
/// the roots of [`client_tls`] (`SSL_CERT_FILE` read once per process).
pub fn builder() -> reqwest::ClientBuilder {
    static TLS: OnceLock<rustls::ClientConfig> = OnceLock::new();
    let tls = TLS.get_or_init(|| {
        // Already installed (by another caller) is as good as installed now.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let extra = std::env::var_os("SSL_CERT_FILE").filter(|path| !path.is_empty());
        client_tls(extra.as_deref().map(Path::new))
    });
    reqwest::Client::builder().use_preconfigured_tls(tls.clone())
}

/// The TLS set-up of an outbound client: TLS 1.2 and 1.3 on ring, HTTP/1.1, trusting
/// the Mozilla root program's certificates (`webpki-roots`: already in the form the
/// verifier uses, so nothing is read or parsed) and those of the PEM file `extra_roots`.
/// A file that cannot be read, or a certificate in it that is not one, is logged with
/// its path and left out; the built-in roots stay.
pub fn client_tls(extra_roots: Option<&Path>) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = extra_roots {
        add_pem_roots(&mut roots, path);
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(rustls::DEFAULT_VERSIONS)
        .unwrap_or_else(|_| unreachable!("ring supports the default TLS versions"))
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

/// Adds the certificates of the PEM file at `path` to `roots`, logging what it cannot.
fn add_pem_roots(roots: &mut rustls::RootCertStore, path: &Path) {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let file = path.display();
    let certificates = match CertificateDer::pem_file_iter(path) {
        Ok(certificates) => certificates,
        Err(e) => {
            tracing::error!(file = %file, error = %e, "SSL_CERT_FILE could not be read; only the built-in roots are trusted");
            return;
        }
    };
    let (mut added, mut left_out) = (0, 0);
    for (n, certificate) in certificates.enumerate() {
        match certificate.map_err(|e| e.to_string()).and_then(|c| roots.add(c).map_err(|e| e.to_string())) {
            Ok(()) => added += 1,
            Err(e) => {
                left_out += 1;
                tracing::error!(file = %file, certificate = n + 1, error = %e, "a certificate of SSL_CERT_FILE is left out");
            }
        }
    }
    tracing::info!(file = %file, added, left_out, "trusted the certificates of SSL_CERT_FILE beside the built-in roots");
}

/// Builds `builder`; one that cannot be built as configured is logged and replaced by
/// reqwest's defaults.
pub fn build_or_default(builder: reqwest::ClientBuilder) -> reqwest::Client {
    builder.build().unwrap_or_else(|e| {
        tracing::error!(error = %e, "could not build the HTTP client as configured; using defaults");
        reqwest::Client::new()
    })
}

/// The shared client and its limits. Cloning shares the connection pool.
///
/// The underlying client is built on first use: a Lambda function's start-up does
/// no work for requests that may never go out (intake only verifies webhooks).
#[derive(Debug, Clone)]
pub struct Client {
    client: Arc<OnceLock<reqwest::Client>>,
    timeout: Duration,
    max_retry_wait: Duration,
    max_body: usize,
}

impl Client {
    /// A client whose attempts each take at most `timeout` (connecting, sending and
    /// reading the whole answer), waiting at most `max_retry_wait` between attempts.
    pub fn new(timeout: Duration, max_retry_wait: Duration) -> Self {
        Self { client: Arc::new(OnceLock::new()), timeout, max_retry_wait, max_body: MAX_BODY_BYTES }
    }

    /// The same client (its connections shared) reading answers of up to `bytes`
    /// instead of [`MAX_BODY_BYTES`].
    pub fn with_max_body(&self, bytes: usize) -> Self {
        Self { max_body: bytes, ..self.clone() }
    }

    /// The underlying client, to build requests with.
    pub fn inner(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            build_or_default(
                builder()
                    .connect_timeout(self.timeout)
                    .redirect(reqwest::redirect::Policy::none())
                    .user_agent(concat!("textbridge/", env!("CARGO_PKG_VERSION"))),
            )
        })
    }

    /// The limit on one attempt.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The cap on the wait between attempts.
    pub fn max_retry_wait(&self) -> Duration {
        self.max_retry_wait
    }

    /// Sends `request` (labelled `label` in logs), retrying as `repeat` allows.
    pub async fn send(&self, request: reqwest::Request, repeat: Repeat, label: &str) -> Result<Answer, Failure> {
        let method = request.method().clone();
        let path = request.url().path().to_owned();
        let mut attempt = 1;
        loop {
            let this = request.try_clone().ok_or(Failure::Unbuildable)?;
            let (status, wait) = match tokio::time::timeout(self.timeout, self.attempt(this)).await {
                Err(_) => {
                    tracing::warn!(label, %method, %path, attempt, "no answer in time");
                    return Err(Failure::Timeout);
                }
                Ok(Attempt::TooLarge(length)) => return Err(Failure::TooLarge { length }),
                Ok(Attempt::NotSent) => {
                    tracing::warn!(label, %method, %path, attempt, "could not connect");
                    (None, None)
                }
                Ok(Attempt::Lost) => {
                    tracing::warn!(label, %method, %path, attempt, "the connection broke off");
                    if repeat == Repeat::OnlyIfUnsent {
                        return Err(Failure::Lost);
                    }
                    (None, None)
                }
                Ok(Attempt::Answered { status, retry_after, body }) => {
                    let code = status.as_u16();
                    tracing::debug!(label, %method, %path, status = code, attempt, "answered");
                    let retried = match repeat {
                        Repeat::Safe => status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error(),
                        Repeat::OnlyIfUnsent => {
                            matches!(status, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE)
                        }
                    };
                    if !retried {
                        return Ok(Answer { status, body });
                    }
                    tracing::warn!(label, %method, %path, status = code, attempt, "throttled or failing");
                    (Some(code), retry_after)
                }
            };
            if attempt >= ATTEMPTS {
                return Err(Failure::Unavailable { status });
            }
            let backoff = FIRST_BACKOFF.saturating_mul(1 << (attempt - 1));
            tokio::time::sleep(wait.unwrap_or(backoff).min(self.max_retry_wait)).await;
            attempt += 1;
        }
    }

    async fn attempt(&self, request: reqwest::Request) -> Attempt {
        let mut response = match self.inner().execute(request).await {
            Ok(response) => response,
            Err(e) if e.is_connect() => return Attempt::NotSent,
            Err(_) => return Attempt::Lost,
        };
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let length = response.content_length();
        if length.is_some_and(|length| length > self.max_body as u64) {
            return Attempt::TooLarge(length);
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) if body.len() + chunk.len() > self.max_body => return Attempt::TooLarge(length),
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => return Attempt::Answered { status, retry_after, body },
                Err(_) => return Attempt::Lost,
            }
        }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is ignored: backoff applies).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?;
    text.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;
    use wiremock::{Mock, MockServer, ResponseTemplate, matchers::method};

    use super::*;

    #[test]
    fn retry_after_in_seconds_only() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static(" 3 "));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&headers), None);
    }

    async fn sends(repeat: Repeat, status: u16) -> (Result<Answer, Failure>, usize) {
        let server = MockServer::start().await;
        Mock::given(method("POST")).respond_with(ResponseTemplate::new(status)).mount(&server).await;
        let client = Client::new(Duration::from_secs(5), Duration::from_millis(10));
        let request = client.inner().post(server.uri()).body("x").build().unwrap();
        let result = client.send(request, repeat, "test").await;
        (result, server.received_requests().await.unwrap_or_default().len())
    }

    #[tokio::test]
    async fn repeat_policies() {
        assert_eq!(sends(Repeat::Safe, 500).await, (Err(Failure::Unavailable { status: Some(500) }), 3));
        assert_eq!(sends(Repeat::OnlyIfUnsent, 503).await, (Err(Failure::Unavailable { status: Some(503) }), 3));
        let (answer, sent) = sends(Repeat::OnlyIfUnsent, 500).await;
        assert_eq!(
            (answer.map(|a| a.status.as_u16()), sent),
            (Ok(500), 1),
            "a write that may have happened is not repeated"
        );
        let (answer, sent) = sends(Repeat::Safe, 404).await;
        assert_eq!((answer.map(|a| a.status.as_u16()), sent), (Ok(404), 1));
    }

    /// A TLS server on loopback for `localhost`, its certificate issued by a CA of its
    /// own (returned as PEM), answering every connection `200 ok`.
    async fn private_tls_server() -> (std::net::SocketAddr, String) {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
        let server_key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&server_key, &Issuer::new(ca, ca_key))
            .unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(rustls::DEFAULT_VERSIONS)
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![server.der().clone()], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                    let mut request = [0; 1024];
                    let _ = tls.read(&mut request).await;
                    let _ = tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        (address, ca_pem)
    }

    async fn get(address: std::net::SocketAddr, extra_roots: Option<&Path>) -> Result<String, reqwest::Error> {
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(client_tls(extra_roots))
            .resolve("localhost", address)
            .build()
            .unwrap();
        client.get(format!("https://localhost:{}/", address.port())).send().await?.text().await
    }

    #[tokio::test]
    async fn a_private_ca_is_trusted_only_when_ssl_cert_file_names_it() {
        let (address, ca_pem) = private_tls_server().await;
        let refused = get(address, None).await.expect_err("not a built-in root");
        assert!(refused.is_connect(), "{refused:?}");

        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &ca_pem).unwrap();
        assert_eq!(get(address, Some(file.path())).await.unwrap(), "ok");

        // A block that is not a certificate is left out; the others are still trusted.
        let broken = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";
        std::fs::write(file.path(), format!("{broken}{ca_pem}")).unwrap();
        assert_eq!(get(address, Some(file.path())).await.unwrap(), "ok");
    }

    #[tokio::test]
    async fn an_unreadable_ssl_cert_file_leaves_the_built_in_roots() {
        let (address, _) = private_tls_server().await;
        let missing = Path::new("/nonexistent/textbridge-roots.pem");
        let refused = get(address, Some(missing)).await.expect_err("not trusted");
        assert!(refused.is_connect(), "{refused:?}");
    }

    #[test]
    fn the_built_in_roots_are_the_mozilla_programs() {
        let config = client_tls(None);
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert!(webpki_roots::TLS_SERVER_ROOTS.len() > 100);
        let names: Vec<String> = webpki_roots::TLS_SERVER_ROOTS
            .iter()
            .map(|anchor| String::from_utf8_lossy(anchor.subject.as_ref()).into_owned())
            .collect();
        // The roots of AWS's own endpoints.
        assert!(names.iter().any(|n| n.contains("Amazon Root CA 1")), "{names:?}");
        assert!(names.iter().any(|n| n.contains("Starfield")), "{names:?}");
    }

    #[tokio::test]
    async fn answers_are_read_up_to_the_clients_limit() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_string("0123456789"))
            .mount(&server)
            .await;
        let client = Client::new(Duration::from_secs(5), Duration::from_millis(10));
        let get = |client: &Client| client.inner().get(server.uri()).build().unwrap();
        let answer = client.send(get(&client), Repeat::Safe, "test").await.unwrap();
        assert_eq!(answer.body, b"0123456789");
        let small = client.with_max_body(9);
        assert_eq!(small.send(get(&small), Repeat::Safe, "test").await, Err(Failure::TooLarge { length: Some(10) }));
        let exact = client.with_max_body(10);
        assert_eq!(exact.send(get(&exact), Repeat::Safe, "test").await.unwrap().body.len(), 10);
    }

    #[tokio::test]
    async fn slow_answers_time_out_without_retry() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(500)))
            .mount(&server)
            .await;
        let client = Client::new(Duration::from_millis(100), Duration::from_millis(10));
        let request = client.inner().get(server.uri()).build().unwrap();
        assert_eq!(client.send(request, Repeat::Safe, "test").await, Err(Failure::Timeout));
        assert_eq!(server.received_requests().await.unwrap_or_default().len(), 1);
    }
}
