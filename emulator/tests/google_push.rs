//! Push channels over HTTP: events.watch, `sync`/`exists` messages with Google's headers, the
//! admin trigger, channels.stop.
mod support;

use axum::http::HeaderMap;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use support::start;

type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

/// A receiver that records (channel id, resource state, token) of every notification.
async fn receiver() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let s2 = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |h: HeaderMap| {
            let s = s2.clone();
            async move {
                let get = |k: &str| {
                    h.get(k)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string()
                };
                assert!(!get("x-goog-message-number").is_empty());
                assert!(!get("x-goog-resource-id").is_empty());
                assert!(get("x-goog-resource-uri").contains("/calendar/v3/calendars/"));
                s.lock().unwrap_or_else(|e| e.into_inner()).push((
                    get("x-goog-channel-id"),
                    get("x-goog-resource-state"),
                    get("x-goog-channel-token"),
                ));
                "ok"
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(l, app).await });
    (format!("http://{addr}/hook"), seen)
}

async fn wait_for(seen: &Seen, n: usize) -> Vec<(String, String, String)> {
    for _ in 0..100 {
        let v = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if v.len() >= n {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

#[tokio::test]
async fn watch_notifies_then_stop_silences() {
    let emu = start().await;
    emu.scenario(json!({"calendars": [{"id": "alice@example.com", "events": [
        {"id": "single1", "start": "+1d10:00", "end": "+1d11:00"}]}]}))
        .await;
    let t = emu.token("alice@example.com").await;
    let (addr, seen) = receiver().await;
    let (s, ch) = emu
        .send(emu.http.post(emu.cal("calendars/primary/events/watch")).bearer_auth(&t).json(&json!({
            "id": "chan-1", "type": "web_hook", "address": addr, "token": "tok", "params": {"ttl": "600"}})))
        .await;
    assert_eq!(s, 200, "{ch}");
    assert_eq!(ch["kind"], "api#channel");
    assert!(ch["expiration"].is_string(), "int64 as a JSON string");
    let got = wait_for(&seen, 1).await;
    assert_eq!(got, vec![("chan-1".into(), "sync".into(), "tok".into())]);
    let (s, _) = emu
        .send(
            emu.http
                .patch(emu.cal("calendars/primary/events/single1?sendUpdates=none"))
                .bearer_auth(&t)
                .json(&json!({"summary": "x"})),
        )
        .await;
    assert_eq!(s, 200);
    let got = wait_for(&seen, 2).await;
    assert_eq!(got.get(1).map(|g| g.1.as_str()), Some("exists"));
    let v: Value = emu
        .admin("/_admin/google/notify", json!({"channel": "chan-1"}))
        .await;
    assert_eq!(v["deliveries"][0]["status"], 200, "{v}");
    let (s, _) = emu
        .send(
            emu.http
                .post(emu.cal("channels/stop"))
                .bearer_auth(&t)
                .json(&json!({"id": "chan-1", "resourceId": ch["resourceId"]})),
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = emu
        .send(
            emu.http
                .patch(emu.cal("calendars/primary/events/single1?sendUpdates=none"))
                .bearer_auth(&t)
                .json(&json!({"summary": "y"})),
        )
        .await;
    assert_eq!(s, 200);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(wait_for(&seen, 3).await.len(), 3, "no message after stop");
    let (s, _) = emu
        .send(
            emu.http
                .post(emu.cal("channels/stop"))
                .bearer_auth(&t)
                .json(&json!({"id": "chan-1", "resourceId": ch["resourceId"]})),
        )
        .await;
    assert_eq!(s, 404);
}
