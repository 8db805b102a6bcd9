//! A program's `limits`, `nice` and `oom_score_adj`: checked into what its
//! processes start with (pid1/limits.rs), and what `rinit check` says of
//! them: which settings need which capability, which Docker does not give
//! by default (CAP_SYS_RESOURCE, CAP_SYS_NICE).

use std::collections::BTreeMap;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use toml::Spanned;

use super::error::ConfigError;
use super::schema::RawProgram;
use super::validate::At;
use crate::pid1::limits::{self, Resources, NAMES, UNLIMITED};

/// `limits = { NAME = VALUE }`: a number, or a string ("unlimited",
/// "SOFT:HARD").
pub(super) enum LimitValue {
    Number(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for LimitValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LimitValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number, \"unlimited\" or \"SOFT:HARD\"")
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<LimitValue, E> {
                Ok(LimitValue::Number(n))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<LimitValue, E> {
                Ok(LimitValue::Text(text.to_string()))
            }
        }
        deserializer.deserialize_any(V)
    }
}

pub(super) type RawLimits = BTreeMap<Spanned<String>, Spanned<LimitValue>>;

/// The three keys, each error pushed to `errors`.
pub(super) fn resources(raw: &RawProgram, at: &At, errors: &mut ConfigError) -> Resources {
    let mut resources = Resources::default();
    for (name, value) in raw
        .limits
        .as_ref()
        .map(|l| l.get_ref().iter())
        .into_iter()
        .flatten()
    {
        let Some(&(_, resource)) = NAMES.iter().find(|(n, _)| *n == name.get_ref()) else {
            let known: Vec<&str> = NAMES.iter().map(|(n, _)| *n).collect();
            let guess = super::suggest::closest(name.get_ref(), known.iter().copied())
                .map_or_else(String::new, |g| format!(": did you mean {g}?"));
            let message = format!(
                "{:?} is not a resource limit{guess} (one of {})",
                name.get_ref(),
                known.join(", ")
            );
            errors.push(at(name.span().start, "limits", message));
            continue;
        };
        match limit(value.get_ref()) {
            Ok((soft, hard)) => resources.limits.push((resource, soft, hard)),
            Err(why) => errors.push(at(
                value.span().start,
                "limits",
                format!("{}: {why}", name.get_ref()),
            )),
        }
    }
    resources.nice = ranged(raw.nice.as_ref(), -20, 19, "nice", at, errors);
    resources.oom_score_adj = ranged(
        raw.oom_score_adj.as_ref(),
        -1000,
        1000,
        "oom_score_adj",
        at,
        errors,
    );
    resources
}

/// One limit's (soft, hard).
fn limit(value: &LimitValue) -> Result<(u64, u64), String> {
    let expected =
        "expected a number, \"unlimited\" or \"SOFT:HARD\" (e.g. 65536, \"512:1024\", \"unlimited\")";
    let one = |text: &str| match text.trim() {
        "unlimited" | "infinity" => Ok(UNLIMITED),
        number => number
            .parse::<u64>()
            .ok()
            .filter(|&n| n != UNLIMITED)
            .ok_or_else(|| format!("{text:?}: {expected}")),
    };
    let (soft, hard) = match value {
        LimitValue::Number(n) => {
            let n = u64::try_from(*n).map_err(|_| format!("{n}: must not be negative"))?;
            (n, n)
        }
        LimitValue::Text(text) => match text.split_once(':') {
            Some((soft, hard)) => (one(soft)?, one(hard)?),
            None => {
                let both = one(text)?;
                (both, both)
            }
        },
    };
    if soft > hard {
        return Err(format!(
            "the soft limit {} is above the hard limit {}",
            limits::shown(soft, soft),
            limits::shown(hard, hard)
        ));
    }
    Ok((soft, hard))
}

/// `nice` or `oom_score_adj`, within its range.
fn ranged(
    value: Option<&Spanned<i64>>,
    low: i64,
    high: i64,
    key: &str,
    at: &At,
    errors: &mut ConfigError,
) -> Option<i32> {
    let value = value?;
    let n = *value.get_ref();
    match i32::try_from(n).ok().filter(|_| (low..=high).contains(&n)) {
        Some(n) => Some(n),
        None => {
            errors.push(at(
                value.span().start,
                key,
                format!("{n} is out of range ({low} to {high})"),
            ));
            None
        }
    }
}

/// What `rinit check` says a program's settings need, one line each: the
/// capability each needs beyond what this process has (rinit runs with the
/// container's; Docker's default set has neither CAP_SYS_RESOURCE nor
/// CAP_SYS_NICE).
pub fn needs(resources: &Resources) -> Vec<String> {
    let mut needs = Vec::new();
    for &(resource, soft, hard) in &resources.limits {
        let own_hard = crate::sys::limit_of(resource).map_or(UNLIMITED, |(_, hard)| hard);
        if hard > own_hard {
            needs.push(format!(
                "limits {} {}: a hard limit above this process's ({}) needs CAP_SYS_RESOURCE",
                limits::name(resource),
                limits::shown(soft, hard),
                limits::shown(own_hard, own_hard)
            ));
        }
    }
    if let Some(nice) = resources.nice.filter(|&n| n < 0) {
        needs.push(format!("nice {nice}: a value below 0 needs CAP_SYS_NICE"));
    }
    if let Some(adj) = resources.oom_score_adj.filter(|&n| n < 0) {
        needs.push(format!(
            "oom_score_adj {adj}: a value below rinit's own (0, unless the runtime set one) needs CAP_SYS_RESOURCE"
        ));
    }
    needs
}
