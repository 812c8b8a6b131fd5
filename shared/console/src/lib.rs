//! The admin console: HTML, CSS and ES modules embedded in the binary and served at
//! `/` with strict security headers, plus how a browser gets a token for the JSON API.
//!
//! Every page works through the same JSON API as any other caller, with a bearer token
//! the page keeps in memory only. The token comes from the deployment's sign-in:
//!
//! * [`SignIn::Local`] (`textbridge serve --console-admin TENANT`): a one-time link
//!   whose code the page exchanges for a session cookie (`HttpOnly`, `SameSite=Strict`,
//!   scoped to `/console/`); the page then asks `POST /console/session` for
//!   short-lived tokens. That route needs the `X-Textbridge-Console` header, which no
//!   cross-site form or link can send, so the cookie alone authorises nothing.
//! * [`SignIn::Oidc`] (AWS): the page signs in at the OIDC issuer the HTTP API's JWT
//!   authorizer trusts (authorization code + PKCE) and sends its access token.

mod assets;
mod local;

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::Request,
    http::{HeaderName, HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Serialize;
use textbridge_domain::Error;
use url::Url;

pub use local::{LocalSignIn, Mint};

/// How the console signs its users in.
#[derive(Clone)]
pub enum SignIn {
    /// One-time links printed by the local server.
    Local(Arc<LocalSignIn>),
    /// Authorization code + PKCE at an OIDC issuer.
    Oidc(Oidc),
}

/// The OIDC client the console is in AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oidc {
    /// The issuer (the JWT authorizer's), `https://…`.
    pub issuer: Url,
    /// The console's client id at the issuer.
    pub client_id: String,
}

/// Environment variable of the OIDC issuer (SAM parameter `JwtIssuer`).
pub const ISSUER_VARIABLE: &str = "CONSOLE_OIDC_ISSUER";
/// Environment variable of the console's OIDC client id (SAM parameter `ConsoleClientId`).
pub const CLIENT_ID_VARIABLE: &str = "CONSOLE_CLIENT_ID";

impl Oidc {
    /// Checks an issuer URL (HTTPS; plain HTTP only on loopback) and a client id.
    pub fn new(issuer: &str, client_id: &str) -> Result<Self, Error> {
        let url = Url::parse(issuer.trim())
            .map_err(|e| Error::invalid(ISSUER_VARIABLE, format!("{issuer:?} is not a URL: {e}")))?;
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if !(url.scheme() == "https" || (url.scheme() == "http" && loopback)) || url.host_str().is_none() {
            return Err(Error::invalid(ISSUER_VARIABLE, format!("{issuer:?} must be an https:// URL")));
        }
        let client_id = client_id.trim();
        if client_id.is_empty() || client_id.len() > 256 || !client_id.chars().all(|c| c.is_ascii_graphic()) {
            return Err(Error::invalid(CLIENT_ID_VARIABLE, "must be 1 to 256 visible ASCII characters"));
        }
        Ok(Self { issuer: url, client_id: client_id.to_owned() })
    }

    /// The client from `CONSOLE_OIDC_ISSUER` and `CONSOLE_CLIENT_ID`: `None` (no
    /// console) when the client id is empty or unset; an error naming the variable
    /// when the issuer is missing or either is wrong.
    pub fn from_env() -> Result<Option<Self>, Error> {
        let read = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Self::from_values(read(ISSUER_VARIABLE).as_deref(), read(CLIENT_ID_VARIABLE).as_deref())
    }

    /// [`Oidc::from_env`] on given values.
    fn from_values(issuer: Option<&str>, client_id: Option<&str>) -> Result<Option<Self>, Error> {
        match (issuer, client_id) {
            (_, None) => Ok(None),
            (Some(issuer), Some(client)) => Self::new(issuer, client).map(Some),
            (None, Some(_)) => Err(Error::invalid(ISSUER_VARIABLE, format!("is needed with {CLIENT_ID_VARIABLE}"))),
        }
    }

    /// The issuer's origin (`https://host[:port]`).
    fn origin(&self) -> String {
        self.issuer.origin().ascii_serialization()
    }
}

/// What the page reads at start: how to sign in.
#[derive(Debug, Serialize)]
struct ConsoleConfig {
    sign_in: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
}

/// The console's routes: the pages at `/`, the assets under `/console/`, the sign-in
/// configuration and (locally) the session routes. Merge before
/// `textbridge_api::finish`.
pub fn router(sign_in: SignIn) -> Router {
    let config = match &sign_in {
        SignIn::Local(_) => ConsoleConfig { sign_in: "local", issuer: None, client_id: None },
        SignIn::Oidc(oidc) => ConsoleConfig {
            sign_in: "oidc",
            issuer: Some(oidc.issuer.as_str().trim_end_matches('/').to_owned()),
            client_id: Some(oidc.client_id.clone()),
        },
    };
    let config = Arc::new(config);
    let csp = Arc::new(content_security_policy(&sign_in));
    let pages = Router::new()
        .route("/", get(assets::page))
        .route("/console/sign-in", get(assets::page))
        .route("/console/callback", get(assets::page))
        .route("/console/assets/{file}", get(assets::asset))
        .route("/console/config", get(move || async move { no_store(Json(config.as_ref()).into_response()) }));
    let pages = match sign_in {
        SignIn::Local(local) => pages.merge(local::routes(local)),
        SignIn::Oidc(_) => pages,
    };
    pages.layer(middleware::from_fn(move |req: Request, next: Next| {
        let csp = csp.clone();
        async move { secure(next.run(req).await, &csp) }
    }))
}

/// The page's Content-Security-Policy: only this origin's scripts and styles (no
/// inline ones), no framing, forms and connections to this origin (and the issuer).
fn content_security_policy(sign_in: &SignIn) -> String {
    // The token endpoint may sit on another host than the issuer (Cognito's domain):
    // with OIDC the page may connect to any HTTPS origin, never run a script from one.
    let (connect, form) = match sign_in {
        SignIn::Local(_) => ("'self'".to_owned(), "'self'".to_owned()),
        SignIn::Oidc(oidc) => (format!("'self' {} https:", oidc.origin()), format!("'self' {}", oidc.origin())),
    };
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src {connect}; \
         form-action {form}; base-uri 'none'; frame-ancestors 'none'; object-src 'none'"
    )
}

/// Adds the security headers to a console response.
fn secure(mut response: Response, csp: &str) -> Response {
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin"));
    response
}

/// Marks a response as never to be cached.
fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A plain 404 in the common shape.
fn not_found() -> Response {
    (StatusCode::NOT_FOUND, textbridge_api::ApiError(Error::NotFound("no such console file".into()))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_and_client_are_checked() {
        assert!(Oidc::new("https://id.example.com/pool", "abc").is_ok());
        assert!(Oidc::new("http://127.0.0.1:9000", "abc").is_ok());
        let err = Oidc::new("http://id.example.com", "abc").unwrap_err();
        assert!(err.to_string().contains(ISSUER_VARIABLE), "{err}");
        let err = Oidc::new("https://id.example.com", " ").unwrap_err();
        assert!(err.to_string().contains(CLIENT_ID_VARIABLE), "{err}");
        assert!(Oidc::new("not a url", "abc").is_err());

        assert_eq!(Oidc::from_values(Some("https://id.example.com"), None).ok(), Some(None), "no client: no console");
        assert!(Oidc::from_values(Some("https://id.example.com"), Some("abc")).is_ok_and(|o| o.is_some()));
        let err = Oidc::from_values(None, Some("abc")).unwrap_err();
        assert!(err.to_string().contains(ISSUER_VARIABLE), "{err}");
    }

    #[tokio::test]
    async fn with_oidc_the_page_learns_the_issuer_and_there_are_no_session_routes() {
        use axum::{body::Body, http::Request};
        use http_body_util::BodyExt;
        use tower::ServiceExt;

        let oidc = Oidc::new("https://id.example.com/pool/", "abc").unwrap_or_else(|e| panic!("{e}"));
        let router = router(SignIn::Oidc(oidc));
        let request = Request::get("/console/config").body(Body::empty()).unwrap_or_else(|e| panic!("{e}"));
        let response = router.clone().oneshot(request).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = response.into_body().collect().await.unwrap_or_else(|e| panic!("{e}")).to_bytes();
        let config: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            config,
            serde_json::json!({"sign_in": "oidc", "issuer": "https://id.example.com/pool", "client_id": "abc"})
        );
        let request = Request::post("/console/session").body(Body::empty()).unwrap_or_else(|e| panic!("{e}"));
        let response = router.oneshot(request).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "no local sessions in AWS");
    }

    #[test]
    fn the_policy_allows_no_inline_code_and_no_framing() {
        let oidc = SignIn::Oidc(Oidc::new("https://id.example.com/pool", "abc").unwrap_or_else(|e| panic!("{e}")));
        let csp = content_security_policy(&oidc);
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
        assert!(csp.contains("script-src 'self';") && csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("form-action 'self' https://id.example.com;"), "{csp}");
        let local = SignIn::Oidc(Oidc::new("http://127.0.0.1:9000", "abc").unwrap_or_else(|e| panic!("{e}")));
        let csp = content_security_policy(&local);
        assert!(csp.contains("connect-src 'self' http://127.0.0.1:9000 https:;"), "{csp}");
    }
}
