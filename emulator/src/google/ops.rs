//! Writes to events: insert, patch (JSON merge, `extendedProperties` key by key), update (full
//! replace: omitted fields are dropped), delete (tombstones, cancelled exceptions), and the rule for
//! whether a write would have mailed attendees.
//!
//! Invariants: every write takes a new change sequence, a new `etag` and a strictly later `updated`;
//! ids of deleted events stay reserved; an instance id that is not stored yet is materialised as an
//! exception of its series on its first write.
use super::GoogleState;
use super::error::GError;
use super::store::{self, Calendar, EVENT_FIELDS, READ_ONLY_FIELDS, StoredEvent};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

/// The result of a write, for the response and the log.
#[derive(Debug)]
pub struct WriteOutcome {
    /// The new resource (`None` for a delete: 204).
    pub resource: Option<Map<String, Value>>,
    pub notifying: bool,
}

/// Options of one write request.
#[derive(Debug, Clone, Default)]
pub struct WriteOpts<'a> {
    pub if_match: Option<&'a str>,
    pub send_updates: Option<&'a str>,
    /// Bump `sequence` whatever changed (admin edits "as a user would").
    pub force_sequence: bool,
}

/// Is `id` a valid client-supplied event id (base32hex `a`–`v`, `0`–`9`, length 5–1024)?
pub fn valid_client_id(id: &str) -> bool {
    (5..=1024).contains(&id.len()) && id.bytes().all(|b| matches!(b, b'a'..=b'v' | b'0'..=b'9'))
}

fn str_field<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k).and_then(Value::as_str)
}

fn email_of(v: Option<&Value>) -> Option<String> {
    v.and_then(|o| o.get("email"))
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
}

/// Fill server-side fields and validate; returns the resource to store and its meta.
fn normalize(
    mut res: Map<String, Value>,
    cal_id: &str,
    cal_tz: chrono_tz::Tz,
    id: &str,
    seq: u64,
    updated: DateTime<Utc>,
    old: Option<&Map<String, Value>>,
) -> Result<(Map<String, Value>, store::Meta), GError> {
    res.retain(|k, v| EVENT_FIELDS.contains(&k.as_str()) && !v.is_null());
    let owner = cal_id.to_ascii_lowercase();
    res.insert("kind".into(), json!("calendar#event"));
    res.insert("id".into(), json!(id));
    res.insert("etag".into(), json!(format!("\"3{seq:015}\"")));
    res.insert("updated".into(), json!(store::fmt_utc(updated)));
    let created = old
        .and_then(|o| o.get("created").cloned())
        .or_else(|| res.get("created").cloned())
        .unwrap_or_else(|| json!(store::fmt_utc(updated)));
    res.insert("created".into(), created);
    if !res.contains_key("status") {
        res.insert("status".into(), json!("confirmed"));
    }
    match str_field(&res, "status") {
        Some("confirmed" | "tentative" | "cancelled") => {}
        _ => return Err(GError::invalid("Invalid value for: status").at("parameter", "status")),
    }
    let ical = old
        .and_then(|o| o.get("iCalUID").cloned())
        .or_else(|| res.get("iCalUID").cloned())
        .unwrap_or_else(|| json!(format!("{}@google.com", id.split('_').next().unwrap_or(id))));
    res.insert("iCalUID".into(), ical);
    res.insert(
        "htmlLink".into(),
        json!(format!("https://www.google.com/calendar/event?eid={id}")),
    );
    if !res.contains_key("sequence") {
        res.insert("sequence".into(), json!(0));
    }
    if !res.contains_key("eventType") {
        res.insert("eventType".into(), json!("default"));
    }
    if !res.contains_key("reminders") {
        res.insert("reminders".into(), json!({"useDefault": true}));
    }
    for who in ["organizer", "creator"] {
        let mut p = match res.get(who) {
            Some(Value::Object(o)) if o.get("email").and_then(Value::as_str).is_some() => o.clone(),
            _ => {
                let mut o = Map::new();
                o.insert("email".into(), json!(owner));
                o
            }
        };
        let is_self = p
            .get("email")
            .and_then(Value::as_str)
            .is_some_and(|e| e.eq_ignore_ascii_case(&owner));
        if is_self {
            p.insert("self".into(), json!(true));
        } else {
            p.remove("self");
        }
        res.insert(who.into(), Value::Object(p));
    }
    let organizer = email_of(res.get("organizer")).unwrap_or_default();
    match res.get_mut("attendees") {
        Some(Value::Array(list)) if list.is_empty() => {
            res.remove("attendees");
        }
        Some(Value::Array(list)) => {
            for a in list.iter_mut() {
                let Some(o) = a.as_object_mut() else {
                    return Err(GError::invalid("Invalid attendee.").at("parameter", "attendees"));
                };
                o.retain(|_, v| !v.is_null());
                let Some(email) = o
                    .get("email")
                    .and_then(Value::as_str)
                    .map(str::to_ascii_lowercase)
                else {
                    return Err(GError::required("attendees.email"));
                };
                if !email.contains('@') {
                    return Err(GError::invalid("Invalid attendee email.")
                        .at("parameter", "attendees.email"));
                }
                if !o.contains_key("responseStatus") {
                    o.insert("responseStatus".into(), json!("needsAction"));
                }
                match o.get("responseStatus").and_then(Value::as_str) {
                    Some("needsAction" | "declined" | "tentative" | "accepted") => {}
                    _ => return Err(GError::invalid("Invalid attendee responseStatus.")),
                }
                if email == organizer {
                    o.insert("organizer".into(), json!(true));
                } else {
                    o.remove("organizer");
                }
                if email == owner {
                    o.insert("self".into(), json!(true));
                } else {
                    o.remove("self");
                }
            }
        }
        None => {}
        Some(_) => return Err(GError::invalid("Invalid value for: attendees")),
    }
    if let Some(ep) = res.get_mut("extendedProperties") {
        let Some(obj) = ep.as_object_mut() else {
            return Err(GError::invalid("Invalid extendedProperties."));
        };
        obj.retain(|k, v| (k == "private" || k == "shared") && !v.is_null());
        for (_, scope) in obj.iter_mut() {
            let Some(m) = scope.as_object_mut() else {
                return Err(GError::invalid("Invalid extendedProperties."));
            };
            m.retain(|_, v| !v.is_null());
            if m.values().any(|v| !v.is_string()) {
                return Err(GError::invalid("Extended property values must be strings."));
            }
        }
    }
    for k in ["summary", "description", "location"] {
        if res.get(k).is_some_and(|v| !v.is_string()) {
            return Err(GError::invalid(format!("Invalid value for: {k}")).at("parameter", k));
        }
    }
    let meta = store::parse_meta(&res, cal_tz)?;
    store::canonicalize_times(&mut res, cal_tz);
    Ok((res, meta))
}

/// Build a new stored event (no previous version) for calendar `cal_id`; used by the generator,
/// which assigns sequence numbers itself and inserts many events at once.
pub fn build_new(
    res: Map<String, Value>,
    cal_id: &str,
    cal_tz: chrono_tz::Tz,
    id: &str,
    seq: u64,
    updated: DateTime<Utc>,
) -> Result<StoredEvent, GError> {
    let (res, meta) = normalize(res, cal_id, cal_tz, id, seq, updated, None)?;
    Ok(StoredEvent::new(&res, seq, false, meta))
}

/// RFC 7396 merge of `patch` into `target`; `start`/`end`/`originalStartTime` and arrays replace.
fn merge(target: &mut Map<String, Value>, patch: &Map<String, Value>, top: bool) {
    for (k, v) in patch {
        let replace_whole = top && matches!(k.as_str(), "start" | "end" | "originalStartTime");
        match (v, target.get_mut(k)) {
            (Value::Null, _) => {
                target.remove(k);
            }
            (Value::Object(p), Some(Value::Object(t))) if !replace_whole => merge(t, p, false),
            (Value::Object(p), _) => {
                let mut fresh = Map::new();
                merge(&mut fresh, p, false);
                target.insert(k.clone(), Value::Object(fresh));
            }
            (v, _) => {
                target.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Fields a guest would notice in an invitation update.
fn visible(res: &Map<String, Value>) -> Value {
    let mut m = res.clone();
    for k in [
        "etag",
        "updated",
        "sequence",
        "reminders",
        "colorId",
        "transparency",
        "htmlLink",
    ] {
        m.remove(k);
    }
    if let Some(Value::Object(ep)) = m.get_mut("extendedProperties") {
        ep.remove("private");
        if ep.is_empty() {
            m.remove("extendedProperties");
        }
    }
    Value::Object(m)
}

/// Would this write have mailed guests? Only with `sendUpdates=all|externalOnly` (or a missing
/// `sendUpdates` under the quirk), only if there are guests, only if something visible changed.
pub fn is_notifying(
    old: Option<&Map<String, Value>>,
    new: Option<&Map<String, Value>>,
    send_updates: Option<&str>,
    missing_notifies: bool,
) -> bool {
    let mode = match send_updates {
        Some("all") => "all",
        Some("externalOnly") => "externalOnly",
        None if missing_notifies => "all",
        _ => return false,
    };
    let base = new.or(old);
    let Some(base) = base else { return false };
    let organizer = email_of(base.get("organizer")).unwrap_or_default();
    let org_domain = organizer.rsplit('@').next().unwrap_or("").to_string();
    let guests: Vec<String> = [old, new]
        .into_iter()
        .flatten()
        .flat_map(|r| {
            r.get("attendees")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|a| {
            a.get("email")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
        })
        .filter(|e| *e != organizer)
        .collect();
    let relevant = match mode {
        "externalOnly" => guests
            .iter()
            .any(|g| g.rsplit('@').next() != Some(org_domain.as_str())),
        _ => !guests.is_empty(),
    };
    if !relevant {
        return false;
    }
    match (old, new) {
        (Some(o), Some(n)) => visible(o) != visible(n),
        _ => true,
    }
}

impl GoogleState {
    /// Store `res` as the new version of event `id` on calendar `cal_id` and rebuild the index.
    #[allow(clippy::too_many_arguments)]
    pub fn store_event(
        &mut self,
        cal_id: &str,
        id: &str,
        res: Map<String, Value>,
        deleted: bool,
        updated: DateTime<Utc>,
        now: DateTime<Utc>,
        rebuild: bool,
    ) -> Result<(), GError> {
        let seq = self.next_seq();
        self.last_write = Some(self.last_write.map_or(updated, |l| l.max(updated)));
        let horizon = self.horizon(now);
        let cal = self
            .calendars
            .get_mut(cal_id)
            .ok_or_else(GError::not_found)?;
        let old = cal.events.get(id).map(|e| e.res());
        let (res, meta) = normalize(res, &cal.id, cal.tz, id, seq, updated, old.as_ref())?;
        cal.events.insert(
            id.to_string(),
            std::sync::Arc::new(StoredEvent::new(&res, seq, deleted, meta)),
        );
        cal.max_seq = seq;
        cal.updated = updated;
        if rebuild {
            cal.rebuild(horizon);
        }
        Ok(())
    }

    /// The stored resource of `id` on `cal_id`.
    pub fn resource(&self, cal_id: &str, id: &str) -> Result<Map<String, Value>, GError> {
        self.calendars
            .get(cal_id)
            .and_then(|c| c.events.get(id))
            .map(|e| e.res())
            .ok_or_else(GError::not_found)
    }

    /// The current resource of `id` on `cal`: a stored copy, or an instance synthesised from its
    /// series (`Ok(None)` if neither exists). Returns (resource, deleted).
    pub fn current(&self, cal: &Calendar, id: &str) -> Option<(Map<String, Value>, bool)> {
        if let Some(e) = cal.events.get(id) {
            return Some((e.res(), e.deleted));
        }
        let (series, orig) = store::parse_instance_id(id, cal.tz)?;
        let master = cal.events.get(series)?;
        if master.deleted || !master.is_master() {
            return None;
        }
        let occ = store::occurrences(&master.meta, cal.tz, orig).ok()?;
        if !occ.contains(&orig) {
            return None;
        }
        Some((store::render_instance(master, orig, cal.tz), false))
    }

    /// events.insert.
    pub fn insert_event(
        &mut self,
        cal_id: &str,
        mut body: Map<String, Value>,
        opts: &WriteOpts,
        new_id: String,
        now: DateTime<Utc>,
        missing_notifies: bool,
    ) -> Result<WriteOutcome, GError> {
        let id = match body.get("id") {
            Some(Value::String(s)) => {
                if !valid_client_id(s) {
                    return Err(GError::invalid("Invalid resource id value.").at("parameter", "id"));
                }
                s.clone()
            }
            None | Some(Value::Null) => new_id,
            Some(_) => {
                return Err(GError::invalid("Invalid resource id value.").at("parameter", "id"));
            }
        };
        let cal = self.calendars.get(cal_id).ok_or_else(GError::not_found)?;
        if cal.events.contains_key(&id) || cal.reserved.contains(&id) {
            return Err(GError::duplicate());
        }
        if !body.contains_key("start") {
            return Err(GError::required("start"));
        }
        if !body.contains_key("end") {
            return Err(GError::required("end"));
        }
        for k in READ_ONLY_FIELDS {
            body.remove(*k);
        }
        body.remove("recurringEventId");
        body.remove("originalStartTime");
        let has_private = body
            .get("extendedProperties")
            .and_then(|e| e.get("private"))
            .is_some_and(|p| p.as_object().is_some_and(|m| !m.is_empty()));
        if str_field(&body, "eventType") == Some("birthday") && has_private {
            return Err(birthday_private());
        }
        let updated = self.write_time(now);
        self.store_event(cal_id, &id, body, false, updated, now, true)?;
        let res = self.resource(cal_id, &id)?;
        let notifying = is_notifying(None, Some(&res), opts.send_updates, missing_notifies);
        Ok(WriteOutcome {
            resource: Some(res),
            notifying,
        })
    }

    /// events.patch (`replace = false`) and events.update (`replace = true`).
    #[allow(clippy::too_many_arguments)]
    pub fn modify_event(
        &mut self,
        cal_id: &str,
        id: &str,
        body: &Map<String, Value>,
        replace: bool,
        opts: &WriteOpts,
        now: DateTime<Utc>,
        missing_notifies: bool,
    ) -> Result<WriteOutcome, GError> {
        let cal = self.calendars.get(cal_id).ok_or_else(GError::not_found)?;
        let (old, deleted) = self.current(cal, id).ok_or_else(GError::not_found)?;
        if deleted {
            return Err(GError::deleted());
        }
        check_if_match(&old, opts.if_match)?;
        let owner = cal.id.to_ascii_lowercase();
        let cal_tz = cal.tz;
        let mut body = body.clone();
        for k in READ_ONLY_FIELDS {
            body.remove(*k);
        }
        for k in ["id", "iCalUID", "recurringEventId", "originalStartTime"] {
            body.remove(k);
        }
        let mut new = if replace {
            if !body.contains_key("start") {
                return Err(GError::required("start"));
            }
            if !body.contains_key("end") {
                return Err(GError::required("end"));
            }
            let mut n = Map::new();
            for k in [
                "id",
                "iCalUID",
                "created",
                "creator",
                "organizer",
                "recurringEventId",
                "originalStartTime",
                "sequence",
                "eventType",
            ] {
                if let Some(v) = old.get(k) {
                    n.insert(k.to_string(), v.clone());
                }
            }
            merge(&mut n, &body, true);
            n
        } else {
            let mut n = old.clone();
            merge(&mut n, &body, true);
            n
        };
        if new.get("eventType").is_some() && new.get("eventType") != old.get("eventType") {
            return Err(
                GError::invalid("The event type of an event cannot be changed.")
                    .at("parameter", "eventType"),
            );
        }
        let private = |m: &Map<String, Value>| {
            m.get("extendedProperties")
                .and_then(|e| e.get("private"))
                .cloned()
        };
        if str_field(&old, "eventType") == Some("birthday") && private(&old) != private(&new) {
            return Err(birthday_private());
        }
        let organizer = email_of(old.get("organizer")).unwrap_or_default();
        let shared = |m: &Map<String, Value>| {
            m.get("extendedProperties")
                .and_then(|e| e.get("shared"))
                .cloned()
        };
        if organizer != owner && shared(&old) != shared(&new) {
            return Err(GError::non_organizer());
        }
        // Compare times as instants: the same time written differently is no change.
        store::canonicalize_times(&mut new, cal_tz);
        let significant = ["start", "end", "recurrence", "location", "summary"]
            .iter()
            .any(|k| old.get(*k) != new.get(*k));
        if significant || opts.force_sequence {
            let s = old.get("sequence").and_then(Value::as_i64).unwrap_or(0);
            new.insert("sequence".into(), json!(s + 1));
        }
        let updated = self.write_time(now);
        self.store_event(cal_id, id, new, false, updated, now, true)?;
        let res = self.resource(cal_id, id)?;
        let notifying = is_notifying(Some(&old), Some(&res), opts.send_updates, missing_notifies);
        Ok(WriteOutcome {
            resource: Some(res),
            notifying,
        })
    }

    /// events.delete: single events and series become tombstones (a series takes its exceptions
    /// with it); an instance becomes a cancelled exception. Deleting twice is 410.
    pub fn delete_event(
        &mut self,
        cal_id: &str,
        id: &str,
        opts: &WriteOpts,
        now: DateTime<Utc>,
        missing_notifies: bool,
    ) -> Result<WriteOutcome, GError> {
        let cal = self.calendars.get(cal_id).ok_or_else(GError::not_found)?;
        let (old, deleted) = self.current(cal, id).ok_or_else(GError::not_found)?;
        let is_exception = old.contains_key("recurringEventId");
        let cancelled = str_field(&old, "status") == Some("cancelled");
        if deleted || (is_exception && cancelled) {
            return Err(GError::deleted());
        }
        check_if_match(&old, opts.if_match)?;
        let exceptions: Vec<String> = cal
            .events
            .values()
            .filter(|e| e.meta.parent.as_ref().is_some_and(|(s, _)| s == id) && !e.deleted)
            .map(|e| e.id().to_string())
            .collect();
        let updated = self.write_time(now);
        let mut new = old.clone();
        new.insert("status".into(), json!("cancelled"));
        if is_exception {
            self.store_event(cal_id, id, new, false, updated, now, true)?;
        } else {
            for ex in exceptions {
                let cal = self.calendars.get(cal_id).ok_or_else(GError::not_found)?;
                if let Some(e) = cal.events.get(&ex) {
                    let mut r = e.res();
                    r.insert("status".into(), json!("cancelled"));
                    self.store_event(cal_id, &ex, r, true, updated, now, false)?;
                }
            }
            self.store_event(cal_id, id, new, true, updated, now, true)?;
        }
        let notifying = is_notifying(Some(&old), None, opts.send_updates, missing_notifies);
        Ok(WriteOutcome {
            resource: None,
            notifying,
        })
    }
}

/// Birthday events take no private extended properties (phw198/OutlookGoogleCalendarSync#2103).
fn birthday_private() -> GError {
    GError::invalid("Private extended properties are not supported on birthday events.")
        .at("parameter", "extendedProperties.private")
}

fn check_if_match(old: &Map<String, Value>, if_match: Option<&str>) -> Result<(), GError> {
    match if_match {
        None => Ok(()),
        Some(v) if v.trim() == "*" => Ok(()),
        Some(v) => {
            let etag = str_field(old, "etag").unwrap_or("");
            let wanted = v.trim().trim_start_matches("W/");
            if wanted == etag || wanted.trim_matches('"') == etag.trim_matches('"') {
                Ok(())
            } else {
                Err(GError::precondition())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_follow_base32hex_rules() {
        assert!(valid_client_id("abcde"));
        assert!(valid_client_id("0123456789abcdefghijklmnopqrstuv"));
        assert!(!valid_client_id("abcd"));
        assert!(!valid_client_id("abcdw"));
        assert!(!valid_client_id("ABCDE"));
        assert!(!valid_client_id(&"a".repeat(1025)));
    }

    #[test]
    fn merge_deletes_nulls_and_merges_extended_properties() {
        let mut t = json!({"extendedProperties": {"private": {"a": "1", "b": "2"}}, "start": {"date": "2026-01-01"}})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let p = json!({"extendedProperties": {"private": {"a": null, "c": "3"}}, "start": {"dateTime": "2026-01-01T10:00:00Z"}})
            .as_object()
            .cloned()
            .unwrap_or_default();
        merge(&mut t, &p, true);
        assert_eq!(
            t["extendedProperties"],
            json!({"private": {"b": "2", "c": "3"}})
        );
        assert_eq!(t["start"], json!({"dateTime": "2026-01-01T10:00:00Z"}));
    }

    #[test]
    fn notifying_needs_guests_mode_and_visible_change() {
        let old = json!({"organizer": {"email": "a@x.com"}, "attendees": [{"email": "b@x.com"}], "summary": "s"})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut private_only = old.clone();
        private_only.insert("extendedProperties".into(), json!({"private": {"k": "v"}}));
        let mut renamed = old.clone();
        renamed.insert("summary".into(), json!("t"));
        assert!(!is_notifying(
            Some(&old),
            Some(&renamed),
            Some("none"),
            false
        ));
        assert!(!is_notifying(Some(&old), Some(&renamed), None, false));
        assert!(is_notifying(Some(&old), Some(&renamed), None, true));
        assert!(is_notifying(Some(&old), Some(&renamed), Some("all"), false));
        assert!(!is_notifying(
            Some(&old),
            Some(&private_only),
            Some("all"),
            false
        ));
        assert!(!is_notifying(
            Some(&old),
            Some(&renamed),
            Some("externalOnly"),
            false
        ));
    }
}
