//! Building an OpenDAL `Operator` for a `Location`: credentials from the config file or each
//! cloud's usual environment variables, and the retry and timeout layers every remote store
//! gets.
//!
//! Precedence, per setting: the config file's `[s3]`/`[gcs]`/`[azblob]` section, then the
//! environment, then OpenDAL's own chains (AWS profiles, web identity, instance metadata;
//! Google's application-default credentials).

use super::location::Location;
use super::s3_uploads::S3Uploads;
use crate::config::{AzblobConfig, Config, GcsConfig, S3Config, Secret, TransferConfig};
use crate::plugin::Catalog;
use opendal::layers::{RetryLayer, TimeoutLayer};
use opendal::{services, Operator};
use std::time::Duration;

/// How a store is configured beyond its URL; read once, when the store is opened.
#[derive(Debug, Clone, Default)]
pub struct StoreSettings {
    pub s3: S3Config,
    pub gcs: GcsConfig,
    pub azblob: AzblobConfig,
    pub transfer: TransferConfig,
    /// Where a `plugin://NAME` store finds its plugin.
    pub catalog: Option<Catalog>,
}

impl StoreSettings {
    pub fn from_config(config: &Config, catalog: Catalog) -> StoreSettings {
        StoreSettings {
            s3: config.s3.clone(),
            gcs: config.gcs.clone(),
            azblob: config.azblob.clone(),
            transfer: config.transfer.clone(),
            catalog: Some(catalog),
        }
    }
}

/// The tuning every remote transfer uses, with defaults filled in.
#[derive(Debug, Clone, Copy)]
pub struct Transfer {
    /// The first part's size; later parts grow with the stream (see `upload`).
    pub part_size: usize,
    /// Parts in flight while writing; ranges read ahead while reading.
    pub concurrency: usize,
    pub retries: usize,
    pub timeout: Duration,
}

impl Transfer {
    pub fn from_config(config: &TransferConfig) -> Transfer {
        Transfer {
            part_size: (config.part_size_mib.unwrap_or(8).clamp(5, 4000) << 20) as usize,
            concurrency: config.concurrency.unwrap_or(4).clamp(1, 64),
            retries: config.retries.unwrap_or(4),
            timeout: Duration::from_secs(config.timeout_secs.unwrap_or(60).max(1)),
        }
    }
}

/// Why a remote store cannot be set up; each names what to set.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("store {store}: {message}")]
    Missing { store: String, message: String },
    #[error("store {store}: {error}")]
    Invalid {
        store: String,
        error: opendal::Error,
    },
}

/// An operator for a remote location (`Location::Fs` is opened by the caller), and for
/// S3 the direct client for unfinished multipart uploads.
pub async fn remote_operator(
    location: &Location,
    settings: &StoreSettings,
    transfer: &Transfer,
) -> Result<(Operator, Option<S3Uploads>), SetupError> {
    install_transport();
    let store = location.to_string();
    let invalid = |source| SetupError::Invalid {
        store: store.clone(),
        error: source,
    };
    let mut uploads = None;
    let op = match location {
        Location::Fs { .. } | Location::Plugin { .. } => {
            unreachable!("local and plugin stores are opened by Store::open")
        }
        Location::S3 { bucket, prefix } => {
            let s3 = resolve_s3(bucket, &settings.s3, &store).await?;
            uploads = Some(S3Uploads::new(&s3, bucket, prefix));
            Operator::new(s3_builder(bucket, &location.root(), &s3)).map_err(invalid)?
        }
        Location::Gcs { bucket, .. } => {
            let builder = gcs_builder(bucket, &location.root(), &settings.gcs);
            Operator::new(builder).map_err(invalid)?
        }
        Location::Azblob { container, .. } => {
            let builder = azblob_builder(container, &location.root(), &settings.azblob, &store)?;
            Operator::new(builder).map_err(invalid)?
        }
    };
    Ok((with_layers(op, transfer), uploads))
}

/// Timeouts turn a stalled connection into a temporary error; retries (outermost) retry
/// temporary errors only, with jittered exponential backoff, and say so on stderr.
fn with_layers(op: Operator, transfer: &Transfer) -> Operator {
    op.layer(
        TimeoutLayer::new()
            .with_timeout(transfer.timeout)
            .with_io_timeout(transfer.timeout),
    )
    .layer(
        RetryLayer::new()
            .with_max_times(transfer.retries)
            .with_jitter()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(10))
            .with_notify(|event: opendal::layers::RetryEvent<'_>| {
                crate::ui::warn(&format!(
                    "store: retrying {} in {:.1}s (attempt {}) after: {}",
                    event.op,
                    event.retry_after.as_secs_f64(),
                    event.attempt,
                    super::errors::summary(event.err)
                ));
            }),
    )
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// S3 settings after the config file and the environment have been read.
pub struct S3Resolved {
    pub endpoint: Option<String>,
    pub region: String,
    pub static_credentials: Option<(String, Secret, Option<Secret>)>,
    pub profile: Option<String>,
    pub virtual_host_style: bool,
}

async fn resolve_s3(
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

fn s3_builder(bucket: &str, root: &str, s3: &S3Resolved) -> services::S3 {
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

fn gcs_builder(bucket: &str, root: &str, config: &GcsConfig) -> services::Gcs {
    let mut builder = services::Gcs::default().bucket(bucket).root(root);
    // STORAGE_EMULATOR_HOST is the Google client libraries' switch for emulators: talk to it
    // without credentials.
    let emulator = env("STORAGE_EMULATOR_HOST").map(|host| {
        if host.contains("://") {
            host
        } else {
            format!("http://{host}")
        }
    });
    if let Some(endpoint) = config.endpoint.clone().or_else(|| emulator.clone()) {
        builder = builder.endpoint(endpoint.trim_end_matches('/'));
    }
    if config.anonymous || (config.endpoint.is_none() && emulator.is_some()) {
        builder = builder.skip_signature().disable_vm_metadata();
    }
    let credential_path = config
        .credential_path
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned())
        .or_else(|| env("GOOGLE_APPLICATION_CREDENTIALS"));
    if let Some(path) = credential_path {
        builder = builder.credential_path(&path);
    }
    builder
}

fn azblob_builder(
    container: &str,
    root: &str,
    config: &AzblobConfig,
    store: &str,
) -> Result<services::Azblob, SetupError> {
    let connection_string = config
        .connection_string
        .as_ref()
        .map(|s| s.expose().to_string())
        .or_else(|| env("AZURE_STORAGE_CONNECTION_STRING"));
    let mut builder = match connection_string {
        Some(conn) => {
            services::Azblob::from_connection_string(&conn).map_err(|_| SetupError::Missing {
                store: store.into(),
                // The parser's message may quote the string, which holds the key.
                message: "the Azure connection string cannot be parsed: check AZURE_STORAGE_CONNECTION_STRING or connection_string in [azblob]".into(),
            })?
        }
        None => {
            let account = config
                .account
                .clone()
                .or_else(|| env("AZURE_STORAGE_ACCOUNT"))
                .ok_or_else(|| SetupError::Missing {
                    store: store.into(),
                    message: "no Azure storage account: set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY (or `account` and `key` in [azblob])".into(),
                })?;
            let endpoint = config
                .endpoint
                .clone()
                .or_else(|| env("AZURE_STORAGE_ENDPOINT"))
                .unwrap_or_else(|| format!("https://{account}.blob.core.windows.net"));
            let mut builder = services::Azblob::default()
                .account_name(&account)
                .endpoint(endpoint.trim_end_matches('/'));
            let key = config
                .key
                .as_ref()
                .map(|k| k.expose().to_string())
                .or_else(|| env("AZURE_STORAGE_KEY"));
            let sas = config
                .sas_token
                .as_ref()
                .map(|k| k.expose().to_string())
                .or_else(|| env("AZURE_STORAGE_SAS_TOKEN"));
            if let Some(key) = key {
                builder = builder.account_key(&key);
            } else if let Some(sas) = sas {
                builder = builder.sas_token(&sas);
            }
            builder
        }
    };
    if let (Some(endpoint), Some(_)) = (&config.endpoint, &config.connection_string) {
        builder = builder.endpoint(endpoint.trim_end_matches('/'));
    }
    Ok(builder.container(container).root(root))
}

/// OpenDAL's HTTP client (reqwest over rustls with ring), installed once per process.
fn install_transport() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        opendal_http_transport_reqwest::install_default();
    });
}
