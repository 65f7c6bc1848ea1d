//! What a person sees when a remote store is misconfigured: one line naming the store and
//! what to check, a non-zero exit, nothing committed, and never a secret.

use crate::backends::{server_var, Backend};
use crate::util::{assert_one_line_error, sample, sha256, TestEnv};

fn set(env: &mut TestEnv, key: &str, value: &str) {
    env.vars.retain(|(k, _)| k != key);
    env.vars.push((key.into(), value.into()));
}

/// Fails fast: one retry, short timeouts.
const IMPATIENT: &str = "[transfer]\nretries = 1\ntimeout_secs = 5\n";

#[test]
fn s3_wrong_secret_is_named_and_never_printed() {
    let mut env = Backend::S3.env();
    let wrong = "wrong-secret-do-not-print-4f1c";
    set(&mut env, "AWS_SECRET_ACCESS_KEY", wrong);
    let err = env.fails(&["push", "db"], &sample(1000, 1));
    assert_one_line_error(&err, "refused the credentials");
    assert!(
        err.contains("AWS_SECRET_ACCESS_KEY") && err.contains(&env.store_url),
        "{err}"
    );
    assert!(!err.contains(wrong), "the secret leaked: {err}");
    let err = env.fails(&["list"], b"");
    assert_one_line_error(&err, "refused the credentials");
}

#[test]
fn s3_missing_bucket() {
    // Read-only credentials: SeaweedFS creates a missing bucket on the first write by an
    // admin, which real S3 never does; a reader sees S3's answer, NoSuchBucket.
    let mut env = Backend::S3.env();
    set(
        &mut env,
        "AWS_ACCESS_KEY_ID",
        &server_var("S3_READONLY_ACCESS_KEY"),
    );
    set(
        &mut env,
        "AWS_SECRET_ACCESS_KEY",
        &server_var("S3_READONLY_SECRET_KEY"),
    );
    let bucket = format!("twgate-missing-{}", std::process::id());
    env.store_url = format!("s3://{bucket}/db");
    let expected = format!("bucket '{bucket}' does not exist");
    let err = env.fails(&["list"], b"");
    assert_one_line_error(&err, &expected);
    let err = env.fails(&["pull", "db"], b"");
    assert_one_line_error(&err, &expected);
}

#[test]
fn s3_unreachable_endpoint() {
    let mut env = Backend::S3.env();
    env.config(IMPATIENT);
    // A port nothing listens on: bind one, then close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    set(
        &mut env,
        "AWS_ENDPOINT_URL",
        &format!("http://127.0.0.1:{port}"),
    );
    let err = env.fails(&["push", "db"], &sample(1000, 1));
    assert_one_line_error(&err, "cannot connect to the store's endpoint");
    assert!(err.contains("AWS_ENDPOINT_URL"), "{err}");
}

#[test]
fn s3_read_only_credentials_can_list_but_not_push() {
    let writer = Backend::S3.env();
    let data = sample(200_000, 5);
    writer.push("db", &data, &[]);
    let mut reader = TestEnv::new();
    reader.store_url = writer.store_url.clone();
    reader.vars = writer.vars.clone();
    set(
        &mut reader,
        "AWS_ACCESS_KEY_ID",
        &server_var("S3_READONLY_ACCESS_KEY"),
    );
    set(
        &mut reader,
        "AWS_SECRET_ACCESS_KEY",
        &server_var("S3_READONLY_SECRET_KEY"),
    );
    assert_eq!(sha256(&reader.ok(&["pull", "db"], b"")), sha256(&data));
    let err = reader.fails(&["push", "db"], &data);
    assert_one_line_error(&err, "permission denied");
    // Still exactly one backup.
    let list: serde_json::Value =
        serde_json::from_slice(&writer.ok(&["list", "--json"], b"")).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[test]
fn s3_credentials_from_the_config_file() {
    let mut env = Backend::S3.env();
    let (id, secret) = (server_var("S3_ACCESS_KEY"), server_var("S3_SECRET_KEY"));
    env.vars
        .retain(|(k, _)| !k.starts_with("AWS_ACCESS_KEY_ID") && !k.starts_with("AWS_SECRET"));
    env.config(&format!(
        "[s3]\nendpoint = \"{}\"\nregion = \"us-east-1\"\naccess_key_id = \"{id}\"\nsecret_access_key = \"{secret}\"\n",
        server_var("S3_ENDPOINT")
    ));
    set(&mut env, "AWS_ENDPOINT_URL", "http://127.0.0.1:9"); // the file wins
    let data = sample(300_000, 6);
    let id_ = env.push("db", &data, &[]);
    assert_eq!(
        sha256(&env.ok(&["pull", &format!("db@{id_}")], b"")),
        sha256(&data)
    );
    let manifest = env.ok(&["list", "--json"], b"");
    assert!(!String::from_utf8_lossy(&manifest).contains(&secret));
}

#[test]
fn azure_connection_string_works_and_a_wrong_key_is_named() {
    let mut env = Backend::Azblob.env();
    env.vars.retain(|(k, _)| !k.starts_with("AZURE_"));
    let endpoint = server_var("AZBLOB_ENDPOINT");
    let good = format!(
        "DefaultEndpointsProtocol=http;AccountName={};AccountKey={};BlobEndpoint={endpoint};",
        server_var("AZBLOB_ACCOUNT"),
        server_var("AZBLOB_KEY")
    );
    set(&mut env, "AZURE_STORAGE_CONNECTION_STRING", &good);
    let data = sample(300_000, 7);
    env.push("db", &data, &[]);
    assert_eq!(sha256(&env.ok(&["pull", "db"], b"")), sha256(&data));

    let wrong_key = "d3Jvbmcta2V5LWRvLW5vdC1wcmludA==";
    let bad = good.replace(&server_var("AZBLOB_KEY"), wrong_key);
    set(&mut env, "AZURE_STORAGE_CONNECTION_STRING", &bad);
    let err = env.fails(&["push", "db"], &data);
    assert_one_line_error(&err, "refused the credentials");
    assert!(!err.contains(wrong_key), "the key leaked: {err}");
}

#[test]
fn azure_and_gcs_missing_containers() {
    let mut env = Backend::Azblob.env();
    env.store_url = "azblob://no-such-container/db".into();
    let err = env.fails(&["push", "db"], &sample(1000, 1));
    assert_one_line_error(&err, "container 'no-such-container' does not exist");

    let mut env = Backend::Gcs.env();
    env.store_url = "gs://no-such-bucket/db".into();
    let err = env.fails(&["push", "db"], &sample(1000, 1));
    assert_one_line_error(&err, "bucket 'no-such-bucket' does not exist");
}

#[test]
fn unusable_store_urls_are_refused() {
    let mut env = TestEnv::new();
    env.store_url = "s3://key:secret@bucket/p".into();
    let err = env.fails(&["list"], b"");
    assert_one_line_error(&err, "not in the URL");
    env.store_url = "ftp://host/p".into();
    let err = env.fails(&["list"], b"");
    assert_one_line_error(&err, "s3://BUCKET/PREFIX");
}

#[test]
fn no_credentials_at_all_is_named() {
    let mut env = Backend::Gcs.env();
    env.vars.clear();
    env.vars.push((
        "GOOGLE_APPLICATION_CREDENTIALS".into(),
        "/nonexistent/key.json".into(),
    ));
    let err = env.fails(&["list"], b"");
    assert_one_line_error(
        &err,
        "no usable credentials: set GOOGLE_APPLICATION_CREDENTIALS",
    );
}
