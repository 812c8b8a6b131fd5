//! What API Gateway tells a function about a request: the JWT authorizer's verified
//! claims (the only identity a Lambda accepts), its request id and source address.

use axum::{extract::Request, http::request::Parts};
use lambda_http::request::RequestContext;
use textbridge_api::{Authenticator, Claims, Upstream};
use textbridge_domain::{Error, Identity};

/// Identity from the claims of the HTTP API's JWT authorizer. A bearer token alone
/// is never trusted: API Gateway has verified it, or there are no claims.
pub struct ApiGatewayJwt;

impl Authenticator for ApiGatewayJwt {
    fn identify(&self, parts: &Parts) -> Result<Identity, Error> {
        let none = || Error::Unauthenticated("no verified JWT claims on the request".into());
        let claims = match parts.extensions.get::<RequestContext>().ok_or_else(none)? {
            RequestContext::ApiGatewayV2(ctx) => {
                ctx.authorizer.as_ref().and_then(|a| a.jwt.as_ref()).map(|jwt| &jwt.claims).ok_or_else(none)?
            }
            #[allow(unreachable_patterns)]
            _ => return Err(none()),
        };
        Claims::from_map(claims)?.into_identity()
    }
}

/// Middleware: copies API Gateway's request id and source address into the
/// [`Upstream`] extension the routers read.
pub async fn upstream(mut request: Request) -> Request {
    let upstream = match request.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(ctx)) => Upstream {
            request_id: ctx.request_id.clone(),
            source_ip: ctx.http.source_ip.as_deref().and_then(|ip| ip.parse().ok()),
        },
        #[allow(unreachable_patterns)]
        _ => Upstream::default(),
    };
    request.extensions_mut().insert(upstream);
    request
}
