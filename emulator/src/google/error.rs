//! Google's JSON error envelope, exactly as Calendar v3 renders it:
//! `{"error":{"errors":[{domain,reason,message,locationType?,location?}],"code":N,"message":…,"status":…}}`.
//! Every error the Google emulator returns goes through [`GError`], so the envelope is uniform
//! (code, message, gRPC `status` and, for scope errors, an `ErrorInfo` detail).
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One Google API error, rendered in Google's envelope.
#[derive(Debug, Clone)]
pub struct GError {
    pub code: u16,
    pub domain: &'static str,
    /// `None` renders an `errors[]` item without `reason` (the "410 without reason" knob).
    pub reason: Option<&'static str>,
    pub message: String,
    pub location_type: Option<&'static str>,
    pub location: Option<String>,
    pub details: Option<Value>,
}

impl GError {
    /// A plain error with `domain`/`reason` and no location.
    pub fn new(
        code: u16,
        domain: &'static str,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Self {
        GError {
            code,
            domain,
            reason: Some(reason),
            message: message.into(),
            location_type: None,
            location: None,
            details: None,
        }
    }

    /// Attach a `locationType`/`location` (e.g. `parameter`/`timeMax`).
    pub fn at(mut self, location_type: &'static str, location: impl Into<String>) -> Self {
        self.location_type = Some(location_type);
        self.location = Some(location.into());
        self
    }

    /// 400 `global/invalid` for a bad parameter or body field.
    pub fn invalid(message: impl Into<String>) -> Self {
        GError::new(400, "global", "invalid", message)
    }

    /// 400 `global/invalidParameter` naming the parameter.
    pub fn bad_param(name: &str, message: impl Into<String>) -> Self {
        GError::new(400, "global", "invalidParameter", message).at("parameter", name)
    }

    /// 400 `global/required` for a missing field.
    pub fn required(field: &str) -> Self {
        GError::new(400, "global", "required", "Required").at("parameter", field)
    }

    /// 401 `global/authError`.
    pub fn auth() -> Self {
        GError::new(
            401,
            "global",
            "authError",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
        )
        .at("header", "Authorization")
    }

    /// 403 `global/insufficientPermissions` with the `ACCESS_TOKEN_SCOPE_INSUFFICIENT` ErrorInfo.
    pub fn scope() -> Self {
        let mut e = GError::new(
            403,
            "global",
            "insufficientPermissions",
            "Request had insufficient authentication scopes.",
        );
        e.details = Some(json!([{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            "domain": "googleapis.com",
            "metadata": {"service": "calendar-json.googleapis.com", "method": "calendar.v3"}
        }]));
        e
    }

    /// 404 `global/notFound`.
    pub fn not_found() -> Self {
        GError::new(404, "global", "notFound", "Not Found")
    }

    /// 409 `global/duplicate`.
    pub fn duplicate() -> Self {
        GError::new(
            409,
            "global",
            "duplicate",
            "The requested identifier already exists.",
        )
    }

    /// 410 `global/deleted`.
    pub fn deleted() -> Self {
        GError::new(410, "global", "deleted", "Resource has been deleted")
    }

    /// 410 `calendar/fullSyncRequired`; `with_reason = false` drops the reason (observed variant).
    pub fn full_sync(with_reason: bool) -> Self {
        let mut e = GError::new(
            410,
            "calendar",
            "fullSyncRequired",
            "Sync token is no longer valid, a full sync is required.",
        )
        .at("parameter", "syncToken");
        if !with_reason {
            e.reason = None;
        }
        e
    }

    /// 412 `global/conditionNotMet`.
    pub fn precondition() -> Self {
        GError::new(412, "global", "conditionNotMet", "Precondition Failed")
            .at("header", "If-Match")
    }

    /// 400 `calendar/timeRangeEmpty`.
    pub fn time_range_empty(location: &str) -> Self {
        GError::new(
            400,
            "calendar",
            "timeRangeEmpty",
            "The specified time range is empty.",
        )
        .at("parameter", location)
    }

    /// 403 `calendar/forbiddenForNonOrganizer`.
    pub fn non_organizer() -> Self {
        GError::new(
            403,
            "calendar",
            "forbiddenForNonOrganizer",
            "Shared properties can only be changed by the organizer of the event.",
        )
    }

    /// 500 or 503 `global/backendError`.
    pub fn backend(code: u16) -> Self {
        let msg = if code == 503 {
            "The service is currently unavailable."
        } else {
            "Backend Error"
        };
        GError::new(code, "global", "backendError", msg)
    }

    /// A rate-limit error: 403 `usageLimits/rateLimitExceeded|userRateLimitExceeded` or 429.
    pub fn rate_limit(code: u16, reason: &'static str) -> Self {
        let msg = match reason {
            "userRateLimitExceeded" => "User Rate Limit Exceeded",
            "quotaExceeded" => "Calendar usage limits exceeded.",
            _ => "Rate Limit Exceeded",
        };
        GError::new(code, "usageLimits", reason, msg)
    }

    /// The gRPC status name Google puts next to the HTTP code.
    fn status_name(&self) -> &'static str {
        match self.code {
            400 => "INVALID_ARGUMENT",
            401 => "UNAUTHENTICATED",
            403 if self.domain == "usageLimits" => "RESOURCE_EXHAUSTED",
            403 => "PERMISSION_DENIED",
            404 => "NOT_FOUND",
            409 => "ALREADY_EXISTS",
            410 => "FAILED_PRECONDITION",
            412 => "FAILED_PRECONDITION",
            429 => "RESOURCE_EXHAUSTED",
            503 => "UNAVAILABLE",
            _ => "INTERNAL",
        }
    }

    /// The envelope as JSON.
    pub fn body(&self) -> Value {
        let mut item = serde_json::Map::new();
        item.insert("domain".into(), json!(self.domain));
        if let Some(r) = self.reason {
            item.insert("reason".into(), json!(r));
        }
        item.insert("message".into(), json!(self.message));
        if let Some(t) = self.location_type {
            item.insert("locationType".into(), json!(t));
        }
        if let Some(l) = &self.location {
            item.insert("location".into(), json!(l));
        }
        let mut err = json!({
            "errors": [Value::Object(item)],
            "code": self.code,
            "message": self.message,
            "status": self.status_name(),
        });
        if let (Some(d), Some(obj)) = (&self.details, err.as_object_mut()) {
            obj.insert("details".into(), d.clone());
        }
        json!({ "error": err })
    }
}

impl IntoResponse for GError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, axum::Json(self.body())).into_response();
        if self.code == 401 {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static(
                    "Bearer realm=\"https://accounts.google.com/\"",
                ),
            );
        }
        resp
    }
}
