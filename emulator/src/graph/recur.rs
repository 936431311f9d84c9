//! Graph's `patternedRecurrence`: parsing, rendering (unused integers are `0`, never null) and
//! expansion into occurrence dates. Expansion runs on local dates in the series' time zone
//! (`recurrenceTimeZone`), so a 10:00 weekly meeting stays at 10:00 local across DST changes.
//! Invariant: a parsed `Recurrence` always has `interval >= 1`, and weekly/relative patterns have
//! at least one day of week, so expansion always advances.
use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde_json::{Value, json};
use std::sync::Arc;

/// `recurrencePattern.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternType {
    Daily,
    Weekly,
    AbsoluteMonthly,
    RelativeMonthly,
    AbsoluteYearly,
    RelativeYearly,
}

impl PatternType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "daily" => Self::Daily,
            "weekly" => Self::Weekly,
            "absoluteMonthly" => Self::AbsoluteMonthly,
            "relativeMonthly" => Self::RelativeMonthly,
            "absoluteYearly" => Self::AbsoluteYearly,
            "relativeYearly" => Self::RelativeYearly,
            _ => return None,
        })
    }
    fn name(self) -> &'static str {
        match self {
            Self::Daily => "daily",
            Self::Weekly => "weekly",
            Self::AbsoluteMonthly => "absoluteMonthly",
            Self::RelativeMonthly => "relativeMonthly",
            Self::AbsoluteYearly => "absoluteYearly",
            Self::RelativeYearly => "relativeYearly",
        }
    }
}

/// `recurrenceRange.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeType {
    EndDate,
    NoEnd,
    Numbered,
}

/// One parsed `patternedRecurrence`.
#[derive(Debug, Clone)]
pub struct Recurrence {
    pub pattern: PatternType,
    pub interval: u32,
    pub month: u32,
    pub day_of_month: u32,
    pub days_of_week: Vec<Weekday>,
    pub first_day_of_week: Weekday,
    /// 0 = first … 3 = fourth, 4 = last.
    pub index: u8,
    pub range: RangeType,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub count: u32,
    pub time_zone: Arc<str>,
}

const INDEX_NAMES: [&str; 5] = ["first", "second", "third", "fourth", "last"];

fn weekday_parse(s: &str) -> Option<Weekday> {
    Some(match s {
        "sunday" => Weekday::Sun,
        "monday" => Weekday::Mon,
        "tuesday" => Weekday::Tue,
        "wednesday" => Weekday::Wed,
        "thursday" => Weekday::Thu,
        "friday" => Weekday::Fri,
        "saturday" => Weekday::Sat,
        _ => return None,
    })
}

/// Graph's lowercase day name.
pub fn weekday_name(d: Weekday) -> &'static str {
    match d {
        Weekday::Sun => "sunday",
        Weekday::Mon => "monday",
        Weekday::Tue => "tuesday",
        Weekday::Wed => "wednesday",
        Weekday::Thu => "thursday",
        Weekday::Fri => "friday",
        Weekday::Sat => "saturday",
    }
}

fn int(v: &Value, key: &str) -> Result<u32, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(x) => x
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("{key}: expected a non-negative integer")),
    }
}

impl Recurrence {
    /// Parse Graph's JSON. `default_start` is the event's local start date (used when `range.startDate`
    /// is missing); `default_tz` the event's start zone. `range.endDate` may also be an integer: days
    /// after the start date (scenario convenience).
    pub fn parse(v: &Value, default_start: NaiveDate, default_tz: &str) -> Result<Self, String> {
        let p = v.get("pattern").ok_or("recurrence.pattern missing")?;
        let r = v.get("range").ok_or("recurrence.range missing")?;
        let ptype = p.get("type").and_then(Value::as_str).unwrap_or("");
        let pattern = PatternType::parse(ptype)
            .ok_or_else(|| format!("recurrence.pattern.type: unknown value {ptype:?}"))?;
        let interval = int(p, "interval")
            .map_err(|e| format!("recurrence.pattern.{e}"))?
            .max(1);
        let month = int(p, "month").map_err(|e| format!("recurrence.pattern.{e}"))?;
        let day_of_month = int(p, "dayOfMonth").map_err(|e| format!("recurrence.pattern.{e}"))?;
        let mut days_of_week = Vec::new();
        if let Some(days) = p.get("daysOfWeek").and_then(Value::as_array) {
            for d in days {
                let s = d.as_str().unwrap_or("");
                days_of_week.push(
                    weekday_parse(s).ok_or_else(|| {
                        format!("recurrence.pattern.daysOfWeek: unknown day {s:?}")
                    })?,
                );
            }
        }
        let first_day_of_week = match p.get("firstDayOfWeek").and_then(Value::as_str) {
            None => Weekday::Sun,
            Some(s) => weekday_parse(s)
                .ok_or_else(|| format!("recurrence.pattern.firstDayOfWeek: unknown day {s:?}"))?,
        };
        let index = match p.get("index").and_then(Value::as_str) {
            None => 0,
            Some(s) => INDEX_NAMES
                .iter()
                .position(|n| *n == s)
                .ok_or_else(|| format!("recurrence.pattern.index: unknown value {s:?}"))?
                as u8,
        };
        let needs_days = matches!(
            pattern,
            PatternType::Weekly | PatternType::RelativeMonthly | PatternType::RelativeYearly
        );
        if needs_days && days_of_week.is_empty() {
            return Err(format!(
                "recurrence.pattern.daysOfWeek is required for {ptype}"
            ));
        }
        if matches!(
            pattern,
            PatternType::AbsoluteMonthly | PatternType::AbsoluteYearly
        ) && day_of_month == 0
        {
            return Err(format!(
                "recurrence.pattern.dayOfMonth is required for {ptype}"
            ));
        }
        if matches!(
            pattern,
            PatternType::AbsoluteYearly | PatternType::RelativeYearly
        ) && !(1..=12).contains(&month)
        {
            return Err(format!("recurrence.pattern.month must be 1-12 for {ptype}"));
        }
        let rtype = r.get("type").and_then(Value::as_str).unwrap_or("");
        let range = match rtype {
            "endDate" => RangeType::EndDate,
            "noEnd" => RangeType::NoEnd,
            "numbered" => RangeType::Numbered,
            _ => return Err(format!("recurrence.range.type: unknown value {rtype:?}")),
        };
        let date = |key: &str| -> Result<Option<NaiveDate>, String> {
            match r.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s == "0001-01-01" => Ok(None),
                Some(Value::String(s)) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .map(Some)
                    .map_err(|e| format!("recurrence.range.{key}: {e}")),
                Some(_) => Err(format!("recurrence.range.{key}: expected YYYY-MM-DD")),
            }
        };
        let start_date = date("startDate")?.unwrap_or(default_start);
        let end_date = match r.get("endDate").and_then(Value::as_i64) {
            Some(days) => Some(start_date + Duration::days(days)),
            None => date("endDate")?,
        };
        if range == RangeType::EndDate && end_date.is_none() {
            return Err("recurrence.range.endDate is required for type endDate".into());
        }
        let count = int(r, "numberOfOccurrences").map_err(|e| format!("recurrence.range.{e}"))?;
        if range == RangeType::Numbered && count == 0 {
            return Err(
                "recurrence.range.numberOfOccurrences must be positive for type numbered".into(),
            );
        }
        let time_zone: Arc<str> = match r.get("recurrenceTimeZone").and_then(Value::as_str) {
            Some(s) if !s.is_empty() => s.into(),
            _ => default_tz.into(),
        };
        Ok(Recurrence {
            pattern,
            interval,
            month,
            day_of_month,
            days_of_week,
            first_day_of_week,
            index,
            range,
            start_date,
            end_date,
            count,
            time_zone,
        })
    }

    /// Graph's JSON, with `0` for unused integers.
    pub fn to_json(&self) -> Value {
        let uses_dom = matches!(
            self.pattern,
            PatternType::AbsoluteMonthly | PatternType::AbsoluteYearly
        );
        let uses_month = matches!(
            self.pattern,
            PatternType::AbsoluteYearly | PatternType::RelativeYearly
        );
        let days: Vec<&str> = self.days_of_week.iter().map(|d| weekday_name(*d)).collect();
        json!({
            "pattern": {
                "type": self.pattern.name(),
                "interval": self.interval,
                "month": if uses_month { self.month } else { 0 },
                "dayOfMonth": if uses_dom { self.day_of_month } else { 0 },
                "daysOfWeek": days,
                "firstDayOfWeek": weekday_name(self.first_day_of_week),
                "index": INDEX_NAMES.get(self.index as usize).copied().unwrap_or("first"),
            },
            "range": {
                "type": match self.range { RangeType::EndDate => "endDate", RangeType::NoEnd => "noEnd", RangeType::Numbered => "numbered" },
                "startDate": self.start_date.format("%Y-%m-%d").to_string(),
                "endDate": match (self.range, self.end_date) {
                    (RangeType::EndDate, Some(d)) => d.format("%Y-%m-%d").to_string(),
                    _ => "0001-01-01".to_string(),
                },
                "recurrenceTimeZone": &*self.time_zone,
                "numberOfOccurrences": if self.range == RangeType::Numbered { self.count } else { 0 },
            }
        })
    }

    /// Occurrence dates (local, in the series' zone) from the start date up to `until` inclusive,
    /// honouring the range (end date, count). At most `cap` dates.
    pub fn dates_until(&self, until: NaiveDate, cap: usize) -> Vec<NaiveDate> {
        let mut out = Vec::new();
        let last = match (self.range, self.end_date) {
            (RangeType::EndDate, Some(e)) => e.min(until),
            _ => until,
        };
        let limit = if self.range == RangeType::Numbered {
            (self.count as usize).min(cap)
        } else {
            cap
        };
        let push = |d: NaiveDate, out: &mut Vec<NaiveDate>| -> bool {
            // Returns false when expansion must stop.
            if d > last || out.len() >= limit {
                return false;
            }
            if d >= self.start_date {
                out.push(d);
            }
            true
        };
        let iv = self.interval as i64;
        match self.pattern {
            PatternType::Daily => {
                let mut d = self.start_date;
                while push(d, &mut out) {
                    d += Duration::days(iv);
                }
            }
            PatternType::Weekly => {
                let back = (7 + self.start_date.weekday().num_days_from_sunday() as i64
                    - self.first_day_of_week.num_days_from_sunday() as i64)
                    % 7;
                let mut week = self.start_date - Duration::days(back);
                let mut offsets: Vec<i64> = self
                    .days_of_week
                    .iter()
                    .map(|d| {
                        (7 + d.num_days_from_sunday() as i64
                            - self.first_day_of_week.num_days_from_sunday() as i64)
                            % 7
                    })
                    .collect();
                offsets.sort_unstable();
                offsets.dedup();
                'weeks: loop {
                    for off in &offsets {
                        if !push(week + Duration::days(*off), &mut out) {
                            break 'weeks;
                        }
                    }
                    week += Duration::days(7 * iv);
                }
            }
            PatternType::AbsoluteMonthly
            | PatternType::RelativeMonthly
            | PatternType::AbsoluteYearly
            | PatternType::RelativeYearly => {
                let yearly = matches!(
                    self.pattern,
                    PatternType::AbsoluteYearly | PatternType::RelativeYearly
                );
                let step = if yearly { 12 * iv } else { iv };
                let (mut y, mut m) = if yearly {
                    (self.start_date.year(), self.month)
                } else {
                    (self.start_date.year(), self.start_date.month())
                };
                let mut guard = 0;
                'months: loop {
                    guard += 1;
                    if guard > 100_000 {
                        break;
                    }
                    let mut dates = match self.pattern {
                        PatternType::AbsoluteMonthly | PatternType::AbsoluteYearly => {
                            clamp_day(y, m, self.day_of_month)
                                .into_iter()
                                .collect::<Vec<_>>()
                        }
                        _ => self
                            .days_of_week
                            .iter()
                            .filter_map(|d| nth_weekday(y, m, *d, self.index))
                            .collect(),
                    };
                    dates.sort_unstable();
                    dates.dedup();
                    if let Some(first) = NaiveDate::from_ymd_opt(y, m, 1) {
                        if first > last {
                            break;
                        }
                    } else {
                        break;
                    }
                    for d in dates {
                        if !push(d, &mut out) {
                            break 'months;
                        }
                    }
                    let total = (y as i64) * 12 + (m as i64 - 1) + step;
                    y = (total.div_euclid(12)) as i32;
                    m = (total.rem_euclid(12) + 1) as u32;
                }
            }
        }
        out
    }
}

/// Day `dom` of the month, clamped to the month's last day (Outlook's behaviour for the 31st).
fn clamp_day(y: i32, m: u32, dom: u32) -> Option<NaiveDate> {
    (1..=dom.min(31))
        .rev()
        .find_map(|d| NaiveDate::from_ymd_opt(y, m, d))
}

/// The `index`-th (0..=3) or last (4) `wd` of the month.
fn nth_weekday(y: i32, m: u32, wd: Weekday, index: u8) -> Option<NaiveDate> {
    if index >= 4 {
        let next = if m == 12 {
            NaiveDate::from_ymd_opt(y + 1, 1, 1)?
        } else {
            NaiveDate::from_ymd_opt(y, m + 1, 1)?
        };
        let last = next.pred_opt()?;
        let back = (7 + last.weekday().num_days_from_sunday() as i64
            - wd.num_days_from_sunday() as i64)
            % 7;
        return Some(last - Duration::days(back));
    }
    NaiveDate::from_weekday_of_month_opt(y, m, wd, index + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    fn rec(v: Value) -> Recurrence {
        match Recurrence::parse(&v, d("2024-01-01"), "UTC") {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn weekly_biweekly_numbered() {
        let r = rec(
            json!({"pattern":{"type":"weekly","interval":2,"daysOfWeek":["monday","thursday"],"firstDayOfWeek":"sunday"},
            "range":{"type":"numbered","startDate":"2024-01-01","numberOfOccurrences":5}}),
        );
        let got: Vec<String> = r
            .dates_until(d("2025-01-01"), 1000)
            .iter()
            .map(|x| x.to_string())
            .collect();
        assert_eq!(
            got,
            [
                "2024-01-01",
                "2024-01-04",
                "2024-01-15",
                "2024-01-18",
                "2024-01-29"
            ]
        );
        let j = r.to_json();
        assert_eq!(j["pattern"]["month"], 0);
        assert_eq!(j["pattern"]["dayOfMonth"], 0);
        assert_eq!(j["range"]["numberOfOccurrences"], 5);
    }

    #[test]
    fn daily_end_date_and_monthly() {
        let r = rec(
            json!({"pattern":{"type":"daily","interval":3},"range":{"type":"endDate","startDate":"2024-01-01","endDate":"2024-01-10"}}),
        );
        assert_eq!(r.dates_until(d("2025-01-01"), 100).len(), 4);
        let r = rec(
            json!({"pattern":{"type":"absoluteMonthly","interval":1,"dayOfMonth":31},"range":{"type":"noEnd","startDate":"2024-01-01"}}),
        );
        let got: Vec<String> = r
            .dates_until(d("2024-04-30"), 100)
            .iter()
            .map(|x| x.to_string())
            .collect();
        assert_eq!(
            got,
            ["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30"]
        );
        let r = rec(
            json!({"pattern":{"type":"relativeMonthly","interval":1,"daysOfWeek":["friday"],"index":"last"},"range":{"type":"numbered","startDate":"2024-01-01","numberOfOccurrences":2}}),
        );
        let got: Vec<String> = r
            .dates_until(d("2025-01-01"), 100)
            .iter()
            .map(|x| x.to_string())
            .collect();
        assert_eq!(got, ["2024-01-26", "2024-02-23"]);
        let r = rec(
            json!({"pattern":{"type":"relativeYearly","interval":1,"month":11,"daysOfWeek":["thursday"],"index":"fourth"},"range":{"type":"numbered","startDate":"2024-01-01","numberOfOccurrences":1}}),
        );
        assert_eq!(r.dates_until(d("2030-01-01"), 100), vec![d("2024-11-28")]);
    }

    #[test]
    fn rejects_bad_patterns() {
        let bad = json!({"pattern":{"type":"weekly","interval":1},"range":{"type":"noEnd","startDate":"2024-01-01"}});
        assert!(Recurrence::parse(&bad, d("2024-01-01"), "UTC").is_err());
        let bad =
            json!({"pattern":{"type":"Weekly","daysOfWeek":["monday"]},"range":{"type":"noEnd"}});
        assert!(Recurrence::parse(&bad, d("2024-01-01"), "UTC").is_err());
    }
}
