//! Google OAuth over HTTP: service-account JWTs (RS256), authorization code + PKCE, refresh, revoke.
mod support;

use base64::Engine;
use serde_json::{Value, json};
use support::{TEST_KEY_A, TEST_KEY_B, TEST_PUB_A, start};

const SA: &str = "sync@test-project.iam.gserviceaccount.com";

#[allow(clippy::disallowed_methods)]
fn wall() -> i64 {
    chrono::Utc::now().timestamp()
}

fn sign(key_pem: &str, claims: Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("key-a".into());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(key_pem.as_bytes()).expect("test key");
    jsonwebtoken::encode(&header, &claims, &key).expect("sign")
}

async fn exchange(emu: &support::Emu, form: &[(&str, &str)]) -> (u16, Value) {
    emu.send(emu.http.post(emu.url("/token")).form(form)).await
}

#[tokio::test]
async fn jwt_bearer_grant_checks_signature_audience_lifetime_and_subject() {
    let emu = start().await;
    emu.scenario(json!({"calendars": [{"id": "alice@example.com"}]}))
        .await;
    emu.admin(
        "/_admin/google/service-account",
        json!({"client_email": SA, "public_key_pem": TEST_PUB_A, "private_key_id": "key-a",
               "subjects": ["alice@example.com"]}),
    )
    .await;
    let now = wall();
    let claims = |sub: &str, aud: &str, iat: i64, exp: i64| {
        json!({"iss": SA, "sub": sub, "aud": aud, "iat": iat, "exp": exp,
               "scope": "https://www.googleapis.com/auth/calendar.events"})
    };
    let grant = "urn:ietf:params:oauth:grant-type:jwt-bearer";
    let good = sign(
        TEST_KEY_A,
        claims(
            "alice@example.com",
            "https://oauth2.googleapis.com/token",
            now,
            now + 3600,
        ),
    );
    let (s, v) = exchange(&emu, &[("grant_type", grant), ("assertion", &good)]).await;
    assert_eq!(s, 200, "{v}");
    assert!(v.get("refresh_token").is_none());
    let access = v["access_token"].as_str().unwrap_or_default().to_string();
    let (s, v) = emu.get(&access, "calendars/primary/events").await;
    assert_eq!(s, 200, "the token acts as the subject: {v}");
    // The audience may also be the emulator's own token URL.
    let own = sign(
        TEST_KEY_A,
        claims("alice@example.com", &emu.url("/token"), now, now + 600),
    );
    assert_eq!(
        exchange(&emu, &[("grant_type", grant), ("assertion", &own)])
            .await
            .0,
        200
    );
    let bad_cases = [
        (
            "other key",
            sign(
                TEST_KEY_B,
                claims(
                    "alice@example.com",
                    "https://oauth2.googleapis.com/token",
                    now,
                    now + 60,
                ),
            ),
            "Invalid JWT Signature.",
        ),
        (
            "too long",
            sign(
                TEST_KEY_A,
                claims(
                    "alice@example.com",
                    "https://oauth2.googleapis.com/token",
                    now,
                    now + 3601,
                ),
            ),
            "short-lived",
        ),
        (
            "expired",
            sign(
                TEST_KEY_A,
                claims(
                    "alice@example.com",
                    "https://oauth2.googleapis.com/token",
                    now - 7200,
                    now - 3600,
                ),
            ),
            "short-lived",
        ),
        (
            "audience",
            sign(
                TEST_KEY_A,
                claims(
                    "alice@example.com",
                    "https://example.com/token",
                    now,
                    now + 60,
                ),
            ),
            "audience",
        ),
    ];
    for (what, jwt, msg) in bad_cases {
        let (s, v) = exchange(&emu, &[("grant_type", grant), ("assertion", &jwt)]).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (400, Some("invalid_grant")),
            "{what}: {v}"
        );
        assert!(
            v["error_description"].as_str().unwrap_or("").contains(msg),
            "{what}: {v}"
        );
    }
    let tampered = format!("{}x", &good[..good.len() - 1]);
    let (s, _) = exchange(&emu, &[("grant_type", grant), ("assertion", &tampered)]).await;
    assert_eq!(s, 400);
    let (s, v) = exchange(
        &emu,
        &[
            ("grant_type", grant),
            (
                "assertion",
                &sign(
                    TEST_KEY_A,
                    claims(
                        "mallory@example.com",
                        "https://oauth2.googleapis.com/token",
                        now,
                        now + 60,
                    ),
                ),
            ),
        ],
    )
    .await;
    assert_eq!((s, v["error"].as_str()), (401, Some("unauthorized_client")));
}

#[tokio::test]
async fn authorization_code_with_pkce_refresh_and_revoke() {
    let emu = start().await;
    emu.admin(
        "/_admin/google/oauth-client",
        json!({"client_id": "desktop-1", "client_secret": "not-secret"}),
    )
    .await;
    let verifier = "a-very-long-code-verifier-with-enough-entropy-0123456789";
    let challenge = {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d.as_ref())
    };
    let redirect = "http://127.0.0.1:9/callback";
    let authorize = |login: &str| {
        emu.http.get(emu.url("/o/oauth2/v2/auth")).query(&[
            ("client_id", "desktop-1"),
            ("redirect_uri", redirect),
            ("response_type", "code"),
            ("scope", "https://www.googleapis.com/auth/calendar.events"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", "st4te"),
            ("login_hint", login),
        ])
    };
    let r = authorize("alice@example.com")
        .send()
        .await
        .expect("authorize");
    assert_eq!(r.status().as_u16(), 303);
    let loc = r
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        loc.starts_with(redirect) && loc.contains("state=st4te"),
        "{loc}"
    );
    let url = reqwest::Url::parse(&loc).expect("redirect url");
    let code = url
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.to_string())
        .expect("code");
    // Wrong verifier: invalid_grant (and the code is spent).
    let (s, v) = exchange(
        &emu,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "desktop-1"),
            ("redirect_uri", redirect),
            ("code_verifier", "wrong"),
        ],
    )
    .await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")));
    let r = authorize("alice@example.com")
        .send()
        .await
        .expect("authorize");
    let loc = r
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let url = reqwest::Url::parse(&loc).expect("redirect url");
    let code = url
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.to_string())
        .expect("code");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", "desktop-1"),
        ("client_secret", "not-secret"),
        ("redirect_uri", redirect),
        ("code_verifier", verifier),
    ];
    let (s, v) = exchange(&emu, &form).await;
    assert_eq!(s, 200, "{v}");
    let refresh = v["refresh_token"].as_str().unwrap_or_default().to_string();
    let access = v["access_token"].as_str().unwrap_or_default().to_string();
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(emu.get(&access, "calendars/primary/events").await.0, 200);
    // Codes are single-use.
    assert_eq!(exchange(&emu, &form).await.0, 400);
    // Refresh works, then revocation kills the refresh token and its access tokens.
    let (s, v) = exchange(
        &emu,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", "desktop-1"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(v.get("refresh_token").is_none());
    let access2 = v["access_token"].as_str().unwrap_or_default().to_string();
    let r = emu
        .http
        .post(emu.url("/revoke"))
        .form(&[("token", refresh.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status().as_u16(), 200);
    let (s, v) = exchange(
        &emu,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", "desktop-1"),
        ],
    )
    .await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(v["error_description"], "Token has been expired or revoked.");
    assert_eq!(emu.get(&access2, "calendars/primary/events").await.0, 401);
    // Unknown clients.
    let (s, v) = exchange(
        &emu,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", "other"),
        ],
    )
    .await;
    assert_eq!((s, v["error"].as_str()), (401, Some("invalid_client")));
    // The device flow refuses calendar scopes.
    let (s, v) = emu
        .send(emu.http.post(emu.url("/device/code")).form(&[
            ("client_id", "desktop-1"),
            ("scope", "https://www.googleapis.com/auth/calendar"),
        ]))
        .await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_scope")));
}

#[tokio::test]
async fn refresh_tokens_of_testing_apps_expire() {
    let emu = start().await;
    emu.scenario(json!({"quirks": {"refresh_token_ttl_secs": 604800}}))
        .await;
    let r = emu
        .http
        .get(emu.url("/o/oauth2/v2/auth"))
        .query(&[
            ("client_id", "any"),
            ("redirect_uri", "http://127.0.0.1:9/"),
            ("response_type", "code"),
            ("login_hint", "a@example.com"),
        ])
        .send()
        .await
        .expect("authorize");
    let loc = r
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let url = reqwest::Url::parse(&loc).expect("url");
    let code = url
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.to_string())
        .expect("code");
    let (s, v) = exchange(
        &emu,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", "any"),
            ("redirect_uri", "http://127.0.0.1:9/"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let refresh = v["refresh_token"].as_str().unwrap_or_default().to_string();
    assert_eq!(
        exchange(
            &emu,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("client_id", "any")
            ]
        )
        .await
        .0,
        200
    );
    // Eight days later (a new scenario `now`, keeping the OAuth state).
    emu.admin(
        "/_admin/scenario",
        json!({"now": "2026-12-01T08:00:00Z", "google": {"reset": false}}),
    )
    .await;
    let (s, v) = exchange(
        &emu,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", "any"),
        ],
    )
    .await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")));
}
