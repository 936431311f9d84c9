//! `oneonone auth --account NAME` for an `auth = "oauth"` account: Google's installed-app flow.
//! It prints the consent URL (PKCE S256, a random `state`, `access_type=offline`, the one scope
//! `calendar.events`, `login_hint` = the configured person), listens on a loopback port for
//! Google's redirect, exchanges the code (with the PKCE verifier) and stores the refresh token
//! through `auth::TokenStore` (0600). No device flow: Google's cannot grant calendar scopes.
//!
//! Invariant: neither the code, the verifier nor any token is printed or logged.
use super::settings::{GoogleAuth, GoogleSettings, SCOPE};
use crate::auth::{OAuthHttp, TokenStore};
use crate::providers::ProviderError;
use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet, TokenUrl};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An OAuth client with only its token endpoint set.
pub type TokenClient =
    BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// How long `oneonone auth` waits for the browser.
const WAIT: Duration = Duration::from_secs(15 * 60);

/// The account's OAuth client (client id and secret in the request body, as Google wants).
pub fn client(
    client_id: &str,
    secret_file: Option<&Path>,
    token_url: &str,
) -> Result<TokenClient, String> {
    let token_url = TokenUrl::new(token_url.to_string()).map_err(|e| format!("token_url: {e}"))?;
    let mut c = BasicClient::new(ClientId::new(client_id.to_string()))
        .set_token_uri(token_url)
        .set_auth_type(AuthType::RequestBody);
    if let Some(p) = secret_file {
        let secret = crate::auth::read_secret_file(p).map_err(|e| e.to_string())?;
        c = c.set_client_secret(ClientSecret::new(secret));
    }
    Ok(c)
}

fn unavailable(what: &str, reason: impl std::fmt::Display) -> ProviderError {
    ProviderError::Unavailable {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}

/// Run the installed-app flow for `account` and store its refresh token under `state_dir`.
pub async fn sign_in(
    account: &str,
    settings: &GoogleSettings,
    state_dir: &Path,
) -> Result<String, ProviderError> {
    let what = format!("account {account}");
    let GoogleAuth::OAuth {
        user,
        client_id,
        client_secret_file,
        auth_url,
    } = &settings.auth
    else {
        return Err(unavailable(
            &what,
            "it signs in with its service-account key; `oneonone auth` is for auth = \"oauth\"",
        ));
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| unavailable(&what, format!("cannot listen on a loopback port: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| unavailable(&what, e))?
        .port();
    let redirect = oauth2::RedirectUrl::new(format!("http://127.0.0.1:{port}/"))
        .map_err(|e| unavailable(&what, e))?;
    let auth = oauth2::AuthUrl::new(auth_url.clone()).map_err(|e| unavailable(&what, e))?;
    let client = client(
        client_id,
        client_secret_file.as_deref(),
        &settings.token_url,
    )
    .map_err(|e| unavailable(&what, e))?
    .set_auth_uri(auth)
    .set_redirect_uri(redirect);
    let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(oauth2::CsrfToken::new_random)
        .add_scope(oauth2::Scope::new(SCOPE.to_string()))
        .set_pkce_challenge(challenge)
        .add_extra_param("access_type", "offline")
        .add_extra_param("prompt", "consent")
        .add_extra_param("login_hint", user)
        .url();
    println!(
        "Open this address in a browser, signed in to Google as {user}, and allow access to the calendar:\n\n{url}\n\n\
         Waiting for Google to send the browser back to http://127.0.0.1:{port}/ …"
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let code = tokio::time::timeout(WAIT, wait_for_code(&listener, state.secret()))
        .await
        .map_err(|_| unavailable(&what, "nobody signed in within 15 minutes"))??;
    let http = OAuthHttp::new().map_err(|e| unavailable(&what, e))?;
    let token = client
        .exchange_code(oauth2::AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .map_err(|e| match &e {
            oauth2::RequestTokenError::ServerResponse(r) => ProviderError::AuthFailed {
                what: what.clone(),
                action: format!(
                    "Google refused the sign-in code ({}); run `oneonone auth --account {account}` again",
                    r.error()
                ),
            },
            other => unavailable(&what, super::auth::oauth_error_text(other)),
        })?;
    use oauth2::TokenResponse;
    let Some(refresh) = token.refresh_token() else {
        return Err(ProviderError::AuthFailed {
            what,
            action: format!(
                "Google sent no refresh token; remove oneonone's access at https://myaccount.google.com/permissions \
                 (signed in as {user}) and run `oneonone auth --account {account}` again"
            ),
        });
    };
    let store = TokenStore::new(state_dir, account);
    store
        .save(refresh.secret())
        .map_err(|e| unavailable(&what, e))?;
    Ok(format!(
        "Signed in as {user}; the sign-in of account {account} is stored in {} (mode 600).",
        store.path().display()
    ))
}

/// Answer the browser's requests on the loopback listener until one brings the code (or an
/// error) for our `state`.
async fn wait_for_code(
    listener: &tokio::net::TcpListener,
    state: &str,
) -> Result<String, ProviderError> {
    loop {
        let (mut conn, _) = listener
            .accept()
            .await
            .map_err(|e| unavailable("the sign-in listener", e))?;
        let target = match read_target(&mut conn).await {
            Some(t) => t,
            None => continue,
        };
        let params: Vec<(String, String)> =
            reqwest::Url::parse(&format!("http://127.0.0.1{target}"))
                .map(|u| u.query_pairs().into_owned().collect())
                .unwrap_or_default();
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let (status, page, outcome) = match (get("code"), get("error"), get("state")) {
            (_, _, Some(s)) if s != state => (
                "400 Bad Request",
                "This sign-in answer is not for the running `oneonone auth`.",
                Some(Err(unavailable(
                    "the sign-in",
                    "the answer's state did not match",
                ))),
            ),
            (_, Some(err), _) => (
                "200 OK",
                "Sign-in was not completed. You can close this tab.",
                Some(Err(ProviderError::AuthFailed {
                    what: "the sign-in".into(),
                    action: format!(
                        "Google answered {err}; run `oneonone auth` again and allow access"
                    ),
                })),
            ),
            (Some(code), None, Some(_)) => (
                "200 OK",
                "oneonone is signed in. You can close this tab.",
                Some(Ok(code.to_string())),
            ),
            _ => ("404 Not Found", "Not found.", None),
        };
        let body = format!("<!doctype html><title>oneonone</title><p>{page}</p>\n");
        let resp = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n{body}",
            body.len()
        );
        let _ = conn.write_all(resp.as_bytes()).await;
        let _ = conn.shutdown().await;
        if let Some(o) = outcome {
            return o;
        }
    }
}

/// The request target of one HTTP request (`/path?query`), if it is a GET.
async fn read_target(conn: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(chunk.get(..n)?);
    }
    let head = String::from_utf8_lossy(&buf);
    let mut parts = head.lines().next()?.split_whitespace();
    (parts.next()? == "GET").then_some(())?;
    parts.next().map(str::to_string)
}
