//! Graph's JSON, as far as this provider reads and writes it. Every field is optional and read
//! leniently: one odd event must become a problem naming it, never a failed page. Nothing outside
//! `providers::msgraph` sees these types.
use serde::Deserialize;
use serde_json::Value;

/// A page of a collection (`calendarView/delta`): exactly one of the links is set.
#[derive(Debug, Deserialize)]
pub struct Page {
    #[serde(default)]
    pub value: Vec<Value>,
    #[serde(rename = "@odata.nextLink")]
    pub next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink")]
    pub delta_link: Option<String>,
}

/// An event (or a delta item: an occurrence skeleton, a `@removed` entry).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Event {
    pub id: Option<String>,
    #[serde(rename = "@removed")]
    pub removed: Option<Value>,
    #[serde(rename = "@odata.etag")]
    pub etag: Option<String>,
    pub change_key: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub series_master_id: Option<String>,
    pub original_start: Option<String>,
    pub start: Option<DateTimeTimeZone>,
    pub end: Option<DateTimeTimeZone>,
    pub is_all_day: Option<bool>,
    pub is_cancelled: Option<bool>,
    pub subject: Option<String>,
    pub body: Option<Body>,
    pub organizer: Option<Recipient>,
    pub attendees: Option<Vec<Attendee>>,
    #[serde(rename = "iCalUId")]
    pub ical_uid: Option<String>,
    pub response_status: Option<ResponseStatus>,
    pub recurrence: Option<Recurrence>,
    pub original_start_time_zone: Option<String>,
    pub single_value_extended_properties: Option<Vec<ExtendedProperty>>,
    pub transaction_id: Option<String>,
}

impl Event {
    /// The changeKey (or the one inside the weak etag `W/"…"` of a skeleton).
    pub fn version(&self) -> Option<String> {
        self.change_key.clone().or_else(|| {
            self.etag.as_deref().map(|e| {
                e.trim()
                    .trim_start_matches("W/")
                    .trim_matches('"')
                    .to_string()
            })
        })
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DateTimeTimeZone {
    pub date_time: String,
    pub time_zone: String,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Body {
    pub content_type: String,
    pub content: String,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EmailAddress {
    pub name: Option<String>,
    pub address: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Recipient {
    pub email_address: EmailAddress,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResponseStatus {
    pub response: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Attendee {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub status: Option<ResponseStatus>,
    pub email_address: EmailAddress,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Recurrence {
    pub pattern: RecurrencePattern,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RecurrencePattern {
    #[serde(rename = "type")]
    pub kind: String,
    pub interval: u32,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct ExtendedProperty {
    pub id: String,
    pub value: String,
}

/// Graph's error envelope.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

/// A collection (`value`), e.g. `getSchedule`'s answer or a list of events.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Collection {
    pub value: Vec<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScheduleInformation {
    pub schedule_id: String,
    pub schedule_items: Option<Vec<ScheduleItem>>,
    pub working_hours: Option<WorkingHours>,
    pub error: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScheduleItem {
    pub status: String,
    pub start: DateTimeTimeZone,
    pub end: DateTimeTimeZone,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkingHours {
    pub days_of_week: Vec<String>,
    pub start_time: String,
    pub end_time: String,
    pub time_zone: WorkingZone,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkingZone {
    pub name: String,
    /// Custom zones: minutes to add to local time to get UTC.
    pub bias: Option<i64>,
}
