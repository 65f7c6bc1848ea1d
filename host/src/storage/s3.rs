//! S3 settings: the config file's `[s3]`, then the environment (`AWS_*`), then OpenDAL's
//! own chains (profiles, web identity, instance metadata); and the OpenDAL builder.

use super::backends::{env, SetupError};
use crate::config::{S3Config, Secret};
use opendal::services;

/// S3 settings after the config file and the environment have been read.
pub struct S3Resolved {
    pub endpoint: Option<String>,
    pub region: String,
    pub static_credentials: Option<(String, Secret, Option<Secret>)>,
    pub profile: Option<String>,
    pub virtual_host_style: bool,
}

pub(super) async fn resolve(
    bucket: &str,
    config: &S3Config,
    store: &str,
) -> Result<S3Resolved, SetupError> {
    let endpoint = config
        .endpoint
        .clone()
        .or_else(|| env("AWS_ENDPOINT_URL_S3"))
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .map(|e| e.trim_end_matches('/').to_string());
    let region = config
        .region
        .clone()
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"));
    let region = match (region, &endpoint) {
        (Some(region), _) => region,
        // S3-compatible servers (MinIO, SeaweedFS, Ceph) accept any region; us-east-1 is
        // what their clients conventionally sign with.
        (None, Some(_)) => "us-east-1".to_string(),
        (None, None) => services::S3::detect_region("https://s3.amazonaws.com", bucket)
            .await
            .ok_or_else(|| SetupError::Missing {
                store: store.into(),
                message: "no region: set AWS_REGION (or `region` in [s3]), or check that the bucket exists".into(),
            })?,
    };
    let static_credentials = match (&config.access_key_id, &config.secret_access_key) {
        (Some(id), Some(secret)) => {
            Some((id.clone(), secret.clone(), config.session_token.clone()))
        }
        // OpenDAL's chain: AWS_ACCESS_KEY_ID…, profiles, web identity, ECS, IMDS.
        (None, None) => None,
        _ => {
            return Err(SetupError::Missing {
                store: store.into(),
                message: "[s3] needs both access_key_id and secret_access_key, or neither".into(),
            })
        }
    };
    Ok(S3Resolved {
        endpoint,
        region,
        static_credentials,
        profile: config.profile.clone(),
        virtual_host_style: config.virtual_host_style,
    })
}

pub(super) fn builder(bucket: &str, root: &str, s3: &S3Resolved) -> services::S3 {
    let mut builder = services::S3::default()
        .bucket(bucket)
        .root(root)
        .region(&s3.region);
    if let Some(endpoint) = &s3.endpoint {
        builder = builder.endpoint(endpoint);
    }
    if let Some((id, secret, token)) = &s3.static_credentials {
        builder = builder.access_key_id(id).secret_access_key(secret.expose());
        if let Some(token) = token {
            builder = builder.session_token(token.expose());
        }
    }
    if let Some(profile) = &s3.profile {
        builder = builder.profile(profile);
    }
    if s3.virtual_host_style {
        builder = builder.enable_virtual_host_style();
    }
    builder
}
