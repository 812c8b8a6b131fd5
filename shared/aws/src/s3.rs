//! The upload place ([`Uploads`]) on S3: a presigned `PUT` URL per file, read back
//! and removed with the function's own credentials. The bucket's lifecycle rule
//! removes whatever is left behind.
//!
//! S3 is reached through [`S3`]: requests signed with AWS Signature Version 4 by
//! `aws-sigv4` (the SDK's own signer, with S3's settings: the path encoded once and
//! not normalised) and sent through the shared HTTP client. The three calls the
//! imports function makes need nothing else of S3's SDK, which (with the checksum
//! tables it links) would be about 1 MiB of its binary.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method, StatusCode};
use textbridge_app::ports::{PortError, PortResult, PutUrl, Upload, Uploads};
use textbridge_http::{Answer, Failure, Repeat};

/// What a key's path segments keep as they are: S3's unreserved characters.
const KEY_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// The limit on one attempt of an S3 call (a whole import file is read in one).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);

/// The cap on the wait between attempts.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(1);

/// The most read of an answer that carries no file (S3's XML, an error's).
pub const SMALL_ANSWER: usize = 64 * 1024;

/// The S3 calls the functions make, with the credentials, region and endpoint of an
/// SDK configuration. Cloning shares the connections.
#[derive(Clone)]
pub struct S3 {
    http: textbridge_http::Client,
    credentials: Option<SharedCredentialsProvider>,
    region: String,
    /// An S3-compatible server on one host (such as moto): path-style addresses.
    endpoint: Option<String>,
}

impl S3 {
    /// S3 with the credentials, region and endpoint (`AWS_ENDPOINT_URL`) of `sdk`.
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            http: textbridge_http::Client::new(ATTEMPT_TIMEOUT, MAX_RETRY_WAIT),
            credentials: sdk.credentials_provider(),
            region: sdk.region().map_or_else(|| "us-east-1".to_owned(), ToString::to_string),
            endpoint: sdk.endpoint_url().map(|url| url.trim_end_matches('/').to_owned()),
        }
    }

    /// The URL of `key` in `bucket` (of the bucket itself without a key): virtual-hosted
    /// on AWS, path-style on an endpoint of its own.
    pub fn url(&self, bucket: &str, key: Option<&str>) -> String {
        let base = match &self.endpoint {
            Some(endpoint) => format!("{endpoint}/{bucket}"),
            None => format!("https://{bucket}.s3.{}.amazonaws.com", self.region),
        };
        match (key, &self.endpoint) {
            (Some(key), _) => format!("{base}/{}", encode_key(key)),
            (None, Some(_)) => base,
            (None, None) => format!("{base}/"),
        }
    }

    /// Creates `bucket` in this region, for tests and local runs against an emulator
    /// (the SAM template creates the deployed one). One that exists already is
    /// [`PortError::ConditionFailed`].
    pub async fn create_bucket(&self, bucket: &str) -> PortResult<()> {
        let body = match self.region.as_str() {
            "us-east-1" => Vec::new(),
            region => format!(
                "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <LocationConstraint>{region}</LocationConstraint></CreateBucketConfiguration>"
            )
            .into_bytes(),
        };
        self.send("CreateBucket", Method::PUT, bucket, None, body, SMALL_ANSWER).await?;
        Ok(())
    }

    /// A URL that lets anyone holding it make one `method` request of `key` in
    /// `bucket` for `ttl`, signed with these credentials.
    pub async fn presign(&self, method: Method, bucket: &str, key: &str, ttl: Duration) -> PortResult<String> {
        let op = format!("{method} (presign)");
        let mut request = request(method, &self.url(bucket, Some(key)), Vec::new(), &op)?;
        sign_request(&mut request, &self.identity(&op).await?, &self.region, SystemTime::now(), Some(ttl))
            .map_err(|e| PortError::Invalid(format!("{op}: {e}")))?;
        Ok(request.uri().to_string())
    }

    /// Sends `method` to `key` in `bucket` (to the bucket without a key) with `body`,
    /// signed in its headers, reading an answer of up to `max_body` bytes; labelled `op`
    /// (e.g. `"GetObject"`). Reads and idempotent writes only: retried as
    /// [`Repeat::Safe`] allows.
    pub async fn send(
        &self,
        op: &str,
        method: Method,
        bucket: &str,
        key: Option<&str>,
        body: Vec<u8>,
        max_body: usize,
    ) -> Result<Answer, S3Failure> {
        let mut request = request(method, &self.url(bucket, key), body, op)?;
        sign_request(&mut request, &self.identity(op).await?, &self.region, SystemTime::now(), None)
            .map_err(|e| PortError::Invalid(format!("{op}: {e}")))?;
        let request = reqwest::Request::try_from(request)
            .map_err(|_| PortError::Invalid(format!("{op}: the request could not be built")))?;
        let http = self.http.with_max_body(max_body);
        match http.send(request, Repeat::Safe, op).await {
            Ok(answer) if answer.status.is_success() => Ok(answer),
            Ok(answer) => Err(refused(op, answer.status).into()),
            Err(Failure::TooLarge { length }) => Err(S3Failure::TooLarge { length }),
            Err(Failure::Timeout) => Err(PortError::Retryable(format!("{op}: timed out")).into()),
            Err(Failure::Unavailable { status }) => Err(PortError::Retryable(match status {
                Some(status) => format!("{op}: unavailable (HTTP {status})"),
                None => format!("{op}: could not connect"),
            })
            .into()),
            Err(Failure::Lost) => Err(PortError::Retryable(format!("{op}: the connection broke off")).into()),
            Err(Failure::Unbuildable) => {
                Err(PortError::Invalid(format!("{op}: the request could not be built")).into())
            }
        }
    }

    /// The credentials to sign with: the SDK configuration's provider's (on Lambda,
    /// the role's keys from the environment).
    async fn identity(&self, op: &str) -> PortResult<Identity> {
        let provider =
            self.credentials.as_ref().ok_or_else(|| PortError::Unexpected(format!("{op}: no AWS credentials")))?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|_| PortError::Unexpected(format!("{op}: the AWS credentials could not be read")))?;
        Ok(credentials.into())
    }
}

/// Why an S3 call gave no answer.
#[derive(Debug, PartialEq)]
pub enum S3Failure {
    /// The answer was larger than asked for: its length, when S3 announced it.
    TooLarge {
        /// The answer's `Content-Length`.
        length: Option<u64>,
    },
    /// Any other failure, mapped.
    Port(PortError),
}

impl From<PortError> for S3Failure {
    fn from(e: PortError) -> Self {
        Self::Port(e)
    }
}

impl From<S3Failure> for PortError {
    fn from(e: S3Failure) -> Self {
        match e {
            S3Failure::TooLarge { .. } => PortError::Unexpected("S3: the answer was larger than expected".into()),
            S3Failure::Port(e) => e,
        }
    }
}

/// A key as a URL path: each `/`-separated segment percent-encoded once.
fn encode_key(key: &str) -> String {
    key.split('/').map(|segment| utf8_percent_encode(segment, KEY_SEGMENT).to_string()).collect::<Vec<_>>().join("/")
}

fn request(method: Method, url: &str, body: Vec<u8>, op: &str) -> PortResult<http::Request<Vec<u8>>> {
    http::Request::builder()
        .method(method)
        .uri(url)
        .body(body)
        .map_err(|_| PortError::Invalid(format!("{op}: not a valid S3 address")))
}

/// Signs `request` for S3 in `region` at `time` with `identity`: in its headers (the
/// body's SHA-256 in `x-amz-content-sha256`), or with `presign_for` in its query string,
/// valid that long, for a body not known yet.
fn sign_request(
    request: &mut http::Request<Vec<u8>>,
    identity: &Identity,
    region: &str,
    time: SystemTime,
    presign_for: Option<Duration>,
) -> Result<(), String> {
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    if let Some(ttl) = presign_for {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(ttl);
    } else {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let params = v4::SigningParams::builder()
        .identity(identity)
        .region(region)
        .name("s3")
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let instructions = {
        let headers = request
            .headers()
            .iter()
            .map(|(name, value)| value.to_str().map(|value| (name.as_str(), value)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| "a header value is not text".to_owned())?;
        let body = match presign_for {
            Some(_) => SignableBody::UnsignedPayload,
            None => SignableBody::Bytes(request.body()),
        };
        let signable =
            SignableRequest::new(request.method().as_str(), request.uri().to_string(), headers.into_iter(), body)
                .map_err(|e| e.to_string())?;
        sign(signable, &params).map_err(|e| e.to_string())?.into_parts().0
    };
    instructions.apply_to_request_http1x(request);
    Ok(())
}

/// Maps an S3 answer that is not a success.
fn refused(op: &str, status: StatusCode) -> PortError {
    let text = format!("{op}: HTTP {}", status.as_u16());
    match status {
        StatusCode::NOT_FOUND => PortError::NotFound(text),
        StatusCode::BAD_REQUEST => PortError::Invalid(text),
        StatusCode::CONFLICT | StatusCode::PRECONDITION_FAILED => PortError::ConditionFailed,
        s if s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error() => PortError::Retryable(text),
        _ => PortError::Unexpected(text),
    }
}

/// Uploaded files as objects of one bucket.
#[derive(Clone)]
pub struct S3Uploads {
    s3: S3,
    bucket: String,
}

impl S3Uploads {
    /// Files in `bucket`, through [`S3`] with `sdk`'s credentials.
    pub fn new(sdk: &aws_config::SdkConfig, bucket: impl Into<String>) -> Self {
        Self { s3: S3::new(sdk), bucket: bucket.into() }
    }
}

#[async_trait]
impl Uploads for S3Uploads {
    async fn put_url(&self, key: &str, ttl: Duration) -> PortResult<PutUrl> {
        let url = self.s3.presign(Method::PUT, &self.bucket, key, ttl).await?;
        Ok(PutUrl { url, headers: Vec::new() })
    }

    async fn read(&self, key: &str, max_bytes: u64) -> PortResult<Upload> {
        let limit = usize::try_from(max_bytes).unwrap_or(usize::MAX);
        match self.s3.send("GetObject", Method::GET, &self.bucket, Some(key), Vec::new(), limit).await {
            Ok(answer) => Ok(Upload::File(answer.body)),
            // S3 announces an object's length; without it, the least the file can be.
            Err(S3Failure::TooLarge { length }) => Ok(Upload::TooLarge(length.unwrap_or(max_bytes.saturating_add(1)))),
            Err(S3Failure::Port(PortError::NotFound(_))) => Ok(Upload::Missing),
            Err(S3Failure::Port(e)) => Err(e),
        }
    }

    async fn delete(&self, key: &str) -> PortResult<()> {
        self.s3.send("DeleteObject", Method::DELETE, &self.bucket, Some(key), Vec::new(), SMALL_ANSWER).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use aws_credential_types::Credentials;

    use super::*;

    /// The example credentials and time of S3's Signature Version 4 documentation,
    /// with `session_token` (a Lambda function's credentials carry one).
    fn example(session_token: Option<&str>) -> (Identity, SystemTime) {
        let credentials = Credentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            session_token.map(str::to_owned),
            None,
            "example",
        );
        (credentials.into(), SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600)) // 2013-05-24T00:00:00Z
    }

    fn signed(
        session_token: Option<&str>,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        presign: Option<Duration>,
    ) -> http::Request<Vec<u8>> {
        let mut request = request(method, url, body.to_vec(), "test").unwrap();
        for (name, value) in headers {
            request
                .headers_mut()
                .insert(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
        }
        let (identity, time) = example(session_token);
        sign_request(&mut request, &identity, "us-east-1", time, presign).unwrap();
        request
    }

    fn authorization(request: &http::Request<Vec<u8>>) -> &str {
        request.headers()["authorization"].to_str().unwrap()
    }

    /// "Example: GET Object" of the header-signing documentation.
    #[test]
    fn a_get_is_signed_as_s3_documents() {
        let request = signed(
            None,
            Method::GET,
            "https://examplebucket.s3.amazonaws.com/test.txt",
            &[("range", "bytes=0-9")],
            b"",
            None,
        );
        assert!(
            authorization(&request).ends_with(
                "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
                 Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
            ),
            "{}",
            authorization(&request)
        );
        assert_eq!(
            request.headers()["x-amz-content-sha256"],
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    /// "Example: PUT Object": a key with a character to encode, and a signed body.
    #[test]
    fn a_put_with_a_body_is_signed_as_s3_documents() {
        let request = signed(
            None,
            Method::PUT,
            "https://examplebucket.s3.amazonaws.com/test%24file.text",
            &[("date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY")],
            b"Welcome to Amazon S3.",
            None,
        );
        assert!(
            authorization(&request)
                .ends_with("Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"),
            "{}",
            authorization(&request)
        );
    }

    /// The presigned URL example of the query-string documentation.
    #[test]
    fn a_presigned_url_is_signed_as_s3_documents() {
        let request = signed(
            None,
            Method::GET,
            "https://examplebucket.s3.amazonaws.com/test.txt",
            &[],
            b"",
            Some(Duration::from_secs(86_400)),
        );
        assert_eq!(
            request.uri().to_string(),
            "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
        assert!(request.headers().get("authorization").is_none());
    }

    fn s3(endpoint: Option<&str>, region: &str) -> S3 {
        S3 {
            http: textbridge_http::Client::new(ATTEMPT_TIMEOUT, MAX_RETRY_WAIT),
            credentials: None,
            region: region.into(),
            endpoint: endpoint.map(Into::into),
        }
    }

    #[test]
    fn addresses_are_virtual_hosted_on_aws_and_path_style_on_an_endpoint() {
        let aws = s3(None, "eu-west-1");
        assert_eq!(
            aws.url("imports", Some("a/test$file.text")),
            "https://imports.s3.eu-west-1.amazonaws.com/a/test%24file.text"
        );
        assert_eq!(aws.url("imports", None), "https://imports.s3.eu-west-1.amazonaws.com/");
        let local = s3(Some("http://127.0.0.1:5000"), "us-east-1");
        assert_eq!(local.url("imports", Some("a/b.csv")), "http://127.0.0.1:5000/imports/a/b.csv");
        assert_eq!(local.url("imports", None), "http://127.0.0.1:5000/imports");
    }

    #[tokio::test]
    async fn without_credentials_nothing_is_sent() {
        let failure =
            s3(Some("http://127.0.0.1:9"), "us-east-1").presign(Method::PUT, "b", "k", Duration::from_secs(60)).await;
        assert_eq!(failure, Err(PortError::Unexpected("PUT (presign): no AWS credentials".into())));
    }

    /// With a session token, as botocore (the Python SDK's signer) signs the same
    /// requests: the token in the signed query of a presigned URL, and among the
    /// signed headers of a request.
    #[test]
    fn a_session_token_is_signed_as_the_python_sdk_signs_it() {
        let token = "FQoGZXIvYXdzEXAMPLE/token+with=chars";
        let url = "https://imports.s3.us-east-1.amazonaws.com/imports/acme/3f2a.csv";
        let presigned = signed(Some(token), Method::PUT, url, &[], b"", Some(Duration::from_secs(900)));
        let query: std::collections::HashMap<String, String> =
            reqwest::Url::parse(&presigned.uri().to_string()).unwrap().query_pairs().into_owned().collect();
        assert_eq!(query["X-Amz-Security-Token"], token);
        assert_eq!(query["X-Amz-SignedHeaders"], "host");
        assert_eq!(query["X-Amz-Signature"], "ff6fb3fcba788d0076c0aa0b089123db36383fe12180ea46ec2ebe5e21a07622");

        let get = signed(Some(token), Method::GET, url, &[], b"", None);
        assert_eq!(get.headers()["x-amz-security-token"], token);
        assert!(
            authorization(&get).ends_with(
                "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, \
                 Signature=5d32bd78cbe9153c66aa7ac0498cb9c959830dc9176d4d21d5e889fe1782acb0"
            ),
            "{}",
            authorization(&get)
        );
    }

    #[test]
    fn keys_are_encoded_segment_by_segment() {
        assert_eq!(encode_key("imports/acme/3f2a.csv"), "imports/acme/3f2a.csv");
        assert_eq!(encode_key("a b/é+x~y_z-1.2"), "a%20b/%C3%A9%2Bx~y_z-1.2");
    }

    #[test]
    fn refusals_map_to_port_errors() {
        assert!(matches!(refused("GetObject", StatusCode::NOT_FOUND), PortError::NotFound(_)));
        assert!(matches!(refused("GetObject", StatusCode::SERVICE_UNAVAILABLE), PortError::Retryable(_)));
        assert!(matches!(refused("GetObject", StatusCode::FORBIDDEN), PortError::Unexpected(_)));
        assert_eq!(refused("GetObject", StatusCode::FORBIDDEN), PortError::Unexpected("GetObject: HTTP 403".into()));
    }
}
