//! The upload place ([`Uploads`]) on S3: a presigned `PUT` URL per file, read back
//! and removed with the function's own credentials. The bucket's lifecycle rule
//! removes whatever is left behind.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::{Client, presigning::PresigningConfig};
use textbridge_app::ports::{PortError, PortResult, PutUrl, Upload, Uploads};

use crate::error::{Detail, map_sdk_error};

/// Uploaded files as objects of one bucket.
#[derive(Clone)]
pub struct S3Uploads {
    client: Client,
    bucket: String,
}

/// An S3 client made from `sdk`: path-style addresses when the endpoint is set (an
/// S3-compatible server on one host, such as moto).
pub fn s3_client(sdk: &aws_config::SdkConfig) -> Client {
    Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(sdk.endpoint_url().is_some()).build())
}

impl S3Uploads {
    /// Files in `bucket`, with [`s3_client`] of `sdk`.
    pub fn new(sdk: &aws_config::SdkConfig, bucket: impl Into<String>) -> Self {
        Self { client: s3_client(sdk), bucket: bucket.into() }
    }
}

#[async_trait]
impl Uploads for S3Uploads {
    async fn put_url(&self, key: &str, ttl: Duration) -> PortResult<PutUrl> {
        let config =
            PresigningConfig::expires_in(ttl).map_err(|e| PortError::Invalid(format!("upload expiry: {e}")))?;
        let presigned = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| map_sdk_error("PutObject (presign)", &e, Detail::CodeOnly))?;
        let headers = presigned.headers().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        Ok(PutUrl { url: presigned.uri().to_owned(), headers })
    }

    async fn read(&self, key: &str, max_bytes: u64) -> PortResult<Upload> {
        let object = match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(object) => object,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(Upload::Missing),
            Err(e) => {
                return match map_sdk_error("GetObject", &e, Detail::CodeOnly) {
                    PortError::NotFound(_) => Ok(Upload::Missing),
                    other => Err(other),
                };
            }
        };
        let size = u64::try_from(object.content_length().unwrap_or(0)).unwrap_or(0);
        if size > max_bytes {
            return Ok(Upload::TooLarge(size));
        }
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|_| PortError::Retryable("GetObject: the file could not be read to its end".into()))?
            .into_bytes();
        if bytes.len() as u64 > max_bytes {
            return Ok(Upload::TooLarge(bytes.len() as u64));
        }
        Ok(Upload::File(bytes.to_vec()))
    }

    async fn delete(&self, key: &str) -> PortResult<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| map_sdk_error("DeleteObject", &e, Detail::CodeOnly))?;
        Ok(())
    }
}
