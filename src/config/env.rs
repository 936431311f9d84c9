//! Environment overrides: `ONEONONE__SECTION__KEY=value` (and `ONEONONE__DEFAULTS__CANCELLATIONS__KEY`)
//! replaces the scalar `section.key` of the file. Collection goes through the `config` crate's
//! `Environment` source (which lower-cases names, so `ONEONONE__DAEMON__DRY_RUN` becomes
//! `daemon.dry_run`); values stay strings here and are parsed by type in `validate`.
//! Arrays (`[[accounts]]`, `[[pairs]]`) cannot be overridden. An unknown override is an error, so
//! a typo in a variable name does not go unnoticed.
use std::collections::BTreeMap;

use config::Source;

/// Every key that may be overridden from the environment, as dotted lower-case paths.
pub(crate) const OVERRIDABLE: &[&str] = &[
    "daemon.state_dir",
    "daemon.poll_interval",
    "daemon.horizon",
    "daemon.lookback",
    "daemon.timezone",
    "daemon.public_url",
    "daemon.listen",
    "daemon.admin_listen",
    "daemon.dry_run",
    "defaults.cadence",
    "defaults.duration",
    "defaults.enforce",
    "defaults.working_hours",
    "defaults.cancellations.max_consecutive",
    "defaults.cancellations.max_in_window",
    "defaults.cancellations.window",
    "notify.webhook_url",
    "web.sign_in.issuer_url",
    "web.sign_in.client_id",
    "web.sign_in.client_secret_file",
    "web.sign_in.require_sign_in",
    "web.sign_in.session_lifetime",
    "web.sign_in.allow_unverified_email",
];

/// The prefix of every override variable.
pub(crate) const PREFIX: &str = "ONEONONE";

/// The variable name for a dotted key: `daemon.dry_run` → `ONEONONE__DAEMON__DRY_RUN`.
pub(crate) fn var_name(key: &str) -> String {
    format!("{PREFIX}__{}", key.replace('.', "__").to_uppercase())
}

/// One override value.
#[derive(Debug, Clone)]
pub(crate) struct Override {
    /// The variable name, e.g. `ONEONONE__DAEMON__HORIZON`.
    pub name: String,
    pub value: String,
}

/// Overrides by dotted key, plus the problems with variables that name no overridable key
/// (as `(variable name, message)`).
pub(crate) struct Overrides {
    pub values: BTreeMap<String, Override>,
    pub problems: Vec<(String, String)>,
}

impl Overrides {
    /// The override for a dotted key, if any.
    pub fn get(&self, key: &str) -> Option<&Override> {
        self.values.get(key)
    }
}

/// Collect the overrides from an explicit environment.
pub(crate) fn collect(env: &[(String, String)]) -> Overrides {
    let source: config::Map<String, String> = env.iter().cloned().collect();
    let collected = config::Environment::with_prefix(PREFIX)
        .prefix_separator("__")
        .separator("__")
        .try_parsing(false)
        .source(Some(source))
        .collect();
    let mut values = BTreeMap::new();
    let mut problems = Vec::new();
    let map = match collected {
        Ok(map) => map,
        Err(e) => {
            // Only non-Unicode values fail here, and the input is `String`s; keep a message anyway.
            problems.push((
                format!("{PREFIX}__*"),
                format!("cannot read the environment: {e}"),
            ));
            return Overrides { values, problems };
        }
    };
    for (key, value) in map {
        let name = var_name(&key);
        let section = key.split('.').next().unwrap_or("");
        if section == "accounts" || section == "pairs" {
            problems.push((
                name,
                format!(
                    "[[{section}]] cannot be overridden from the environment; edit the config file"
                ),
            ));
            continue;
        }
        if !OVERRIDABLE.contains(&key.as_str()) {
            let hint = super::validate::suggest(&key, OVERRIDABLE.iter().copied())
                .map(|k| format!("; did you mean {}?", var_name(k)))
                .unwrap_or_default();
            problems.push((name, format!("unknown setting \"{key}\"{hint}")));
            continue;
        }
        match value.into_string() {
            Ok(value) => {
                values.insert(key, Override { name, value });
            }
            Err(e) => problems.push((name, format!("cannot read the value: {e}"))),
        }
    }
    Overrides { values, problems }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn collects_known_keys_and_flags_the_rest() {
        let o = collect(&env(&[
            ("ONEONONE__DAEMON__DRY_RUN", "true"),
            ("ONEONONE__DEFAULTS__CANCELLATIONS__WINDOW", "30d"),
            ("ONEONONE__DAEMON__POLLINTERVAL", "1m"),
            ("ONEONONE__PAIRS__MANAGER", "x"),
            ("ONEONONE_CONFIG", "ignored: single underscore"),
            ("PATH", "/bin"),
        ]));
        assert_eq!(
            o.get("daemon.dry_run").map(|v| v.value.as_str()),
            Some("true")
        );
        assert_eq!(
            o.get("defaults.cancellations.window")
                .map(|v| v.name.as_str()),
            Some("ONEONONE__DEFAULTS__CANCELLATIONS__WINDOW")
        );
        assert_eq!(o.values.len(), 2);
        let mut problems = o.problems.clone();
        problems.sort();
        assert_eq!(problems.len(), 2);
        assert_eq!(problems[0].0, "ONEONONE__DAEMON__POLLINTERVAL");
        assert!(problems[0].1.contains("ONEONONE__DAEMON__POLL_INTERVAL"));
        assert_eq!(problems[1].0, "ONEONONE__PAIRS__MANAGER");
    }
}
