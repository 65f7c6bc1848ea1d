//! Azure Blob Storage (cargo feature `azblob`): the config file's `[azblob]`, then
//! `AZURE_STORAGE_*` (a connection string, or an account with a key or SAS token).

use super::backends::{env, SetupError};
use crate::config::AzblobConfig;
use opendal::services;

pub(super) fn builder(
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
