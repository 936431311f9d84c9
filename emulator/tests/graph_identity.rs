//! Microsoft identity platform flows over real HTTP: client credentials (app-only tokens),
//! device code states, refresh-token rotation, authorization code with PKCE, AADSTS error bodies.
mod graph_support;

use graph_support::{Emu, Resp, standard_scenario, start};
use serde_json::{Value, json};

const TENANT: &str = "contoso.onmicrosoft.com";

async fn form(emu: &Emu, endpoint: &str, fields: &[(&str, &str)]) -> Resp {
    let url = emu.url(&format!("/{TENANT}/oauth2/v2.0/{endpoint}"));
    emu.send(emu.http.post(url).form(fields)).await
}

fn assert_aad(r: &Resp, error: &str, code: u64) {
    assert_eq!(r.json["error"], error, "{}", r.json);
    assert_eq!(r.json["error_codes"], json!([code]));
    let desc = r.json["error_description"].as_str().unwrap_or("");
    assert!(desc.starts_with(&format!("AADSTS{code}: ")), "{desc}");
    for k in ["timestamp", "trace_id", "correlation_id"] {
        assert!(r.json[k].is_string(), "{k} in {}", r.json);
    }
}

#[tokio::test]
async fn client_credentials_issue_app_only_tokens() {
    let emu = start().await;
    emu.scenario(standard_scenario()).await;
    emu.admin(
        "/_admin/graph/app",
        json!({"client_id": "daemon", "client_secret": "s3cret"}),
    )
    .await;
    let base = [
        ("grant_type", "client_credentials"),
        ("client_id", "daemon"),
    ];
    let r = form(
        &emu,
        "token",
        &[
            base[0],
            base[1],
            ("client_secret", "s3cret"),
            ("scope", "Calendars.ReadWrite"),
        ],
    )
    .await;
    assert_eq!(r.status, 400);
    assert_aad(&r, "invalid_scope", 70011);
    let r = form(
        &emu,
        "token",
        &[
            base[0],
            base[1],
            ("client_secret", "wrong"),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    assert_eq!(r.status, 401);
    assert_aad(&r, "invalid_client", 7000215);
    let r = form(
        &emu,
        "token",
        &[
            base[0],
            ("client_id", "unknown"),
            ("client_secret", "x"),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    assert_eq!(r.status, 400);
    assert_aad(&r, "unauthorized_client", 700016);
    let r = form(
        &emu,
        "token",
        &[
            base[0],
            base[1],
            ("client_secret", "s3cret"),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(
        r.json.get("refresh_token").is_none(),
        "no refresh token for client credentials"
    );
    assert_eq!(r.json["token_type"], "Bearer");
    let tok = r.json["access_token"].as_str().unwrap_or("").to_string();
    let ok = emu
        .get("/v1.0/users/alice@contoso.com/events", &tok, &[])
        .await;
    assert_eq!(ok.status, 200);
    let me = emu.get("/v1.0/me/events", &tok, &[]).await;
    assert_eq!(me.status, 400);
    assert_eq!(me.code(), "BadRequest");
}

#[tokio::test]
async fn device_code_states_and_refresh_rotation() {
    let emu = start().await;
    emu.scenario(standard_scenario()).await;
    emu.admin("/_admin/graph/app", json!({"client_id": "cli"}))
        .await;
    emu.knobs(json!({"device_interval_secs": 1})).await;
    let dc = form(
        &emu,
        "devicecode",
        &[
            ("client_id", "cli"),
            ("scope", "offline_access Calendars.ReadWrite"),
        ],
    )
    .await;
    assert_eq!(dc.status, 200, "{}", dc.json);
    for k in ["device_code", "user_code", "verification_uri", "message"] {
        assert!(dc.json[k].is_string(), "{k}");
    }
    assert_eq!(dc.json["expires_in"], 900);
    assert_eq!(dc.json["interval"], 1);
    assert!(
        dc.json["verification_uri"]
            .as_str()
            .unwrap_or("")
            .starts_with(&emu.base)
    );
    let device_code = dc.json["device_code"].as_str().unwrap_or("").to_string();
    let user_code = dc.json["user_code"].as_str().unwrap_or("").to_string();
    let poll = || {
        let device_code = device_code.clone();
        let emu = &emu;
        async move {
            form(
                emu,
                "token",
                &[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("client_id", "cli"),
                    ("device_code", &device_code),
                ],
            )
            .await
        }
    };
    let r = poll().await;
    assert_eq!(r.status, 400);
    assert_aad(&r, "authorization_pending", 70016);
    let r = poll().await;
    assert_aad(&r, "slow_down", 70016);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    emu.admin(
        "/_admin/graph/device/approve",
        json!({"user_code": user_code, "user": "alice@contoso.com"}),
    )
    .await;
    let r = poll().await;
    assert_eq!(r.status, 200, "{}", r.json);
    let access = r.json["access_token"].as_str().unwrap_or("").to_string();
    let rt1 = r.json["refresh_token"].as_str().unwrap_or("").to_string();
    assert!(!rt1.is_empty(), "offline_access gives a refresh token");
    assert_eq!(
        emu.get("/v1.0/me/events", &access, &[]).await.status,
        200,
        "delegated token may use /me"
    );
    // Redeeming twice fails.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(poll().await.json["error"], "invalid_grant");

    // Refresh tokens rotate; the old one is invalid after use.
    let refresh = |rt: String| {
        let emu = &emu;
        async move {
            form(
                emu,
                "token",
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", "cli"),
                    ("refresh_token", &rt),
                ],
            )
            .await
        }
    };
    let r = refresh(rt1.clone()).await;
    assert_eq!(r.status, 200);
    let rt2 = r.json["refresh_token"].as_str().unwrap_or("").to_string();
    assert!(!rt2.is_empty() && rt2 != rt1);
    let r = refresh(rt1.clone()).await;
    assert_eq!(r.status, 400);
    assert_aad(&r, "invalid_grant", 70000);
    let r = refresh(rt2.clone()).await;
    assert_eq!(r.status, 200);
    let rt3 = r.json["refresh_token"].as_str().unwrap_or("").to_string();
    emu.admin(
        "/_admin/graph/refresh/revoke",
        json!({"refresh_token": rt3}),
    )
    .await;
    assert_eq!(refresh(rt3).await.status, 400);
}

#[tokio::test]
async fn device_code_declined_and_expired() {
    let emu = start().await;
    emu.admin("/_admin/graph/app", json!({"client_id": "cli"}))
        .await;
    emu.knobs(json!({"device_interval_secs": 0})).await;
    let mut codes = Vec::new();
    for _ in 0..2 {
        let dc = form(
            &emu,
            "devicecode",
            &[("client_id", "cli"), ("scope", "Calendars.ReadWrite")],
        )
        .await;
        codes.push((
            dc.json["device_code"].as_str().unwrap_or("").to_string(),
            dc.json["user_code"].as_str().unwrap_or("").to_string(),
        ));
    }
    emu.admin(
        "/_admin/graph/device/decline",
        json!({"user_code": codes[0].1}),
    )
    .await;
    emu.admin(
        "/_admin/graph/device/expire",
        json!({"user_code": codes[1].1}),
    )
    .await;
    let grant = ("grant_type", "urn:ietf:params:oauth:grant-type:device_code");
    let r = form(
        &emu,
        "token",
        &[grant, ("client_id", "cli"), ("device_code", &codes[0].0)],
    )
    .await;
    assert_aad(&r, "authorization_declined", 70000);
    let r = form(
        &emu,
        "token",
        &[grant, ("client_id", "cli"), ("device_code", &codes[1].0)],
    )
    .await;
    assert_aad(&r, "expired_token", 70020);
    let r = form(
        &emu,
        "token",
        &[grant, ("client_id", "cli"), ("device_code", "nope")],
    )
    .await;
    assert_eq!(r.json["error"], "bad_verification_code");
    let r = form(
        &emu,
        "devicecode",
        &[("client_id", "ghost"), ("scope", "x")],
    )
    .await;
    assert_aad(&r, "unauthorized_client", 700016);
}

#[tokio::test]
async fn authorization_code_with_pkce() {
    let emu = start().await;
    emu.admin("/_admin/graph/app", json!({"client_id": "web"}))
        .await;
    // sha256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gXrcWFjzk"), base64url (computed with Python).
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gXrcWFjzk";
    let challenge = "B__NYflmzdeBfz_yzfHflJvXB7lIcHYhS-QMHfS1-58";
    let authorize = |state: &'static str| {
        let emu = &emu;
        async move {
            let url = format!(
                "{}/{TENANT}/oauth2/v2.0/authorize?client_id=web&response_type=code&redirect_uri=http%3A%2F%2Flocalhost%2Fcb&scope=offline_access%20Calendars.ReadWrite&state={state}&code_challenge={challenge}&code_challenge_method=S256&login_hint=alice%40contoso.com",
                emu.base
            );
            let r = emu.send(emu.http.get(url)).await;
            assert_eq!(r.status, 302, "{}", r.json);
            let loc = r.header("location").unwrap_or_default();
            assert!(
                loc.starts_with("http://localhost/cb?code=")
                    && loc.ends_with(&format!("&state={state}")),
                "{loc}"
            );
            loc.trim_start_matches("http://localhost/cb?code=")
                .split('&')
                .next()
                .unwrap_or("")
                .to_string()
        }
    };
    let code = authorize("s1").await;
    let redeem = |code: String, verifier: &'static str| {
        let emu = &emu;
        async move {
            form(
                emu,
                "token",
                &[
                    ("grant_type", "authorization_code"),
                    ("client_id", "web"),
                    ("code", &code),
                    ("redirect_uri", "http://localhost/cb"),
                    ("code_verifier", verifier),
                ],
            )
            .await
        }
    };
    let r = redeem(code, "wrong-verifier-wrong-verifier-wrong-verifier").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json["error"], "invalid_grant");
    let code = authorize("s2").await;
    let r = redeem(code.clone(), verifier).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(r.json["refresh_token"].is_string());
    let again = redeem(code, verifier).await;
    assert_eq!(again.json["error"], "invalid_grant", "codes are single-use");
    let _: Value = r.json;
}
