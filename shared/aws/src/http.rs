//! The AWS SDK's HTTP client: the SDK's requests sent through `reqwest`, the client
//! every other outbound call uses (HTTP/1.1, rustls on ring), so a function links one
//! HTTP stack and one TLS stack.

use std::sync::Mutex;
use std::time::Duration;

use aws_smithy_runtime_api::client::{
    http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
    },
    orchestrator::{HttpRequest, HttpResponse},
    result::ConnectorError,
    runtime_components::RuntimeComponents,
};
use aws_smithy_types::body::SdkBody;

/// The SDK's HTTP client: one `reqwest` client per distinct timeout setting (every
/// service of a function shares one), built on the first request rather than with
/// the service clients, so a function's start-up does not wait for it.
pub fn sdk_http_client() -> SharedHttpClient {
    SharedHttpClient::new(ReqwestHttpClient::default())
}

type Timeouts = (Option<Duration>, Option<Duration>);

#[derive(Debug, Default)]
struct ReqwestHttpClient {
    built: Mutex<Vec<(Timeouts, SharedHttpConnector)>>,
}

impl HttpClient for ReqwestHttpClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        let timeouts = (settings.connect_timeout(), settings.read_timeout());
        let mut built = self.built.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, connector)) = built.iter().find(|(t, _)| *t == timeouts) {
            return connector.clone();
        }
        let connector = SharedHttpConnector::new(ReqwestConnector(client(timeouts)));
        built.push((timeouts, connector.clone()));
        connector
    }
}

/// A client with the SDK's time limits.
fn client((connect, read): Timeouts) -> reqwest::Client {
    let mut builder = textbridge_http::builder().redirect(reqwest::redirect::Policy::none());
    if let Some(connect) = connect {
        builder = builder.connect_timeout(connect);
    }
    if let Some(read) = read {
        builder = builder.read_timeout(read);
    }
    textbridge_http::build_or_default(builder)
}

/// One client (cloning it shares its connection pool).
#[derive(Debug)]
struct ReqwestConnector(reqwest::Client);

impl HttpConnector for ReqwestConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.0.clone();
        HttpConnectorFuture::new(async move {
            let request = request.try_into_http1x().map_err(|e| ConnectorError::user(e.into()))?;
            let request = request.map(|body| match body.bytes() {
                Some(bytes) => reqwest::Body::from(bytes.to_vec()),
                None => reqwest::Body::wrap(body),
            });
            let request = reqwest::Request::try_from(request).map_err(|e| ConnectorError::user(e.into()))?;
            let response = client.execute(request).await.map_err(connector_error)?;
            let response = http::Response::<reqwest::Body>::from(response).map(SdkBody::from_body_1_x);
            HttpResponse::try_from(response).map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// The SDK's kind of a failed exchange: timeouts and connections that failed or broke
/// are retried as transient; anything else is not.
fn connector_error(e: reqwest::Error) -> ConnectorError {
    if e.is_timeout() {
        ConnectorError::timeout(e.into())
    } else if e.is_connect() || e.is_request() || e.is_body() {
        ConnectorError::io(e.into())
    } else {
        ConnectorError::other(e.into(), None)
    }
}

#[cfg(test)]
mod tests {
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_types::byte_stream::ByteStream;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn call(url: &str) -> Result<HttpResponse, ConnectorError> {
        let request = http::Request::builder().uri(url).body(SdkBody::from("{}")).expect("request");
        let connector = ReqwestConnector(client((Some(Duration::from_secs(2)), None)));
        connector.call(HttpRequest::try_from(request).expect("request")).await
    }

    /// One exchange over loopback: the request's body goes out, the answer's status,
    /// headers and streamed body come back.
    #[tokio::test]
    async fn sends_and_answers() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while !got.ends_with(b"{}") {
                let n = socket.read(&mut buf).await.expect("read");
                assert!(n > 0, "the request ended early: {}", String::from_utf8_lossy(&got));
                got.extend_from_slice(&buf[..n]);
            }
            let answer = "HTTP/1.1 418 I'm a teapot\r\nx-amz-request-id: r1\r\ncontent-length: 5\r\n\r\nshort";
            socket.write_all(answer.as_bytes()).await.expect("write");
            String::from_utf8_lossy(&got).into_owned()
        });
        let response = call(&format!("http://{addr}/path")).await.expect("answer");
        assert_eq!(response.status().as_u16(), 418);
        assert_eq!(response.headers().get("x-amz-request-id"), Some("r1"));
        let body = ByteStream::new(response.into_body()).collect().await.expect("body");
        assert_eq!(&body.into_bytes()[..], b"short");
        let request = server.await.expect("server");
        assert!(request.starts_with("GET /path HTTP/1.1\r\n"), "{request}");
        assert!(request.contains("content-length: 2"), "{request}");
    }

    /// HTTPS goes through rustls on ring: a server that is not TLS fails the
    /// handshake as a connection error the SDK may retry (no missing-provider panic).
    #[tokio::test]
    async fn speaks_tls_through_ring() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        });
        let e = call(&format!("https://{addr}/")).await.expect_err("not TLS");
        assert!(e.is_io(), "{e:?}");
    }

    /// Nothing listening: a connection error the SDK may retry.
    #[tokio::test]
    async fn a_refused_connection_is_an_io_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let e = call(&format!("http://{addr}/")).await.expect_err("refused");
        assert!(e.is_io(), "{e:?}");
    }
}
