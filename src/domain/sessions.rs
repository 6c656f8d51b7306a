//! The rules of a browser session. Pure.

use chrono::{Duration, NaiveDateTime};

/// A session unused for this long has ended: a finance officer who leaves a desk is signed
/// out before the afternoon is over.
pub const IDLE_TIMEOUT: Duration = Duration::hours(2);
/// However busy, a session ends this long after sign-in: once a working day.
pub const ABSOLUTE_TIMEOUT: Duration = Duration::hours(12);
/// A member's live sessions at most (browsers and devices): signing in once more ends the
/// oldest, so that the table does not grow however often a member signs in.
pub const MAX_SESSIONS: i64 = 20;
/// A session's last use is written down at most this often (not on every request).
pub const TOUCH_EVERY: Duration = Duration::minutes(1);

/// Why a session that was found no longer holds, if it does not.
pub fn ended(
    created_at: NaiveDateTime,
    last_seen_at: NaiveDateTime,
    now: NaiveDateTime,
) -> Option<&'static str> {
    if now >= created_at + ABSOLUTE_TIMEOUT {
        Some("the session has ended (12 hours after sign-in); sign in again")
    } else if now >= last_seen_at + IDLE_TIMEOUT {
        Some("the session has ended after 2 hours unused; sign in again")
    } else {
        None
    }
}

/// Whether a secret a request presents is the one expected, compared in constant time, so
/// that no answer depends on how much of it matched.
pub fn same_secret(presented: Option<&str>, expected: &str) -> bool {
    presented.is_some_and(|p| {
        bool::from(subtle::ConstantTimeEq::ct_eq(
            p.as_bytes(),
            expected.as_bytes(),
        ))
    })
}

/// Where to go after signing in: only a path of this site (`/data`, `/account?x=1`), never
/// another site (`//evil.example`, `/\evil.example`, `https://…`); anything else is `None`.
pub fn same_site_path(asked: &str) -> Option<&str> {
    let path = asked.strip_prefix('/')?;
    let refused = path.starts_with('/')
        || path.starts_with('\\')
        || asked.chars().any(|c| c.is_control() || c == '\\')
        || asked.len() > 2_000;
    (!refused).then_some(asked)
}

/// Whether a state-changing request with a session cookie came from a page of this site: its
/// `Origin` is the site's own (`https://host[:port]`, as the request's `Host` names it, or
/// the configured public address). A request without `Origin` is refused: every browser
/// sends one with a cross-site POST, and cofund's own pages are never that old.
pub fn origin_is_ours(origin: Option<&str>, host: Option<&str>, public_url: &str) -> bool {
    let Some(origin) = origin else {
        return false;
    };
    let public_origin = public_url.trim_end_matches('/');
    if origin == public_origin {
        return true;
    }
    let Some(host) = host else {
        return false;
    };
    [format!("https://{host}"), format!("http://{host}")]
        .iter()
        .any(|ours| ours == origin)
}

/// Whether the development sign-in (any member, no identity provider) may be offered: only in
/// development, and only when the server listens on this machine alone and people reach it at
/// a loopback address. A server left without `COFUND_ENV` but deployed (listening on another
/// address, or reached at a real host name) offers nobody a way in without a credential.
pub fn development_sign_in_allowed(development: bool, bind: &str, public_url: &str) -> bool {
    let loopback = |host: &str| {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    };
    let host_of = |authority: &str| match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host.to_owned(),
        _ => authority.to_owned(),
    };
    let public_host = public_url
        .strip_prefix("http://")
        .map(|rest| host_of(rest.split('/').next().unwrap_or_default()));
    development && loopback(&host_of(bind)) && public_host.is_some_and(|h| loopback(&h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_of_this_site_are_returned_to() {
        for ok in ["/", "/account", "/data/projects?x=1"] {
            assert_eq!(same_site_path(ok), Some(ok));
        }
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example/",
            "evil",
            "",
            "/a\nb",
            "/\\/evil",
        ] {
            assert_eq!(same_site_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_session_ends_when_idle_or_old() {
        let t = chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .unwrap()
            .naive_utc();
        assert!(ended(t, t, t + Duration::minutes(119)).is_none());
        assert!(ended(t, t, t + Duration::minutes(120)).is_some());
        let busy = t + Duration::hours(11) + Duration::minutes(59);
        assert!(ended(t, busy, busy).is_none());
        assert!(ended(t, busy, t + Duration::hours(12)).is_some());
    }

    #[test]
    fn the_development_sign_in_is_only_for_this_machine() {
        assert!(development_sign_in_allowed(
            true,
            "127.0.0.1:8080",
            "http://127.0.0.1:8080"
        ));
        assert!(development_sign_in_allowed(
            true,
            "[::1]:8080",
            "http://localhost:8080/"
        ));
        assert!(!development_sign_in_allowed(
            false,
            "127.0.0.1:8080",
            "http://127.0.0.1:8080"
        ));
        assert!(!development_sign_in_allowed(
            true,
            "0.0.0.0:8080",
            "http://127.0.0.1:8080"
        ));
        assert!(!development_sign_in_allowed(
            true,
            "127.0.0.1:8080",
            "https://cofund.example.org"
        ));
        assert!(!development_sign_in_allowed(
            true,
            "127.0.0.1:8080",
            "http://192.168.1.5:8080"
        ));
        assert!(!development_sign_in_allowed(
            true,
            "127.0.0.1:8080",
            "http://127.0.0.1.evil.example"
        ));
    }

    #[test]
    fn a_request_from_another_site_is_not_ours() {
        let public = "https://cofund.example.org";
        assert!(origin_is_ours(Some(public), None, public));
        assert!(origin_is_ours(
            Some("http://127.0.0.1:8080"),
            Some("127.0.0.1:8080"),
            public
        ));
        assert!(!origin_is_ours(
            Some("https://evil.example"),
            Some("127.0.0.1:8080"),
            public
        ));
        assert!(!origin_is_ours(None, Some("127.0.0.1:8080"), public));
        assert!(!origin_is_ours(
            Some("null"),
            Some("127.0.0.1:8080"),
            public
        ));
    }
}
