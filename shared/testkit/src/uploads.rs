//! The contract of the upload place ([`Uploads`]), run on both adapters: a URL takes
//! one PUT of a file, which reads back whole, is refused when larger than asked for,
//! and is gone once removed.

use std::{future::Future, time::Duration};

use textbridge_app::ports::{Upload, Uploads};

/// Runs the contract on `uploads`; `put` PUTs bytes to a URL with headers and
/// answers the HTTP status.
pub async fn contract<F, Fut>(uploads: &dyn Uploads, put: F)
where
    F: Fn(String, Vec<(String, String)>, Vec<u8>) -> Fut,
    Fut: Future<Output = u16>,
{
    let key = format!("imports/acme/{}", uuid::Uuid::new_v4().hyphenated());
    assert_eq!(uploads.read(&key, 1024).await.expect("read"), Upload::Missing, "nothing PUT yet");
    let file = b"First,Last,Email\nAnn,Lee,ann@acme.test\n".to_vec();
    let url = uploads.put_url(&key, Duration::from_secs(60)).await.expect("url");
    assert_eq!(put(url.url.clone(), url.headers.clone(), file.clone()).await, 200, "{}", url.url);
    assert_eq!(uploads.read(&key, 1024).await.expect("read"), Upload::File(file.clone()));
    let len = u64::try_from(file.len()).expect("len");
    assert_eq!(uploads.read(&key, len - 1).await.expect("read"), Upload::TooLarge(len), "bounded");
    assert_eq!(uploads.read(&key, 1).await.expect("read"), Upload::TooLarge(len), "its size, not the limit's");
    let other = format!("imports/globex/{}", uuid::Uuid::new_v4().hyphenated());
    assert_eq!(uploads.read(&other, 1024).await.expect("read"), Upload::Missing, "keys are apart");
    uploads.delete(&key).await.expect("delete");
    assert_eq!(uploads.read(&key, 1024).await.expect("read"), Upload::Missing, "removed");
    uploads.delete(&key).await.expect("removing nothing is fine");
}
