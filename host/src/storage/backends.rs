//! Building an OpenDAL `Operator` for a `Location`: credentials from the config file or each
//! cloud's usual environment variables, and the retry and timeout layers every remote store
//! gets.
//!
//! Precedence, per setting: the config file's `[s3]`/`[gcs]`/`[azblob]` section, then the
//! environment, then OpenDAL's own chains (AWS profiles, web identity, instance metadata;
//! Google's application-default credentials).

use super::location::Location;
use super::s3_uploads::S3Uploads;
use crate::config::{AzblobConfig, Config, GcsConfig, S3Config, TransferConfig};
use crate::runtime::{Destination, StageError};
use opendal::layers::{RetryLayer, TimeoutLayer};
use opendal::Operator;
use std::sync::Arc;
use std::time::Duration;

/// How a store is configured beyond its URL; read once, when the store is opened.
#[derive(Debug, Clone, Default)]
pub struct StoreSettings {
    pub s3: S3Config,
    pub gcs: GcsConfig,
    pub azblob: AzblobConfig,
    pub transfer: TransferConfig,
    /// How a `plugin://NAME` store connects to its plugin.
    pub plugins: Option<Arc<dyn PluginConnector>>,
}

/// Connects a `plugin://NAME` store to its destination plugin, with the caller's plugins
/// and runtime: storage knows objects, not where plugins come from. Called on a blocking
/// thread.
pub trait PluginConnector: Send + Sync + std::fmt::Debug {
    fn connect(&self, name: &str) -> Result<Destination, ConnectError>;
}

/// Why a destination plugin could not be connected.
#[derive(Debug)]
pub enum ConnectError {
    /// Not found, or its configuration is wrong: the error says what to fix.
    Find(Box<dyn std::error::Error + Send + Sync>),
    /// Found, but it refused or failed to connect.
    Connect(StageError),
}

impl StoreSettings {
    pub fn from_config(config: &Config, plugins: Arc<dyn PluginConnector>) -> StoreSettings {
        StoreSettings {
            s3: config.s3.clone(),
            gcs: config.gcs.clone(),
            azblob: config.azblob.clone(),
            transfer: config.transfer.clone(),
            plugins: Some(plugins),
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
            let s3 = super::s3::resolve(bucket, &settings.s3, &store).await?;
            uploads = Some(S3Uploads::new(&s3, bucket, prefix));
            Operator::new(super::s3::builder(bucket, &location.root(), &s3)).map_err(invalid)?
        }
        #[cfg(feature = "gcs")]
        Location::Gcs { bucket, .. } => {
            let builder = super::gcs::builder(bucket, &location.root(), &settings.gcs);
            Operator::new(builder).map_err(invalid)?
        }
        #[cfg(feature = "azblob")]
        Location::Azblob { container, .. } => {
            let builder =
                super::azblob::builder(container, &location.root(), &settings.azblob, &store)?;
            Operator::new(builder).map_err(invalid)?
        }
        #[cfg(not(all(feature = "gcs", feature = "azblob")))]
        Location::Gcs { .. } | Location::Azblob { .. } => {
            return Err(SetupError::Missing {
                store,
                message: "this twgate was built without support for this service: build it \
                          with the default features (`cargo build --release`)"
                    .into(),
            })
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

/// A variable from the environment, unless unset or empty.
pub(super) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// OpenDAL's HTTP client (reqwest over rustls with ring), installed once per process.
fn install_transport() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        opendal_http_transport_reqwest::install_default();
    });
}
