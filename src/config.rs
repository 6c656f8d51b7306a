//! Settings from environment variables, validated once at start. Every problem is reported at
//! once, with the variable it concerns.

use std::path::{Path, PathBuf};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use rand::RngCore;

use crate::db::DatabaseUrl;
pub use crate::services::open_data::OpenDataSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Clone)]
pub struct JwtSettings {
    pub algorithm: Algorithm,
    pub decoding_key: DecodingKey,
    /// Present for HS256; with RS256 tokens come from the external identity provider.
    pub encoding_key: Option<EncodingKey>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

#[derive(Clone)]
pub struct Config {
    pub environment: Environment,
    pub database: DatabaseUrl,
    pub bind: String,
    /// Where `/metrics` is served alone (`COFUND_METRICS_BIND`); none: on `bind` with the API.
    pub metrics_bind: Option<String>,
    pub jwt: JwtSettings,
    /// HMAC key for pseudonymising participant references.
    pub pseudonym_key: Vec<u8>,
    /// Outgoing mail: the relay, the sender, the worker's pace.
    pub mail: crate::notify::MailSettings,
    /// Database connections per process.
    pub db_pool_size: u32,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// HTTP worker threads (default: one per core).
    pub workers: Option<usize>,
    /// The time the application acts at (the system clock but in tests).
    pub clock: crate::clock::Clock,
    /// What open data publishes, and how often it is rebuilt.
    pub open_data: OpenDataSettings,
    /// Which bulk requests run as jobs, and whether this process runs them.
    pub jobs: JobSettings,
}

/// Long bulk work as jobs (see `services::jobs`).
#[derive(Debug, Clone)]
pub struct JobSettings {
    /// A bulk file of more rows than this, or a verification of more claims, runs as a job
    /// (`COFUND_JOB_ROWS`).
    pub rows: usize,
    /// Whether this process runs jobs (a worker looks for them every second).
    pub run: bool,
}

/// The default size beyond which bulk work runs as a job.
pub const DEFAULT_JOB_ROWS: usize = 100_000;

impl Default for JobSettings {
    fn default() -> JobSettings {
        JobSettings {
            rows: DEFAULT_JOB_ROWS,
            run: true,
        }
    }
}

/// The default wait before a quarter is published: one more quarter for its claims to come
/// in and be verified.
pub const DEFAULT_OPEN_DATA_CLOSE_AFTER_DAYS: u32 = 92;
/// The longest wait accepted: ten years.
pub const MAX_OPEN_DATA_CLOSE_AFTER_DAYS: u32 = 3_653;

impl Default for OpenDataSettings {
    fn default() -> OpenDataSettings {
        OpenDataSettings {
            k: DEFAULT_OPEN_DATA_K,
            licence: Default::default(),
            refresh: Some(std::time::Duration::from_secs(300)),
            close_after_days: DEFAULT_OPEN_DATA_CLOSE_AFTER_DAYS,
        }
    }
}

pub const DEFAULT_OPEN_DATA_K: i64 = 5;
/// The largest threshold accepted: beyond it almost every cell of a real project is withheld.
pub const MAX_OPEN_DATA_K: i64 = 100;

impl OpenDataSettings {
    fn from_env(errors: &mut Vec<String>) -> OpenDataSettings {
        let mut settings = OpenDataSettings::default();
        if let Some(k) = var("COFUND_OPEN_DATA_K") {
            match k.parse::<i64>() {
                Ok(k) if (2..=MAX_OPEN_DATA_K).contains(&k) => settings.k = k,
                _ => errors.push(format!(
                    "COFUND_OPEN_DATA_K must be a whole number from 2 to {MAX_OPEN_DATA_K} (counts below it are withheld)"
                )),
            }
        }
        if let Some(name) = var("COFUND_OPEN_DATA_LICENCE") {
            use crate::domain::open_data::package::{Licence, LICENCES};
            match Licence::by_name(&name) {
                Some(licence) => settings.licence = licence,
                None => errors.push(format!(
                    "COFUND_OPEN_DATA_LICENCE must be one of {}",
                    LICENCES.map(|l| l.name).join(", ")
                )),
            }
        }
        if let Some(days) = var("COFUND_OPEN_DATA_CLOSE_AFTER_DAYS") {
            match days.parse::<u32>() {
                Ok(d) if d <= MAX_OPEN_DATA_CLOSE_AFTER_DAYS => settings.close_after_days = d,
                _ => errors.push(format!(
                    "COFUND_OPEN_DATA_CLOSE_AFTER_DAYS must be a whole number of days from 0 to {MAX_OPEN_DATA_CLOSE_AFTER_DAYS} (a quarter is published that long after it ends)"
                )),
            }
        }
        if let Some(seconds) = var("COFUND_OPEN_DATA_REFRESH_SECONDS") {
            match seconds.parse::<u64>() {
                Ok(0) => settings.refresh = None,
                Ok(s) => settings.refresh = Some(std::time::Duration::from_secs(s)),
                Err(_) => errors.push(
                    "COFUND_OPEN_DATA_REFRESH_SECONDS must be a whole number of seconds (0: never on a timer)".into(),
                ),
            }
        }
        settings
    }
}

/// Where development-only secrets are kept between runs, so that tokens minted by
/// `cofund token` keep working after a restart.
const DEV_SECRET_DIR: &str = "./data";
const MIN_SECRET_BYTES: usize = 32;

fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

impl Config {
    pub fn from_env() -> Result<Config, Vec<String>> {
        let mut errors = Vec::new();
        let environment = environment_from_env(&mut errors);
        let database = DatabaseUrl::parse(var("DATABASE_URL").as_deref());
        let (bind, metrics_bind) = addresses_from_env(&mut errors);
        let (jwt, jwt_secret) = jwt_from_env(environment, &mut errors);
        let pseudonym_key = pseudonym_key_from_env(environment, &mut errors);
        if environment == Environment::Production {
            errors.extend(weak_secrets(jwt_secret.as_deref(), &pseudonym_key));
            warn_of_a_weak_pseudonym_key(&pseudonym_key);
        }
        let mail = mail_from_env(environment, &bind, &mut errors);
        let db_pool_size = pool_size_from_env(&mut errors);
        let open_data = OpenDataSettings::from_env(&mut errors);
        let jobs = jobs_from_env(&mut errors);
        match (errors.is_empty(), jwt) {
            (true, Some(jwt)) => Ok(Config {
                environment,
                database,
                bind,
                metrics_bind,
                jwt,
                pseudonym_key,
                mail,
                db_pool_size,
                max_body_bytes: 64 * 1024 * 1024,
                workers: None,
                clock: crate::clock::Clock::system(),
                open_data,
                jobs,
            }),
            _ => Err(errors),
        }
    }
}

/// `COFUND_ENV`: development (the default) or production.
fn environment_from_env(errors: &mut Vec<String>) -> Environment {
    match var("COFUND_ENV").as_deref() {
        None | Some("development") => Environment::Development,
        Some("production") => Environment::Production,
        Some(other) => {
            errors.push(format!(
                "COFUND_ENV must be 'development' or 'production', not '{other}'"
            ));
            Environment::Development
        }
    }
}

/// `COFUND_BIND` (the API's address) and `COFUND_METRICS_BIND` (`/metrics` alone, if set).
fn addresses_from_env(errors: &mut Vec<String>) -> (String, Option<String>) {
    let bind = var("COFUND_BIND").unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    if bind.parse::<std::net::SocketAddr>().is_err() {
        errors.push(format!(
            "COFUND_BIND must be an address such as 127.0.0.1:8080, not '{bind}'"
        ));
    }
    let metrics_bind = var("COFUND_METRICS_BIND");
    if let Some(address) = &metrics_bind {
        if address.parse::<std::net::SocketAddr>().is_err() {
            errors.push(format!(
                "COFUND_METRICS_BIND must be an address such as 127.0.0.1:9090, not '{address}'"
            ));
        }
    }
    (bind, metrics_bind)
}

/// How tokens are checked: a shared secret, or an identity provider's RSA public key; a
/// generated secret in development. Also the shared secret itself, to be checked for strength.
fn jwt_from_env(
    environment: Environment,
    errors: &mut Vec<String>,
) -> (Option<JwtSettings>, Option<Vec<u8>>) {
    let secret = secret_from("COFUND_JWT_SECRET", "COFUND_JWT_SECRET_FILE", errors);
    let public_key = var("COFUND_JWT_PUBLIC_KEY_FILE").and_then(|path| {
        std::fs::read(&path)
            .map_err(|e| errors.push(format!("COFUND_JWT_PUBLIC_KEY_FILE {path}: {e}")))
            .ok()
    });
    let issuer = var("COFUND_JWT_ISSUER");
    let audience = var("COFUND_JWT_AUDIENCE");
    if public_key.as_deref().is_some_and(holds_a_private_key) {
        errors.push("COFUND_JWT_PUBLIC_KEY_FILE holds a private key: give cofund the public key only (openssl rsa -in key.pem -pubout -out public.pem), and keep the private key with whoever signs the tokens".into());
    }
    let jwt_secret = secret.clone();
    let jwt = match (secret, public_key) {
        (Some(_), Some(_)) => {
            errors.push(
                "set either COFUND_JWT_SECRET(_FILE) or COFUND_JWT_PUBLIC_KEY_FILE, not both"
                    .into(),
            );
            None
        }
        (None, Some(pem)) => match DecodingKey::from_rsa_pem(&pem) {
            Ok(key) => Some(JwtSettings {
                algorithm: Algorithm::RS256,
                decoding_key: key,
                encoding_key: None,
                issuer: issuer.clone(),
                audience: audience.clone(),
            }),
            Err(e) => {
                errors.push(format!(
                    "COFUND_JWT_PUBLIC_KEY_FILE is not an RSA public key in PEM: {e}"
                ));
                None
            }
        },
        (Some(secret), None) => Some(JwtSettings::hs256(
            &secret,
            issuer.clone(),
            audience.clone(),
        )),
        (None, None) if environment == Environment::Production => {
            errors.push("COFUND_ENV=production needs COFUND_JWT_SECRET, COFUND_JWT_SECRET_FILE or COFUND_JWT_PUBLIC_KEY_FILE; a generated development secret is refused".into());
            None
        }
        (None, None) => dev_secret("jwt-secret")
            .map_err(|e| errors.push(e))
            .ok()
            .map(|secret| JwtSettings::hs256(&secret, issuer.clone(), audience.clone())),
    };
    (jwt, jwt_secret)
}

/// The key participant references are pseudonymised with; generated in development only.
fn pseudonym_key_from_env(environment: Environment, errors: &mut Vec<String>) -> Vec<u8> {
    match secret_from("COFUND_PSEUDONYM_KEY", "COFUND_PSEUDONYM_KEY_FILE", errors) {
        Some(key) => key,
        None if environment == Environment::Production => {
            errors.push("COFUND_ENV=production needs COFUND_PSEUDONYM_KEY or COFUND_PSEUDONYM_KEY_FILE: pseudonyms must stay stable and secret".into());
            Vec::new()
        }
        None => dev_secret("pseudonym-key").unwrap_or_else(|e| {
            errors.push(e);
            Vec::new()
        }),
    }
}

/// `COFUND_DB_POOL_SIZE`: connections per process, 1 to 256 (default 8).
fn pool_size_from_env(errors: &mut Vec<String>) -> u32 {
    match var("COFUND_DB_POOL_SIZE").map(|v| v.parse::<u32>()) {
        None => 8,
        Some(Ok(n)) if (1..=256).contains(&n) => n,
        Some(_) => {
            errors.push("COFUND_DB_POOL_SIZE must be a whole number from 1 to 256".into());
            8
        }
    }
}

/// `COFUND_JOB_ROWS`: bulk requests of more rows run as jobs.
fn jobs_from_env(errors: &mut Vec<String>) -> JobSettings {
    let mut jobs = JobSettings::default();
    match var("COFUND_JOB_ROWS").map(|v| v.parse::<usize>()) {
        None => {}
        Some(Ok(n)) if (1..=200_000).contains(&n) => jobs.rows = n,
        Some(_) => errors.push(
            "COFUND_JOB_ROWS must be a whole number from 1 to 200000 (bulk requests of more rows run as jobs)".into(),
        ),
    }
    jobs
}

/// Outgoing mail: the relay and how to reach it, the sender, and the address links point at.
fn mail_from_env(
    environment: Environment,
    bind: &str,
    errors: &mut Vec<String>,
) -> crate::notify::MailSettings {
    let relay = var("COFUND_SMTP_URL").and_then(|url| {
        crate::notify::SmtpRelay::parse(&url)
            .map_err(|e| errors.push(e))
            .ok()
    });
    let mail_from = var("COFUND_MAIL_FROM");
    if relay.is_some() && mail_from.is_none() {
        errors.push("COFUND_SMTP_URL is set but COFUND_MAIL_FROM is not".into());
    }
    if let Some(from) = &mail_from {
        if from.parse::<lettre::message::Mailbox>().is_err() {
            errors
                .push("COFUND_MAIL_FROM must be an address such as cofund@fund.example.org".into());
        }
    }
    let ca_pem = var("COFUND_SMTP_CA_FILE").and_then(|path| {
        std::fs::read(&path)
            .map_err(|e| errors.push(format!("COFUND_SMTP_CA_FILE {path}: {e}")))
            .ok()
    });
    errors.extend(relay_problems(relay.as_ref(), ca_pem.as_deref()));
    let public_url = match var("COFUND_PUBLIC_URL") {
        Some(url) => match parse_public_url(&url, environment) {
            Ok(url) => url,
            Err(e) => {
                errors.push(e);
                String::new()
            }
        },
        None if environment == Environment::Production && relay.is_some() => {
            errors.push("COFUND_ENV=production with COFUND_SMTP_URL needs COFUND_PUBLIC_URL, the address people reach cofund at (such as https://cofund.fund.example.org), so that links in emails work".into());
            String::new()
        }
        None => format!("http://{bind}"),
    };
    crate::notify::MailSettings {
        relay,
        from: mail_from,
        ca_pem,
        public_url,
        ..Default::default()
    }
}

/// What would send mail less safely than configured: a password in plain text to another host,
/// a CA file that TLS would not use, or one that holds no certificate.
fn relay_problems(relay: Option<&crate::notify::SmtpRelay>, ca_pem: Option<&[u8]>) -> Vec<String> {
    use crate::notify::RelaySecurity;
    let mut problems = Vec::new();
    let plain = relay.is_some_and(|r| r.security == RelaySecurity::Plain);
    if let Some(relay) = relay.filter(|r| r.credentials.is_some() && plain) {
        let local = ["127.0.0.1", "localhost", "::1", "[::1]"].contains(&relay.host.as_str());
        if !local {
            problems.push(format!("COFUND_SMTP_URL would send its password in plain text to {}: use smtps:// or smtp+starttls://", relay.host));
        }
    }
    if let Some(pem) = ca_pem {
        if relay.is_none() || plain {
            problems.push("COFUND_SMTP_CA_FILE is set but COFUND_SMTP_URL asks for no TLS (smtps:// or smtp+starttls://)".into());
        }
        let text = String::from_utf8_lossy(pem);
        if !text.contains("-----BEGIN CERTIFICATE-----") {
            problems.push(
                "COFUND_SMTP_CA_FILE holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
            );
        }
    }
    problems
}

/// `COFUND_PUBLIC_URL`: an address people reach cofund at, without its trailing slash. Emails
/// tell people to open its links with their token, so in production it must be https; it
/// carries no credentials, query or fragment, and nothing a link in plain-text mail cannot.
fn parse_public_url(url: &str, environment: Environment) -> Result<String, String> {
    let problem = |why: &str| {
        format!("COFUND_PUBLIC_URL must be an address such as https://cofund.fund.example.org ({why}), not '{url}'")
    };
    let rest = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => rest,
        (None, Some(_)) if environment == Environment::Production => {
            return Err(problem(
                "https in production: emails send people's tokens to it",
            ))
        }
        (None, Some(rest)) => rest,
        (None, None) => return Err(problem("http:// or https://")),
    };
    let authority = rest.split('/').next().unwrap_or("");
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~/:[]%".contains(c);
    if authority.is_empty() || authority.starts_with(':') {
        return Err(problem("a host"));
    }
    if !rest.chars().all(allowed) {
        return Err(problem(
            "a host, a port and a path only: no user, query, fragment or spaces",
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod public_url_tests {
    use super::*;

    #[test]
    fn public_urls_are_plain_addresses_and_https_in_production() {
        let dev = Environment::Development;
        assert_eq!(
            parse_public_url("https://cofund.example.org/", dev).as_deref(),
            Ok("https://cofund.example.org")
        );
        assert!(parse_public_url("http://127.0.0.1:8080", dev).is_ok());
        assert!(parse_public_url("https://cofund.example.org/funds", dev).is_ok());
        for bad in [
            "https://",
            "ftp://cofund.example.org",
            "https://user:secret@cofund.example.org",
            "https://cofund.example.org/?a=b",
            "https://cofund.example.org/#x",
            "https://cofund.example.org/<x>",
            "https://:8080",
            "https://cofund example.org",
        ] {
            assert!(parse_public_url(bad, dev).is_err(), "{bad}");
        }
        let production = Environment::Production;
        assert!(parse_public_url("http://cofund.example.org", production).is_err());
        assert!(parse_public_url("https://cofund.example.org", production).is_ok());
    }

    #[test]
    fn mail_is_never_configured_less_safely_than_it_looks() {
        let relay = |url: &str| crate::notify::SmtpRelay::parse(url).unwrap();
        let pem = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        assert!(relay_problems(Some(&relay("smtp://u:p@relay.example")), None).len() == 1);
        assert!(relay_problems(Some(&relay("smtp://u:p@127.0.0.1:2525")), None).is_empty());
        assert!(relay_problems(Some(&relay("smtps://u:p@relay.example")), Some(pem)).is_empty());
        assert_eq!(
            relay_problems(Some(&relay("smtp://relay.example")), Some(pem)).len(),
            1
        );
        assert_eq!(
            relay_problems(Some(&relay("smtps://relay.example")), Some(b"junk")).len(),
            1
        );
    }
}

impl JwtSettings {
    pub fn hs256(secret: &[u8], issuer: Option<String>, audience: Option<String>) -> JwtSettings {
        JwtSettings {
            algorithm: Algorithm::HS256,
            decoding_key: DecodingKey::from_secret(secret),
            encoding_key: Some(EncodingKey::from_secret(secret)),
            issuer,
            audience,
        }
    }
}

/// Secrets must look random: this many bits, estimated as below.
const MIN_SECRET_BITS: f64 = 128.0;

/// A secret's estimated entropy in bits: its length times the Shannon entropy of its own
/// characters' frequencies. It cannot tell a random secret from a well-mixed guessable one,
/// but it catches the repeated and short ones (`aaaa…`, `changeme` repeated). It
/// underestimates a short random one (`openssl rand -hex 16`, 128 bits, reads about 116):
/// `openssl rand -base64 48` reads about 330.
fn estimated_bits(secret: &[u8]) -> f64 {
    let mut counts = [0usize; 256];
    for &byte in secret {
        counts[usize::from(byte)] += 1;
    }
    let n = secret.len() as f64;
    let per_character: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum();
    per_character * n
}

/// What production refuses of the secrets: a signing secret that does not look random, and
/// the same secret for signing tokens and for pseudonyms (one leak would give away both).
fn weak_secrets(jwt_secret: Option<&[u8]>, pseudonym_key: &[u8]) -> Vec<String> {
    let advice = "generate one with: openssl rand -base64 48";
    let mut problems = Vec::new();
    if let Some(secret) = jwt_secret {
        let bits = estimated_bits(secret);
        if bits < MIN_SECRET_BITS {
            problems.push(format!(
                "COFUND_JWT_SECRET does not look random (about {bits:.0} bits of estimated entropy; at least {MIN_SECRET_BITS:.0} are needed): {advice}"
            ));
        }
    }
    if jwt_secret.is_some_and(|secret| secret == pseudonym_key) {
        problems.push(format!(
            "COFUND_JWT_SECRET and COFUND_PSEUDONYM_KEY are the same secret: give the signing secret its own ({advice}); keep the pseudonym key, which every stored pseudonym was made with"
        ));
    }
    problems
}

/// A weak pseudonym key is warned of, not refused: a deployment that holds claims cannot
/// simply change it (every stored pseudonym was made with it, and duplicates and caps per
/// participant are found by them).
fn warn_of_a_weak_pseudonym_key(pseudonym_key: &[u8]) {
    let bits = estimated_bits(pseudonym_key);
    if !pseudonym_key.is_empty() && bits < MIN_SECRET_BITS {
        tracing::warn!(
            bits = bits.round(),
            "COFUND_PSEUDONYM_KEY does not look random; a new installation should use one from openssl rand -base64 48 (an existing one cannot change it without re-keying every stored pseudonym)"
        );
    }
}

/// Whether a PEM file holds a private key (of any kind).
fn holds_a_private_key(pem: &[u8]) -> bool {
    String::from_utf8_lossy(pem).contains("PRIVATE KEY-----")
}

/// Reads a secret given directly or as a file; at least 32 bytes.
fn secret_from(direct: &str, file: &str, errors: &mut Vec<String>) -> Option<Vec<u8>> {
    let secret = match (var(direct), var(file)) {
        (Some(_), Some(_)) => {
            errors.push(format!("set {direct} or {file}, not both"));
            return None;
        }
        (Some(value), None) => value.into_bytes(),
        (None, Some(path)) => match std::fs::read_to_string(&path) {
            Ok(content) => content.trim().as_bytes().to_vec(),
            Err(e) => {
                errors.push(format!("{file} {path}: {e}"));
                return None;
            }
        },
        (None, None) => return None,
    };
    if secret.len() < MIN_SECRET_BYTES {
        errors.push(format!(
            "{direct} must be at least {MIN_SECRET_BYTES} bytes long"
        ));
        return None;
    }
    Some(secret)
}

/// A random secret made on first use and kept in `./data/dev-NAME` (development only).
fn dev_secret(name: &str) -> Result<Vec<u8>, String> {
    let path: PathBuf = Path::new(DEV_SECRET_DIR).join(format!("dev-{name}"));
    if let Ok(existing) = std::fs::read_to_string(&path) {
        if existing.trim().len() >= MIN_SECRET_BYTES {
            return Ok(existing.trim().as_bytes().to_vec());
        }
    }
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    std::fs::create_dir_all(DEV_SECRET_DIR)
        .and_then(|_| std::fs::write(&path, &secret))
        .map_err(|e| {
            format!(
                "cannot keep the development secret in {}: {e}",
                path.display()
            )
        })?;
    tracing::warn!(path = %path.display(), "generated a development secret (never used when COFUND_ENV=production)");
    Ok(secret.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_must_look_random() {
        assert!(estimated_bits(&[b'a'; 64]) < 1.0);
        assert!(estimated_bits(b"changemechangemechangemechangeme") < MIN_SECRET_BITS);
        let base64_48 = b"kT3v9QyZr8mW1pXc5Ns0bLh7Gd2Fj4Ae6Ru+Vo/Ki=Pw9Zq3Ts7Yx1Cb5Nm8Lk2Hg4";
        assert!(estimated_bits(base64_48) > 300.0);
        assert!(weak_secrets(
            Some(base64_48),
            b"Q9w8E7r6T5y4U3i2O1pAaSsDdFfGgHhJjKkLlZzXxCcVvBbNnMm0"
        )
        .is_empty());
        let shared = weak_secrets(Some(base64_48), base64_48);
        assert_eq!(shared.len(), 1, "{shared:?}");
    }
}
