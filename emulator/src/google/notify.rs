//! Push channels: events.watch records a channel (and sends the `sync` message), writes to its
//! calendar send `exists`, channels.stop stops it, and the admin API can fire a message on demand.
//! Messages are empty-body HTTP POSTs with Google's `X-Goog-*` headers, sent over a plain TCP
//! connection (only `http://` addresses; the emulator is for loopback tests).
use super::Channel;
use super::error::GError;
use crate::common::{Ctx, write};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// events.watch.
pub fn watch(
    ctx: &Ctx,
    cal: &str,
    req: &Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<Value, GError> {
    let id = req
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| GError::required("id"))?;
    if id.len() > 64 {
        return Err(
            GError::invalid("Channel id must be at most 64 characters.").at("parameter", "id")
        );
    }
    match req.get("type").and_then(Value::as_str) {
        Some("web_hook" | "webhook") => {}
        _ => return Err(GError::invalid("Invalid channel type.").at("parameter", "type")),
    }
    let address = req
        .get("address")
        .and_then(Value::as_str)
        .ok_or_else(|| GError::required("address"))?;
    // Google only calls HTTPS endpoints; plain HTTP is allowed to loopback so tests can listen.
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|p| {
            address
                .strip_prefix(p)
                .is_some_and(|r| r.is_empty() || r.starts_with([':', '/']))
        });
    if !address.starts_with("https://") && !loopback {
        return Err(GError::new(
            400,
            "push",
            "webhookUrlNotHttps",
            format!("WebHook callback must be HTTPS: {address}"),
        )
        .at("parameter", "address"));
    }
    let ttl_secs: i64 = req
        .get("params")
        .and_then(|p| p.get("ttl"))
        .and_then(|t| {
            t.as_str()
                .map(str::to_string)
                .or_else(|| t.as_i64().map(|n| n.to_string()))
        })
        .and_then(|s| s.parse().ok())
        .unwrap_or(3600);
    let expiration = req
        .get("expiration")
        .and_then(|e| {
            e.as_str()
                .and_then(|s| s.parse::<i64>().ok())
                .or_else(|| e.as_i64())
        })
        .unwrap_or_else(|| {
            now.timestamp_millis()
                .saturating_add(ttl_secs.saturating_mul(1000))
        });
    let resource_id = ctx.random_id(27);
    let ch = Channel {
        id: id.to_string(),
        resource_id: resource_id.clone(),
        resource_uri: format!(
            "{}/calendar/v3/calendars/{cal}/events?alt=json",
            ctx.base_url()
        ),
        calendar: cal.to_string(),
        address: address.to_string(),
        token: req.get("token").and_then(Value::as_str).map(str::to_string),
        expiration,
        stopped: false,
        message_number: 1,
    };
    let mut body = json!({
        "kind": "api#channel", "id": ch.id, "resourceId": ch.resource_id, "resourceUri": ch.resource_uri,
        "expiration": expiration.to_string(),
    });
    if let (Some(t), Some(o)) = (&ch.token, body.as_object_mut()) {
        o.insert("token".into(), json!(t));
    }
    write(&ctx.google)
        .channels
        .insert(ch.id.clone(), ch.clone());
    spawn_send(ch, "sync");
    Ok(body)
}

/// channels.stop.
pub fn stop(ctx: &Ctx, req: &Map<String, Value>) -> Result<(), GError> {
    let id = req
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| GError::required("id"))?;
    let rid = req
        .get("resourceId")
        .and_then(Value::as_str)
        .ok_or_else(|| GError::required("resourceId"))?;
    let mut g = write(&ctx.google);
    match g.channels.get_mut(id) {
        Some(ch) if ch.resource_id == rid && !ch.stopped => {
            ch.stopped = true;
            Ok(())
        }
        _ => Err(GError::not_found()),
    }
}

/// Channels that should hear about a change to `cal` (message numbers are taken here).
fn take_targets(ctx: &Ctx, cal: Option<&str>, channel: Option<&str>) -> Vec<Channel> {
    let now_ms = ctx.now().timestamp_millis();
    let mut g = write(&ctx.google);
    let after_stop = g.quirks.notify_after_stop;
    let mut out = Vec::new();
    for ch in g.channels.values_mut() {
        let matches = channel.is_none_or(|id| ch.id == id) && cal.is_none_or(|c| ch.calendar == c);
        let live = (!ch.stopped || after_stop) && ch.expiration > now_ms;
        if matches && (live || channel.is_some()) {
            ch.message_number += 1;
            out.push(ch.clone());
        }
    }
    out
}

/// After a write to `cal`: send `exists` to its live channels (in the background).
pub fn on_change(ctx: &Ctx, cal: &str) {
    for ch in take_targets(ctx, Some(cal), None) {
        spawn_send(ch, "exists");
    }
}

/// Admin: fire `state` at the matching channels now and report each delivery.
pub async fn fire(ctx: &Ctx, cal: Option<&str>, channel: Option<&str>, state: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for ch in take_targets(ctx, cal, channel) {
        let r = send(&ch, state).await;
        out.push(match r {
            Ok(status) => json!({"channel": ch.id, "address": ch.address, "status": status}),
            Err(e) => json!({"channel": ch.id, "address": ch.address, "error": e}),
        });
    }
    out
}

fn spawn_send(ch: Channel, state: &'static str) {
    if tokio::runtime::Handle::try_current().is_ok() {
        tokio::spawn(async move {
            if let Err(e) = send(&ch, state).await {
                tracing::debug!(channel = %ch.id, "push notification failed: {e}");
            }
        });
    }
}

/// POST one notification; returns the HTTP status the receiver answered with.
pub async fn send(ch: &Channel, state: &str) -> Result<u16, String> {
    let rest = ch
        .address
        .strip_prefix("http://")
        .ok_or_else(|| format!("only http:// addresses are supported, got {}", ch.address))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let hostport_owned = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Length: 0\r\nConnection: close\r\n\
         X-Goog-Channel-ID: {}\r\nX-Goog-Message-Number: {}\r\nX-Goog-Resource-ID: {}\r\n\
         X-Goog-Resource-State: {state}\r\nX-Goog-Resource-URI: {}\r\n",
        ch.id, ch.message_number, ch.resource_id, ch.resource_uri
    );
    if let Some(exp) = DateTime::from_timestamp_millis(ch.expiration) {
        req.push_str(&format!(
            "X-Goog-Channel-Expiration: {}\r\n",
            exp.format("%a, %d %b %Y %H:%M:%S GMT")
        ));
    }
    if let Some(t) = &ch.token {
        req.push_str(&format!("X-Goog-Channel-Token: {t}\r\n"));
    }
    req.push_str("\r\n");
    let io = async {
        let mut s = tokio::net::TcpStream::connect(&hostport_owned)
            .await
            .map_err(|e| e.to_string())?;
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 1024];
        let n = s.read(&mut buf).await.map_err(|e| e.to_string())?;
        let head = String::from_utf8_lossy(buf.get(..n).unwrap_or(&[])).to_string();
        head.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| format!("bad response from {}: {head:?}", ch.address))
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), io)
        .await
        .map_err(|_| "timed out".to_string())?
}
