//! The plugin's configuration: the parameters `url` and `user` and the secret `password`,
//! checked, with the credentials turned into an `Authorization` header value that never
//! shows up in a message or in `Debug`.

use base64::Engine as _;
use twgate_plugin_sdk::{Error, Params};

use crate::location::BaseUrl;

/// The parameters the plugin takes.
pub const PARAMS: &[&str] = &["url", "user"];
/// The secrets the plugin takes.
pub const SECRETS: &[&str] = &["password"];

/// What `connect` was told.
#[derive(Debug)]
pub struct Config {
    pub base: BaseUrl,
    pub authorization: Option<Authorization>,
}

/// An HTTP Basic `Authorization` header value. `Debug` does not show it.
pub struct Authorization(String);

impl Authorization {
    /// `Basic base64(user:password)`.
    pub fn basic(user: &str, password: &[u8]) -> Authorization {
        let mut credentials = Vec::with_capacity(user.len() + 1 + password.len());
        credentials.extend_from_slice(user.as_bytes());
        credentials.push(b':');
        credentials.extend_from_slice(password);
        let encoded = base64::engine::general_purpose::STANDARD.encode(&credentials);
        credentials.fill(0);
        Authorization(format!("Basic {encoded}"))
    }

    pub fn header_value(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Authorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authorization(<redacted>)")
    }
}

impl Config {
    /// Checks `params` and `secrets`: unknown keys, a missing or malformed `url`, a user
    /// name Basic authentication cannot carry, a password without a user.
    pub fn parse(params: &Params, secrets: &Params) -> Result<Config, Error> {
        if let Some(key) = params.first_unknown(PARAMS) {
            return Err(Error::BadConfig(format!(
                "webdav does not take a parameter '{key}' (it takes url, user)"
            )));
        }
        if let Some(key) = secrets.first_unknown(SECRETS) {
            return Err(Error::BadConfig(format!(
                "webdav does not take a secret '{key}' (it takes password)"
            )));
        }
        let url = params.get_str("url")?.ok_or_else(|| {
            Error::BadConfig(
                "parameter 'url' is required: the WebDAV collection to keep backups in, \
                 e.g. http://127.0.0.1:8080/backups"
                    .into(),
            )
        })?;
        let base = BaseUrl::parse(url)?;
        let user = params.get_str("user")?;
        if user.is_some_and(|u| u.contains(':')) {
            return Err(Error::BadConfig(
                "parameter 'user' must not contain ':' (HTTP Basic authentication cannot carry it)"
                    .into(),
            ));
        }
        let password = secrets.get("password")?;
        let authorization = match (user, password) {
            (Some(user), password) => Some(Authorization::basic(user, password.unwrap_or(b""))),
            (None, Some(_)) => {
                return Err(Error::BadConfig(
                    "the secret 'password' needs the parameter 'user'".into(),
                ))
            }
            (None, None) => None,
        };
        Ok(Config {
            base,
            authorization,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad_config(params: Params, secrets: Params) -> String {
        match Config::parse(&params, &secrets) {
            Err(Error::BadConfig(m)) => m,
            other => panic!("expected BadConfig, got {other:?}"),
        }
    }

    #[test]
    fn takes_url_user_and_password() {
        let params = Params::new()
            .with("url", "http://127.0.0.1:8080/backups")
            .with("user", "Aladdin");
        let secrets = Params::new().with("password", "open sesame");
        let config = Config::parse(&params, &secrets).unwrap();
        assert_eq!(config.base.to_string(), "http://127.0.0.1:8080/backups/");
        // RFC 7617's example.
        assert_eq!(
            config.authorization.as_ref().unwrap().header_value(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert!(!format!("{config:?}").contains("QWxhZGRp"));

        let anonymous = Config::parse(&Params::new().with("url", "https://h/"), &Params::new());
        assert!(anonymous.unwrap().authorization.is_none());
    }

    #[test]
    fn names_unknown_keys() {
        let m = bad_config(
            Params::new().with("url", "http://h/").with("bucket", "b"),
            Params::new(),
        );
        assert!(m.contains("'bucket'"), "{m}");
        let m = bad_config(
            Params::new().with("url", "http://h/"),
            Params::new().with("token", "hunter2"),
        );
        assert!(m.contains("'token'") && !m.contains("hunter2"), "{m}");
    }

    #[test]
    fn refuses_missing_url_and_lonely_password() {
        assert!(bad_config(Params::new(), Params::new()).contains("'url' is required"));
        let m = bad_config(
            Params::new().with("url", "http://h/"),
            Params::new().with("password", "hunter2"),
        );
        assert!(
            m.contains("needs the parameter 'user'") && !m.contains("hunter2"),
            "{m}"
        );
        let m = bad_config(
            Params::new().with("url", "http://h/").with("user", "a:b"),
            Params::new(),
        );
        assert!(m.contains("':'"), "{m}");
    }
}
