//! Sign-in failures of Microsoft 365 accounts through the engine, against the Graph emulator: an
//! app without admin consent and an app whose secret expired each give their pairs an
//! `auth_failed` finding that says what to do (never the secret), while the other account goes on;
//! an application access policy that leaves some mailboxes out makes only those unreadable.
use oneonone::store::Store;
use serde_json::{Value, json};

mod msgraph_support;
use msgraph_support::*;

fn orgs(apps: Value) -> Value {
    let mut s = scenario(2, json!({}));
    s["graph"]["apps"] = apps;
    for who in ["erin", "frank"] {
        if let Some(mbs) = s["graph"]["mailboxes"].as_array_mut() {
            mbs.push(json!({"address": format!("{who}@contoso.com"), "events": []}));
        }
    }
    s
}

fn auth_findings(store: &Store, pair: &str) -> Vec<String> {
    store
        .findings(pair)
        .expect("findings")
        .into_iter()
        .filter(|f| f.kind == "auth_failed")
        .map(|f| f.message)
        .collect()
}

#[test]
fn missing_consent_and_an_expired_secret_are_findings_with_what_to_do_and_others_go_on() {
    let emu = Emu::start(41);
    emu.load(&orgs(json!([
        {"client_id": "daemon", "client_secret": SECRET},
        {"client_id": "noconsent", "client_secret": SECRET, "consent": false},
        {"client_id": "expired", "client_secret": SECRET, "secret_expired": true}
    ])));
    let env = Env::new(&format!(
        "{}{}{}{}{}{}",
        account_toml(&emu, "m365", "daemon", "m365-secret"),
        account_toml(&emu, "noconsent", "noconsent", "m365-secret"),
        account_toml(&emu, "expired", "expired", "m365-secret"),
        pair_toml("alice@contoso.com", "bob@contoso.com", "m365", ""),
        pair_toml("carol@contoso.com", "dan@contoso.com", "noconsent", ""),
        pair_toml("erin@contoso.com", "frank@contoso.com", "expired", "")
    ));
    let engine = env.engine();
    let r = cycle(&emu, &engine, now());
    assert_eq!((r.accounts_ok, r.accounts_failed), (1, 2), "{r}");
    // The account that works is fully processed.
    assert!(!history(&engine.store, "alice@contoso.com~bob@contoso.com").is_empty());
    assert_eq!(
        notifying(&emu.log()),
        vec!["/v1.0/users/alice@contoso.com/events/AAMkAGab"]
    );

    let consent = auth_findings(&engine.store, "carol@contoso.com~dan@contoso.com");
    assert_eq!(consent.len(), 1, "{consent:?}");
    assert!(
        consent[0].contains("Calendars.ReadWrite") && consent[0].contains("Grant admin consent"),
        "{}",
        consent[0]
    );
    assert!(
        consent[0].contains("application access policy"),
        "{}",
        consent[0]
    );
    let expired = auth_findings(&engine.store, "erin@contoso.com~frank@contoso.com");
    assert_eq!(expired.len(), 1, "{expired:?}");
    assert!(
        expired[0].contains("client secret of app expired has expired"),
        "{}",
        expired[0]
    );
    assert!(expired[0].contains("Certificates & secrets") && expired[0].contains("m365-secret"));
    assert!(auth_findings(&engine.store, "alice@contoso.com~bob@contoso.com").is_empty());
    for m in consent.iter().chain(&expired) {
        assert!(!m.contains(SECRET), "a secret in a finding: {m}");
    }

    // Once consent is granted, the account reads again and its finding clears.
    emu.post(
        "/_admin/graph/app",
        &json!({"client_id": "noconsent", "client_secret": SECRET}),
    );
    let r = cycle(&emu, &engine, now() + chrono::Duration::minutes(5));
    assert_eq!((r.accounts_ok, r.accounts_failed), (2, 1), "{r}");
    assert!(auth_findings(&engine.store, "carol@contoso.com~dan@contoso.com").is_empty());
    assert_eq!(
        history(&engine.store, "carol@contoso.com~dan@contoso.com").len(),
        1
    );
}

#[test]
fn an_access_policy_that_leaves_mailboxes_out_makes_only_those_unreadable() {
    let emu = Emu::start(42);
    emu.load(&orgs(
        json!([{"client_id": "daemon", "client_secret": SECRET,
        "access_policy": ["alice@contoso.com", "bob@contoso.com"]}]),
    ));
    let env = Env::standard(&emu, "");
    let engine = env.engine();
    let r = cycle(&emu, &engine, now());
    assert_eq!(
        (r.accounts_ok, r.calendars_ok, r.calendars_failed),
        (1, 2, 2),
        "{r}"
    );
    let reasons = r.unreadable.join("\n");
    assert!(reasons.contains("carol@contoso.com") && reasons.contains("dan@contoso.com"));
    assert!(reasons.contains("application access policy"), "{reasons}");
    assert!(auth_findings(&engine.store, "carol@contoso.com~dan@contoso.com").is_empty());
    assert!(history(&engine.store, "carol@contoso.com~dan@contoso.com").is_empty());
    assert!(!history(&engine.store, "alice@contoso.com~bob@contoso.com").is_empty());
}
