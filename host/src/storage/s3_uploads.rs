//! S3 multipart uploads that were never completed or aborted (a push killed with SIGKILL,
//! a machine lost mid-upload). They are invisible, yet S3 bills their parts until they are
//! aborted. OpenDAL aborts the uploads it knows about but cannot list them, so this module
//! speaks the two S3 calls it needs, `ListMultipartUploads` and `AbortMultipartUpload`,
//! signed by reqsign with the same credentials OpenDAL uses.

use super::s3::S3Resolved;
use super::{Op, StorageError, Store};
use bytes::Bytes;
use jiff::Timestamp;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqsign_aws_v4::{
    Credential, DefaultCredentialProvider, RequestSigner, StaticCredentialProvider,
};
use reqsign_core::{Context, OsEnv, ProvideCredentialChain, Signer};
use serde::Deserialize;

/// Characters SigV4 leaves unencoded: RFC 3986 unreserved.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
const UNRESERVED_AND_SLASH: &AsciiSet = &UNRESERVED.remove(b'/');

/// The pieces needed to call S3 directly for one bucket and prefix.
pub struct S3Uploads {
    ctx: Context,
    signer: Signer<Credential>,
    /// `scheme://host[:port]/bucket` (path style) or `scheme://bucket.host` (virtual host).
    bucket_url: String,
    /// The store's prefix inside the bucket, `""` or `a/b/`.
    prefix: String,
}

/// One unfinished upload, with its path relative to the store's root.
pub struct PendingUpload {
    pub path: String,
    pub upload_id: String,
    pub initiated: Option<Timestamp>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListResult {
    #[serde(default)]
    upload: Vec<Upload>,
    #[serde(default)]
    is_truncated: bool,
    next_key_marker: Option<String>,
    next_upload_id_marker: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Upload {
    key: String,
    upload_id: String,
    initiated: Option<String>,
}

impl S3Uploads {
    pub fn new(resolved: &S3Resolved, bucket: &str, prefix: &str) -> S3Uploads {
        let ctx = Context::new()
            .with_file_read(reqsign_file_read_tokio::TokioFileRead)
            .with_env(OsEnv)
            .with_http_send(opendal::HttpTransporter::default());
        let mut chain = ProvideCredentialChain::new();
        if let Some((id, secret, token)) = &resolved.static_credentials {
            let mut provider = StaticCredentialProvider::new(id, secret.expose());
            if let Some(token) = token {
                provider = provider.with_session_token(token.expose());
            }
            chain = chain.push(provider);
        }
        let mut default = DefaultCredentialProvider::builder();
        if let Some(profile) = &resolved.profile {
            default = default.with_profile(profile);
        }
        chain = chain.push(default.build());
        let signer = Signer::new(
            ctx.clone(),
            chain,
            RequestSigner::new("s3", &resolved.region),
        );
        let endpoint = resolved
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", resolved.region));
        let endpoint = endpoint.trim_end_matches('/');
        let bucket_url = match (resolved.virtual_host_style, endpoint.split_once("://")) {
            (true, Some((scheme, host))) => format!("{scheme}://{bucket}.{host}"),
            _ => format!("{endpoint}/{bucket}"),
        };
        let prefix = prefix.trim_matches('/');
        S3Uploads {
            ctx,
            signer,
            bucket_url,
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
        }
    }

    async fn call(&self, method: http::Method, url: String) -> Result<Bytes, opendal::Error> {
        let request = http::Request::builder()
            .method(method)
            .uri(url)
            .header("x-amz-content-sha256", reqsign_aws_v4::EMPTY_STRING_SHA256)
            .body(Bytes::new())
            .map_err(|e| opendal::Error::new(opendal::ErrorKind::Unexpected, e.to_string()))?;
        let (mut parts, body) = request.into_parts();
        self.signer.sign(&mut parts, None).await.map_err(|e| {
            opendal::Error::new(
                opendal::ErrorKind::PermissionDenied,
                "cannot sign the request",
            )
            .set_source(anyhow::anyhow!("{e}"))
        })?;
        let response = self
            .ctx
            .http_send(http::Request::from_parts(parts, body))
            .await
            .map_err(|e| {
                opendal::Error::new(opendal::ErrorKind::Unexpected, "error sending request")
                    .set_source(anyhow::anyhow!("{e}"))
                    .set_temporary()
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response.into_body());
        }
        let kind = match status.as_u16() {
            401 | 403 => opendal::ErrorKind::PermissionDenied,
            404 => opendal::ErrorKind::NotFound,
            429 => opendal::ErrorKind::RateLimited,
            _ => opendal::ErrorKind::Unexpected,
        };
        // The body is S3's XML error: `<Code>` feeds the hint; nothing from the request.
        Err(opendal::Error::new(
            kind,
            String::from_utf8_lossy(response.body()).into_owned(),
        ))
    }

    async fn list(&self) -> Result<Vec<PendingUpload>, opendal::Error> {
        let mut found = Vec::new();
        let mut markers: Option<(String, String)> = None;
        loop {
            let mut url = format!(
                "{}?prefix={}&uploads=",
                self.bucket_url,
                utf8_percent_encode(&self.prefix, UNRESERVED)
            );
            if let Some((key, id)) = &markers {
                url = format!(
                    "{}?key-marker={}&prefix={}&upload-id-marker={}&uploads=",
                    self.bucket_url,
                    utf8_percent_encode(key, UNRESERVED),
                    utf8_percent_encode(&self.prefix, UNRESERVED),
                    utf8_percent_encode(id, UNRESERVED)
                );
            }
            let body = self.call(http::Method::GET, url).await?;
            let page: ListResult = quick_xml::de::from_reader(body.as_ref()).map_err(|e| {
                opendal::Error::new(
                    opendal::ErrorKind::Unexpected,
                    format!("cannot parse ListMultipartUploads: {e}"),
                )
            })?;
            for upload in page.upload {
                let Some(path) = upload.key.strip_prefix(&self.prefix) else {
                    continue;
                };
                found.push(PendingUpload {
                    path: path.to_string(),
                    upload_id: upload.upload_id,
                    initiated: upload.initiated.and_then(|t| t.parse().ok()),
                });
            }
            match (
                page.is_truncated,
                page.next_key_marker,
                page.next_upload_id_marker,
            ) {
                (true, Some(key), Some(id)) => markers = Some((key, id)),
                _ => return Ok(found),
            }
        }
    }

    async fn abort(&self, path: &str, upload_id: &str) -> Result<(), opendal::Error> {
        let key = format!("{}{path}", self.prefix);
        let url = format!(
            "{}/{}?uploadId={}",
            self.bucket_url,
            utf8_percent_encode(&key, UNRESERVED_AND_SLASH),
            utf8_percent_encode(upload_id, UNRESERVED)
        );
        match self.call(http::Method::DELETE, url).await {
            // Already completed or aborted: nothing left to do.
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(()),
            other => other.map(|_| ()),
        }
    }
}

impl Store {
    /// Unfinished S3 multipart uploads under this store's prefix; empty for other stores.
    pub async fn pending_uploads(&self) -> Result<Vec<PendingUpload>, StorageError> {
        match &self.s3_uploads {
            None => Ok(Vec::new()),
            Some(s3) => s3
                .list()
                .await
                .map_err(|e| self.err(Op::ListUploads, "/", e)),
        }
    }

    /// Aborts one unfinished S3 multipart upload, freeing its parts.
    pub async fn abort_upload(&self, path: &str, upload_id: &str) -> Result<(), StorageError> {
        match &self.s3_uploads {
            None => Ok(()),
            Some(s3) => s3
                .abort(path, upload_id)
                .await
                .map_err(|e| self.err(Op::AbortUpload, path, e)),
        }
    }
}
