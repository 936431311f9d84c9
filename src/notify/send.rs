//! Handing one [`Message`] to its channel: an HTTP POST to a webhook (Slack, Teams or our signed
//! JSON) or an email over SMTP (`lettre`: STARTTLS, implicit TLS, or plain to this machine). Each
//! attempt says whether trying again can help ([`SendError::Retry`]: network trouble, 429, 5xx, a
//! transient SMTP reply) or not ([`SendError::Permanent`]). Secrets (webhook URLs, the HMAC key,
//! SMTP credentials) are read once at start and never appear in an error.
use super::message::{Channel, Message};
use super::render;
use crate::config::{EmailSettings, EmailTls, NotifySettings, WebhookFormat, WebhookSettings};
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::collections::HashMap;
use std::time::Duration;

/// Why one attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth another try later.
    #[error("{0}")]
    Retry(String),
    /// Trying again will not help (a refusal, a bad address, an unknown webhook).
    #[error("{0}")]
    Permanent(String),
}

/// The header carrying the HMAC-SHA256 of a signed JSON body: `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-Oneonone-Signature";
/// The header carrying a message's idempotency key (webhooks; email uses its Message-ID).
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

struct Webhook {
    format: WebhookFormat,
    url: String,
    secret: Option<Vec<u8>>,
}

struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

/// Every configured channel, ready to send.
pub struct Senders {
    client: reqwest::Client,
    webhooks: HashMap<String, Webhook>,
    mailer: Option<Mailer>,
}

impl Senders {
    /// Read the secrets and build the clients; an unreadable secret file is an error naming it.
    pub fn new(settings: &NotifySettings) -> anyhow::Result<Senders> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("oneonone/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the webhooks' HTTP client: {e}"))?;
        let webhooks = settings
            .webhooks
            .iter()
            .map(|w| Ok((w.name.clone(), webhook(w)?)))
            .collect::<anyhow::Result<_>>()?;
        let mailer = settings.email.as_ref().map(mailer).transpose()?;
        Ok(Senders {
            client,
            webhooks,
            mailer,
        })
    }

    /// One attempt to deliver `m`.
    pub async fn send(&self, m: &Message) -> Result<(), SendError> {
        match &m.channel {
            Channel::Webhook { name } => {
                let w = self.webhooks.get(name).ok_or_else(|| {
                    SendError::Permanent(format!("no webhook named {name:?} is configured now"))
                })?;
                self.post(w, m).await
            }
            Channel::Email { to } => {
                let mailer = self.mailer.as_ref().ok_or_else(|| {
                    SendError::Permanent("email is not configured now ([notify.email])".into())
                })?;
                mailer.send(to, m).await
            }
        }
    }

    async fn post(&self, w: &Webhook, m: &Message) -> Result<(), SendError> {
        let body = match w.format {
            WebhookFormat::Slack => render::slack(m),
            WebhookFormat::Teams => render::teams(m),
            WebhookFormat::Json => render::json(m),
        };
        let body = serde_json::to_vec(&body)
            .map_err(|e| SendError::Permanent(format!("cannot encode the message: {e}")))?;
        let mut req = self
            .client
            .post(&w.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(IDEMPOTENCY_HEADER, &m.key);
        if let Some(secret) = &w.secret {
            req = req.header(SIGNATURE_HEADER, signature(secret, &body));
        }
        let resp = req.body(body).send().await.map_err(|e| {
            // `without_url`: the URL is a secret.
            SendError::Retry(format!("webhook request failed: {}", e.without_url()))
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let text = format!("webhook answered HTTP {}", status.as_u16());
        if status.as_u16() == 429 || status.is_server_error() || status.as_u16() == 408 {
            Err(SendError::Retry(text))
        } else {
            Err(SendError::Permanent(text))
        }
    }
}

/// `sha256=<hex of HMAC-SHA256(secret, body)>`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

fn webhook(w: &WebhookSettings) -> anyhow::Result<Webhook> {
    let secret = w
        .secret_file
        .as_deref()
        .map(|p| {
            crate::auth::read_secret_file(p)
                .map_err(|e| anyhow::anyhow!("notify.webhooks {:?}: secret_file: {e}", w.name))
        })
        .transpose()?;
    Ok(Webhook {
        format: w.format,
        url: w.url.clone(),
        secret: secret.map(String::into_bytes),
    })
}

fn mailer(e: &EmailSettings) -> anyhow::Result<Mailer> {
    let from: Mailbox = e
        .from
        .parse()
        .map_err(|err| anyhow::anyhow!("notify.email.from: {err}"))?;
    let mut builder =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(e.host.as_str()).port(e.port);
    if e.tls != EmailTls::None {
        let mut tls = TlsParameters::builder(e.host.clone());
        if let Some(path) = &e.ca_file {
            let pem = std::fs::read(path).map_err(|err| {
                anyhow::anyhow!(
                    "notify.email.ca_file: cannot read {}: {err}",
                    path.display()
                )
            })?;
            let cert = Certificate::from_pem(&pem).map_err(|err| {
                anyhow::anyhow!(
                    "notify.email.ca_file: {} is not a PEM certificate: {err}",
                    path.display()
                )
            })?;
            tls = tls.add_root_certificate(cert);
        }
        let params = tls
            .build()
            .map_err(|err| anyhow::anyhow!("notify.email: cannot set up TLS: {err}"))?;
        builder = builder.tls(match e.tls {
            EmailTls::Implicit => Tls::Wrapper(params),
            _ => Tls::Required(params),
        });
    }
    if let Some(path) = &e.credentials_file {
        builder = builder.credentials(credentials(path)?);
    }
    Ok(Mailer {
        transport: builder.timeout(Some(Duration::from_secs(30))).build(),
        from,
    })
}

/// `user` on the first line, the password on the second.
fn credentials(path: &std::path::Path) -> anyhow::Result<Credentials> {
    let text = crate::auth::read_secret_file(path)
        .map_err(|e| anyhow::anyhow!("notify.email.credentials_file: {e}"))?;
    let mut lines = text.lines();
    match (lines.next(), lines.next()) {
        (Some(user), Some(password)) if !user.trim().is_empty() && !password.is_empty() => Ok(
            Credentials::new(user.trim().to_string(), password.to_string()),
        ),
        _ => Err(anyhow::anyhow!(
            "notify.email.credentials_file: {} must hold the user on the first line and the password on the second",
            path.display()
        )),
    }
}

impl Mailer {
    async fn send(&self, to: &[String], m: &Message) -> Result<(), SendError> {
        let mut b = lettre::Message::builder()
            .from(self.from.clone())
            .subject(m.subject.clone())
            .message_id(Some(message_id(&m.key, &self.from)))
            .header(ContentType::TEXT_PLAIN);
        for addr in to {
            let mb: Mailbox = addr
                .parse()
                .map_err(|e| SendError::Permanent(format!("invalid address {addr:?}: {e}")))?;
            b = b.to(mb);
        }
        let email = b
            .body(render::email_body(m))
            .map_err(|e| SendError::Permanent(format!("cannot build the email: {e}")))?;
        match self.transport.send(email).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(format!(
                "the mail server refused the email: {e}"
            ))),
            Err(e) => Err(SendError::Retry(format!("email not sent: {e}"))),
        }
    }
}

/// A Message-ID made from the idempotency key, so a resend after a crash carries the same ID
/// (mail clients and servers drop the duplicate by it).
fn message_id(key: &str, from: &Mailbox) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes());
    let hex: String = digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("<{hex}.oneonone@{}>", from.email.domain())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn message_id_is_stable_per_key_and_differs_between_keys() {
        let from: Mailbox = "oneonone@example.org".parse().expect("address");
        let a = message_id("nudge:a~b:m1:b@example.org", &from);
        assert_eq!(a, message_id("nudge:a~b:m1:b@example.org", &from));
        assert_ne!(a, message_id("nudge:a~b:m2:b@example.org", &from));
        assert!(a.starts_with('<') && a.ends_with("@example.org>"), "{a}");
    }
}
