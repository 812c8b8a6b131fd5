//! The local sign-in: one-time links, sessions kept in the server's memory (a restart
//! signs everyone out) and short-lived tokens for the page.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use cookie::{Cookie, SameSite};
use serde::{Deserialize, Serialize};
use textbridge_api::{ApiError, ApiJson, Claims};
use textbridge_domain::Error;

/// Signs a token for `claims`, valid for the given seconds (the host's signer).
pub type Mint = Arc<dyn Fn(&Claims, u64) -> Result<String, Error> + Send + Sync>;

/// The session cookie's name.
const COOKIE: &str = "textbridge_console";
/// The header only the console page sends (a cross-site form or link cannot).
const GUARD: &str = "x-textbridge-console";
/// How long a session lasts.
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// How long a token given to the page lasts; the page asks again when it ends.
const TOKEN_TTL_SECS: u64 = 15 * 60;

/// One-time sign-in codes and the sessions they opened.
pub struct LocalSignIn {
    mint: Mint,
    state: Mutex<Sessions>,
}

#[derive(Default)]
struct Sessions {
    codes: HashMap<String, Claims>,
    open: HashMap<String, (Claims, Instant)>,
}

fn random_id() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl LocalSignIn {
    /// Sign-ins whose tokens `mint` signs.
    pub fn new(mint: Mint) -> Self {
        Self { mint, state: Mutex::new(Sessions::default()) }
    }

    /// A new one-time sign-in link for `claims` on the console at `base`
    /// (`http://host:port`). The code is in the fragment, which browsers never send.
    pub fn link(&self, base: &str, claims: Claims) -> String {
        let code = random_id();
        self.sessions().codes.insert(code.clone(), claims);
        format!("{}/console/sign-in#{code}", base.trim_end_matches('/'))
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        // A panic while holding the lock leaves only maps behind, still consistent.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Opens a session for a code, once.
    fn redeem(&self, code: &str) -> Option<(String, Claims)> {
        let mut sessions = self.sessions();
        let claims = sessions.codes.remove(code)?;
        let id = random_id();
        sessions.open.insert(id.clone(), (claims.clone(), Instant::now() + SESSION_TTL));
        Some((id, claims))
    }

    /// The claims of an open session.
    fn session(&self, id: &str) -> Option<Claims> {
        let mut sessions = self.sessions();
        let now = Instant::now();
        sessions.open.retain(|_, (_, until)| *until > now);
        sessions.open.get(id).map(|(claims, _)| claims.clone())
    }

    fn close(&self, id: &str) {
        self.sessions().open.remove(id);
    }
}

/// `POST /console/session`: a code (from the link) or the session cookie in, a token out.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionInput {
    #[serde(default)]
    code: Option<String>,
}

/// A token for the page.
#[derive(Debug, Serialize)]
struct SessionOutput {
    token: String,
    expires_in: u64,
    tenant: String,
    username: String,
}

/// Refuses a request that did not come from the console page itself.
fn guard(headers: &HeaderMap) -> Result<(), Error> {
    if headers.get(GUARD).is_none() {
        return Err(Error::Forbidden(
            "only the console page may call this route (X-Textbridge-Console missing)".into(),
        ));
    }
    match headers.get("sec-fetch-site").map(HeaderValue::to_str) {
        None | Some(Ok("same-origin" | "none")) => Ok(()),
        Some(_) => Err(Error::Forbidden("only the console page may call this route (cross-site request)".into())),
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_owned())
}

fn set_cookie(value: &str, max_age: cookie::time::Duration) -> Result<HeaderValue, Error> {
    let cookie = Cookie::build((COOKIE, value))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/console/")
        .max_age(max_age)
        .build();
    HeaderValue::from_str(&cookie.to_string()).map_err(Error::unexpected)
}

async fn session(
    State(sign_in): State<Arc<LocalSignIn>>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<SessionInput>,
) -> Result<Response, ApiError> {
    guard(&headers)?;
    let (claims, cookie) = match input.code.as_deref() {
        Some(code) => {
            let (id, claims) = sign_in.redeem(code).ok_or_else(|| {
                Error::Unauthenticated("this sign-in link was already used or is not known to this server".into())
            })?;
            let ttl = cookie::time::Duration::seconds(i64::try_from(SESSION_TTL.as_secs()).unwrap_or(i64::MAX));
            tracing::info!(tenant = %claims.tenant, "console session opened");
            (claims, Some(set_cookie(&id, ttl)?))
        }
        None => {
            let claims = session_cookie(&headers).and_then(|id| sign_in.session(&id)).ok_or_else(|| {
                Error::Unauthenticated(
                    "not signed in to the console: open a sign-in link that `textbridge serve --console-admin` prints"
                        .into(),
                )
            })?;
            (claims, None)
        }
    };
    let token = (sign_in.mint)(&claims, TOKEN_TTL_SECS)?;
    let body =
        SessionOutput { token, expires_in: TOKEN_TTL_SECS, tenant: claims.tenant.clone(), username: claims.username };
    let mut response = crate::no_store(Json(body).into_response());
    if let Some(cookie) = cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

async fn sign_out(State(sign_in): State<Arc<LocalSignIn>>, headers: HeaderMap) -> Result<Response, ApiError> {
    guard(&headers)?;
    if let Some(id) = session_cookie(&headers) {
        sign_in.close(&id);
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::SET_COOKIE, set_cookie("", cookie::time::Duration::ZERO)?);
    Ok(crate::no_store(response))
}

/// The session routes.
pub(crate) fn routes(sign_in: Arc<LocalSignIn>) -> Router {
    Router::new()
        .route("/console/session", post(session))
        .route("/console/sign-out", post(sign_out))
        .with_state(sign_in)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use axum::{body::Body, http::Request};
    use http_body_util::BodyExt;
    use serde_json::Value;
    use tower::ServiceExt;

    use super::*;

    fn claims() -> Claims {
        Claims {
            tenant: "acme".into(),
            sub: "local-admin".into(),
            username: "admin@localhost".into(),
            role: "customer_admin".into(),
            group: "Default".into(),
        }
    }

    fn sign_in() -> Arc<LocalSignIn> {
        Arc::new(LocalSignIn::new(Arc::new(|c: &Claims, ttl| Ok(format!("token-for-{}-{ttl}", c.tenant)))))
    }

    async fn call(
        sign_in: &Arc<LocalSignIn>,
        path: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, Value) {
        let router = textbridge_api::finish(crate::router(crate::SignIn::Local(sign_in.clone())), Arc::new(Nobody));
        let mut req = Request::post(path).header("content-type", "application/json");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let resp = router.oneshot(req.body(Body::from(body.to_owned())).unwrap()).await.unwrap();
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        (parts.status, parts.headers, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    struct Nobody;

    impl textbridge_api::Authenticator for Nobody {
        fn identify(&self, _: &axum::http::request::Parts) -> Result<textbridge_domain::Identity, Error> {
            Err(Error::Unauthenticated("nobody".into()))
        }
    }

    #[tokio::test]
    async fn a_link_signs_in_once_and_the_cookie_alone_authorises_nothing() {
        let sign_in = sign_in();
        let link = sign_in.link("http://127.0.0.1:1/", claims());
        let code = link.split_once("/console/sign-in#").unwrap().1.to_owned();
        let body = format!(r#"{{"code":"{code}"}}"#);
        let guard = (GUARD, "1");

        // Without the page's header: refused, and the code is not spent.
        let (status, _, resp) = call(&sign_in, "/console/session", &body, &[]).await;
        assert_eq!((status, resp["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
        let cross = [guard, ("sec-fetch-site", "cross-site")];
        assert_eq!(call(&sign_in, "/console/session", &body, &cross).await.0, StatusCode::FORBIDDEN);

        let (status, headers, resp) = call(&sign_in, "/console/session", &body, &[guard]).await;
        assert_eq!(status, StatusCode::OK, "{resp}");
        assert_eq!(resp["token"], "token-for-acme-900");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        let set = headers[header::SET_COOKIE].to_str().unwrap().to_owned();
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/console/"), "{set}");
        let cookie = set.split(';').next().unwrap().to_owned();

        let (status, _, resp) = call(&sign_in, "/console/session", &body, &[guard]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "a link works once: {resp}");

        // The cookie gets a new token, with the header only.
        let with_cookie = [guard, ("cookie", cookie.as_str())];
        let (status, _, resp) = call(&sign_in, "/console/session", "{}", &with_cookie).await;
        assert_eq!((status, resp["tenant"].as_str()), (StatusCode::OK, Some("acme")));
        let (status, _, _) = call(&sign_in, "/console/session", "{}", &[("cookie", cookie.as_str())]).await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // Sign-out ends the session.
        assert_eq!(
            call(&sign_in, "/console/sign-out", "", &[("cookie", cookie.as_str())]).await.0,
            StatusCode::FORBIDDEN
        );
        let (status, headers, _) = call(&sign_in, "/console/sign-out", "", &with_cookie).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert!(headers[header::SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
        let (status, _, resp) = call(&sign_in, "/console/session", "{}", &with_cookie).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{resp}");
        assert!(resp["error"]["message"].as_str().unwrap().contains("--console-admin"), "{resp}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_link_redeemed_by_many_at_once_opens_one_session() {
        let sign_in = sign_in();
        let link = sign_in.link("http://127.0.0.1:1", claims());
        let code = link.split_once('#').unwrap().1.to_owned();
        let body = format!(r#"{{"code":"{code}"}}"#);
        let calls = (0..16).map(|_| {
            let (sign_in, body) = (sign_in.clone(), body.clone());
            tokio::spawn(async move { call(&sign_in, "/console/session", &body, &[(GUARD, "1")]).await.0 })
        });
        let statuses: Vec<StatusCode> = futures_join(calls).await;
        assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count(), 15, "{statuses:?}");
        assert_eq!(sign_in.sessions().open.len(), 1);
    }

    async fn futures_join<T>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
        let mut out = Vec::new();
        for handle in handles.collect::<Vec<_>>() {
            out.push(handle.await.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn pages_carry_the_security_headers() {
        let router = textbridge_api::finish(crate::router(crate::SignIn::Local(sign_in())), Arc::new(Nobody));
        for path in ["/", "/console/assets/app.js", "/console/config"] {
            let resp = router.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
            let csp = resp.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
            assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"), "{csp}");
            assert_eq!(resp.headers()[header::X_FRAME_OPTIONS], "DENY");
            assert_eq!(resp.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        }
        let resp = router.oneshot(Request::get("/console/assets/nope.js").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }
}
