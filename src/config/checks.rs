//! The checks a program can have, from the raw schema: `ready` (tcp,
//! http, command or file) with its `ready_timeout`, and `health` (tcp,
//! http or command, with Docker HEALTHCHECK's interval, timeout, retries
//! and start_period). Addresses are IP:PORT: a static binary has no DNS.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::error::Problem;
use super::schema::{CommandValue, RawProgram};
use super::validate::At;
use super::{defaults, Check, Health, HttpTarget, Kind, Ready};

/// `ready` and `ready_timeout`: a check only a simple program can have.
pub(super) fn ready_check(
    raw: &RawProgram,
    dir: Option<&Path>,
    at: &At,
) -> Result<(Option<Ready>, Duration), Problem> {
    let ready_timeout = raw
        .ready_timeout
        .as_ref()
        .map_or(defaults::READY_TIMEOUT, |d| d.0);
    let Some(spanned) = &raw.ready else {
        return Ok((None, ready_timeout));
    };
    let offset = spanned.span().start;
    if raw.kind != Kind::Simple {
        let kind = if raw.kind == Kind::Notify {
            "notify"
        } else {
            "oneshot"
        };
        let message =
            format!("a {kind} program cannot have a ready check (type = \"{kind}\" says when it is ready)");
        return Err(at(offset, "ready", message));
    }
    let ready = spanned.get_ref();
    let check = match (&ready.tcp, &ready.http, &ready.command, &ready.file) {
        (None, None, None, Some(file)) => Ready::File(match dir {
            Some(dir) => dir.join(file.get_ref()),
            None => PathBuf::from(file.get_ref()),
        }),
        (tcp, http, command, None) => match check_of(tcp, http, command, "ready", at)? {
            Some(check) => Ready::Check(check),
            None => {
                let message = "expected exactly one of tcp, http, command or file, \
                               e.g. ready = { tcp = \"127.0.0.1:8000\" }";
                return Err(at(offset, "ready", message.into()));
            }
        },
        _ => {
            let message = "expected exactly one of tcp, http, command or file, e.g. ready = { tcp = \"127.0.0.1:8000\" }";
            return Err(at(offset, "ready", message.into()));
        }
    };
    Ok((Some(check), ready_timeout))
}

/// The one check of `tcp`, `http` and `command` that is given; None when
/// not exactly one is.
fn check_of(
    tcp: &Option<Spanned<String>>,
    http: &Option<Spanned<String>>,
    command: &Option<Spanned<CommandValue>>,
    key: &str,
    at: &At,
) -> Result<Option<Check>, Problem> {
    Ok(Some(match (tcp, http, command) {
        (Some(address), None, None) => Check::Tcp(tcp_address(address, key, at)?),
        (None, Some(target), None) => Check::Http(http_target(target, key, at)?),
        (None, None, Some(command)) => Check::Command(
            command
                .get_ref()
                .words()
                .map_err(|e| at(command.span().start, key, format!("command: {e}")))?,
        ),
        _ => return Ok(None),
    }))
}

/// `http = "IP:PORT/path"` (or `localhost:PORT/path`; the path defaults to /).
fn http_target(target: &Spanned<String>, key: &str, at: &At) -> Result<HttpTarget, Problem> {
    let text = target.get_ref();
    let (address, path) = match text.find('/').and_then(|slash| text.split_at_checked(slash)) {
        Some(parts) => parts,
        None => (text.as_str(), "/"),
    };
    let parsed = match address.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}").parse::<SocketAddr>(),
        None => address.parse::<SocketAddr>(),
    };
    let bad_path = path.bytes().any(|b| !b.is_ascii_graphic());
    match parsed {
        Ok(address) if !bad_path => Ok(HttpTarget { address, path: path.to_string() }),
        _ => Err(at(
            target.span().start,
            key,
            format!(
                "http: {text:?} is not IP:PORT/path, e.g. \"127.0.0.1:8000/healthz\" (no host names: rinit has no DNS)"
            ),
        )),
    }
}

/// `health = { tcp | http | command, interval, timeout, retries, start_period }`.
pub(super) fn health_check(raw: &RawProgram, at: &At) -> Result<Option<Health>, Problem> {
    let Some(spanned) = &raw.health else {
        return Ok(None);
    };
    let offset = spanned.span().start;
    if raw.kind == Kind::Oneshot {
        return Err(at(
            offset,
            "health",
            "a oneshot program cannot have a health check".into(),
        ));
    }
    let health = spanned.get_ref();
    let Some(check) = check_of(&health.tcp, &health.http, &health.command, "health", at)? else {
        let message = "expected exactly one of tcp, http or command, e.g. health = { http = \"127.0.0.1:8000/healthz\" }";
        return Err(at(offset, "health", message.into()));
    };
    let retries = match &health.retries {
        Some(retries) => match u32::try_from(*retries.get_ref()) {
            Ok(0) | Err(_) => {
                let message = format!(
                    "retries: {} is out of range (1 to {})",
                    retries.get_ref(),
                    u32::MAX
                );
                return Err(at(retries.span().start, "health", message));
            }
            Ok(n) => n,
        },
        None => defaults::HEALTH_RETRIES,
    };
    Ok(Some(Health {
        check,
        interval: health
            .interval
            .as_ref()
            .map_or(defaults::HEALTH_INTERVAL, |d| d.0),
        timeout: health.timeout.as_ref().map_or(defaults::HEALTH_TIMEOUT, |d| d.0),
        retries,
        start_period: health.start_period.as_ref().map_or(Duration::ZERO, |d| d.0),
    }))
}

/// `tcp = "IP:PORT"` of `ready` or `health` (`key`), with `localhost:PORT` for 127.0.0.1.
fn tcp_address(address: &Spanned<String>, key: &str, at: &At) -> Result<SocketAddr, Problem> {
    let text = address.get_ref();
    let parsed = match text.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}").parse::<SocketAddr>(),
        None => text.parse::<SocketAddr>(),
    };
    parsed.map_err(|_| {
        let message = format!(
            "tcp: {text:?} is not an address: expected IP:PORT, e.g. \"127.0.0.1:8000\" or \"[::1]:8000\""
        );
        at(address.span().start, key, message)
    })
}
