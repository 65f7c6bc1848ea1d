//! Where twgate keeps things by default, following the XDG base directory spec.

use std::path::PathBuf;

fn xdg(var: &str, fallback: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(dir) if !dir.is_empty() && PathBuf::from(&dir).is_absolute() => {
            Some(PathBuf::from(dir))
        }
        _ => std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(fallback)),
    }
}

/// `$XDG_DATA_HOME` or `~/.local/share`.
pub fn data_home() -> Option<PathBuf> {
    xdg("XDG_DATA_HOME", ".local/share")
}

/// `$XDG_CONFIG_HOME` or `~/.config`.
pub fn config_home() -> Option<PathBuf> {
    xdg("XDG_CONFIG_HOME", ".config")
}

/// `$XDG_CACHE_HOME` or `~/.cache`.
pub fn cache_home() -> Option<PathBuf> {
    xdg("XDG_CACHE_HOME", ".cache")
}

/// The default store: `$XDG_DATA_HOME/twgate`.
pub fn default_store() -> Option<PathBuf> {
    data_home().map(|d| d.join("twgate"))
}

/// The default configuration file: `$XDG_CONFIG_HOME/twgate/config.toml`.
pub fn default_config() -> Option<PathBuf> {
    config_home().map(|d| d.join("twgate").join("config.toml"))
}
