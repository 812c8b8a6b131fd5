//! The HTTP/1.1 server of the local process (`textbridge serve`), on hyper directly
//! so that slow and malformed clients are bounded and still answered in the one
//! JSON error shape:
//!
//! * **Connections** are limited ([`Limits::max_connections`]); one over the limit
//!   is answered `503` (`unavailable`) and closed.
//! * **Request heads** must arrive within [`Limits::header_read_timeout`] (also the
//!   longest a kept-alive connection may sit idle); a connection that does not
//!   send one in time is closed without an answer.
//! * **Request bodies** must arrive within [`Limits::body_read_timeout`] of the
//!   head; otherwise the answer is `408` (`timeout`) and the connection is closed.
//! * **Requests hyper cannot parse** are answered by hyper itself before any
//!   service runs, with an empty body: `400` (bad request line, header or
//!   `Content-Length`, e.g. a raw TAB in the URL or `Content-Length: -1`), `414`
//!   (a URI over 65,534 bytes) and `431` (more than [`MAX_HEADERS`] headers, or a
//!   head over hyper's ~400 KB buffer). The connection's I/O is wrapped so that
//!   such an answer is replaced, on its way out, by the same status with a JSON
//!   body and a new `x-request-id` (and logged with that id). The one case that
//!   keeps hyper's bare answer: a malformed request *pipelined* behind another
//!   request on one connection whose answer was not yet written out, because the
//!   two answers then leave in one write.

use std::{
    convert::Infallible,
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, ready},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::ConnectInfo,
    http::{HeaderValue, Request, StatusCode, header},
    response::{IntoResponse, Response},
};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
    time::Sleep,
};
use tower::ServiceExt;

use crate::{ErrorBody, ErrorDetail, request_id};

/// The most headers a request may have (hyper's default); more is a `431`.
pub const MAX_HEADERS: usize = 100;

/// How long the answer to a connection over the limit may take to write.
const REFUSAL_TIME: Duration = Duration::from_secs(1);

/// The bounds of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most connections served at once; more are answered `503` and closed.
    pub max_connections: usize,
    /// How long a client has to send a request head (and the longest a kept-alive
    /// connection may sit idle between requests).
    pub header_read_timeout: Duration,
    /// How long a client has to send a request body, counted from its head.
    pub body_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
        }
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes, then
/// lets open requests finish (for at most 10 s). Each request carries the peer
/// address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // Answers to connections over the limit are bounded too; past these, they are dropped.
    let refusals = Arc::new(Semaphore::new(limits.max_connections.clamp(1, 256)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(MAX_HEADERS)
        .writev(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            if let Ok(permit) = refusals.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    refuse(stream).await;
                    drop(permit);
                });
            }
            continue;
        };
        let router = router.clone();
        let body_timeout = limits.body_read_timeout;
        let service = service_fn(move |request| handle(router.clone(), peer, body_timeout, request));
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(JsonParseErrors::new(stream)), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended");
            }
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(10)) => tracing::warn!("open connections did not finish in 10 s"),
    }
    Ok(())
}

/// One request through the router, with the peer address and a body deadline.
async fn handle(
    router: Router,
    peer: SocketAddr,
    body_timeout: Duration,
    request: Request<Incoming>,
) -> Result<Response, Infallible> {
    let timed_out = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + body_timeout;
    let mut request =
        request.map(|body| Body::new(TimedBody { inner: body, deadline, sleep: None, timed_out: timed_out.clone() }));
    request.extensions_mut().insert(ConnectInfo(peer));
    let response = router.oneshot(request).await?;
    if !timed_out.load(Ordering::Relaxed) {
        return Ok(response);
    }
    let id = response.headers().get(request_id::HEADER).cloned();
    let secs = body_timeout.as_secs_f64();
    let message = format!("the request body did not arrive within {secs} s");
    let mut response = error_response(StatusCode::REQUEST_TIMEOUT, "timeout", message);
    if let Some(id) = id {
        response.headers_mut().insert(request_id::HEADER, id);
    }
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    Ok(response)
}

fn error_response(status: StatusCode, code: &'static str, message: String) -> Response {
    (status, Json(ErrorBody { error: ErrorDetail { code, message, field: None } })).into_response()
}

/// Answers a connection over the limit `503` and closes it.
async fn refuse(mut stream: TcpStream) {
    let id = request_id::new_id();
    tracing::warn!(request_id = %id, "too many connections; refused one");
    let body = serde_json::json!({"error": {
        "code": "unavailable",
        "message": format!("the server has too many open connections; retry later (request id {id})"),
        "field": null,
    }})
    .to_string();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         {}: {id}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len(),
        request_id::HEADER,
    );
    let _ = tokio::time::timeout(REFUSAL_TIME, async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        // Read what the client sent, so that closing does not reset the answer away.
        let mut sink = [0u8; 4096];
        for _ in 0..16 {
            if stream.read(&mut sink).await? == 0 {
                break;
            }
        }
        io::Result::Ok(())
    })
    .await;
}

/// The error a request body gives when it did not arrive in time.
#[derive(Debug)]
struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimeout {}

/// A request body that fails once its deadline has passed (the timer is only
/// set when the body is not already there).
struct TimedBody {
    inner: Incoming,
    deadline: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
    timed_out: Arc<AtomicBool>,
}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|r| r.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let sleep = this.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline.into())));
        ready!(sleep.as_mut().poll(cx));
        this.timed_out.store(true, Ordering::Relaxed);
        Poll::Ready(Some(Err(Box::new(BodyTimeout))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The connection's I/O, replacing hyper's own bodiless answers to requests it
/// could not parse with the same status and a JSON body (see the module doc).
struct JsonParseErrors<S> {
    inner: S,
    /// A replacement answer still to be written, and how much of it was.
    pending: Option<(Vec<u8>, usize)>,
}

impl<S> JsonParseErrors<S> {
    fn new(inner: S) -> Self {
        Self { inner, pending: None }
    }
}

impl<S: AsyncWrite + Unpin> JsonParseErrors<S> {
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.pending {
            if *written == bytes.len() {
                self.pending = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for JsonParseErrors<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for JsonParseErrors<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        if let Some(answer) = as_json(buf) {
            self.pending = Some((answer, 0));
            if let Poll::Ready(Err(e)) = self.poll_pending(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// When `written` is exactly one of hyper's own answers to an unparsable request
/// (`HTTP/1.1 400|414|431`, no header but `content-length: 0`, `date` and
/// `connection: close`, no body), the JSON answer that replaces it.
fn as_json(written: &[u8]) -> Option<Vec<u8>> {
    const PREFIX: &[u8] = b"HTTP/1.1 ";
    if !written.starts_with(PREFIX) || !written.ends_with(b"\r\n\r\n") || written.len() > 256 {
        return None;
    }
    let head = std::str::from_utf8(&written[..written.len() - 4]).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line.get(PREFIX.len()..PREFIX.len() + 3)?.parse().ok()?;
    let mut date = None;
    let mut empty_body = false;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        match name.to_ascii_lowercase().as_str() {
            "content-length" if value.trim() == "0" => empty_body = true,
            "date" => date = Some(value.trim()),
            "connection" if value.trim().eq_ignore_ascii_case("close") => {}
            _ => return None,
        }
    }
    if !empty_body {
        return None;
    }
    let (status, code, message) = match status {
        400 => (
            StatusCode::BAD_REQUEST,
            "malformed",
            "the request is not valid HTTP/1.1 (request line, a header or Content-Length)".to_owned(),
        ),
        414 => (StatusCode::URI_TOO_LONG, "too_large", "the request URI is longer than 65,534 bytes".to_owned()),
        431 => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "too_large",
            format!("the request has more than {MAX_HEADERS} headers or its head is too large"),
        ),
        _ => return None,
    };
    let id = request_id::new_id();
    tracing::info!(
        request_id = %id,
        route = request_id::UNMATCHED,
        status = status.as_u16(),
        code,
        "request refused before routing"
    );
    let body = serde_json::to_string(&ErrorBody { error: ErrorDetail { code, message, field: None } }).ok()?;
    let mut answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{}: {id}\r\nconnection: close\r\n",
        body.len(),
        request_id::HEADER,
    );
    if let Some(date) = date {
        answer.push_str(&format!("date: {date}\r\n"));
    }
    answer.push_str("\r\n");
    answer.push_str(&body);
    Some(answer.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_own_answers_are_replaced() {
        let date = "date: Mon, 01 Jan 2029 00:00:00 GMT";
        for status in ["400 Bad Request", "414 URI Too Long", "431 Request Header Fields Too Large"] {
            let bare = format!("HTTP/1.1 {status}\r\nconnection: close\r\ncontent-length: 0\r\n{date}\r\n\r\n");
            let answer = String::from_utf8(as_json(bare.as_bytes()).expect(status)).expect("utf8");
            assert!(answer.starts_with(&format!("HTTP/1.1 {}", &status[..3])), "{answer}");
            assert!(answer.contains("\r\nx-request-id: ") && answer.contains("\r\n\r\n{\"error\":{"), "{answer}");
        }
        for other in [
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nx-request-id: 1\r\n\r\n".to_owned(),
            "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_owned(),
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}".to_owned(),
            "HTTP/1.1 100 Continue\r\n\r\n".to_owned(),
            "{\"a\":1}".to_owned(),
        ] {
            assert!(as_json(other.as_bytes()).is_none(), "{other}");
        }
    }
}
