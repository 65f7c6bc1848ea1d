//! Google Cloud Storage (cargo feature `gcs`): the config file's `[gcs]`, then
//! `STORAGE_EMULATOR_HOST` and `GOOGLE_APPLICATION_CREDENTIALS`, then Google's
//! application-default credentials.

use super::backends::env;
use crate::config::GcsConfig;
use opendal::services;

pub(super) fn builder(bucket: &str, root: &str, config: &GcsConfig) -> services::Gcs {
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
