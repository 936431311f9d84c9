//! Development goals of a pair: a goal, its next step, and progress notes written in meetings.
//! Goals persist across meetings: an open goal appears on every agenda from the meeting it was
//! set in until it is closed; the doc of the meeting where it was closed shows it closed, and
//! closed goals stay in the pair's history.
//!
//! Architecture Invariant: pure (no I/O, no clock); times are arguments.
use chrono::{DateTime, Utc};

/// One development goal of a pair.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Goal {
    /// Unique within the pair (random, URL-safe).
    pub id: String,
    pub pair_id: String,
    pub title: String,
    /// The next concrete step (may be empty).
    pub next_step: String,
    /// The meeting it was set in, and that meeting's start.
    pub created_in: String,
    pub created_start: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub author: Option<String>,
    /// Where and when it was closed, if it was.
    pub closed: Option<GoalClosed>,
    /// Progress notes, oldest first.
    pub progress: Vec<GoalProgress>,
    /// Bumped by every change (optimistic concurrency of edits).
    pub version: u64,
}

/// Where and when a goal was closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoalClosed {
    pub meeting: String,
    pub start: DateTime<Utc>,
    pub at: DateTime<Utc>,
    pub by: Option<String>,
}

/// A progress note on a goal, written in the doc of one meeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoalProgress {
    pub id: String,
    pub meeting: String,
    pub start: DateTime<Utc>,
    pub text: String,
    pub author: Option<String>,
    pub at: DateTime<Utc>,
}

/// One goal as the doc of one meeting shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct DocGoal<'a> {
    pub goal: &'a Goal,
    /// Closed in this very doc.
    pub closed_here: bool,
    /// Its progress notes written in this doc.
    pub progress_here: Vec<&'a GoalProgress>,
}

/// The goals the doc of `meeting` (starting at `start`) shows: those set in it or before it and
/// not closed before it, oldest first.
pub fn goals_for_doc<'a>(
    goals: &'a [Goal],
    meeting: &str,
    start: DateTime<Utc>,
) -> Vec<DocGoal<'a>> {
    let mut out: Vec<DocGoal<'a>> = goals
        .iter()
        .filter(|g| g.created_in == meeting || g.created_start <= start)
        .filter_map(|g| {
            let closed_here = g.closed.as_ref().is_some_and(|c| c.meeting == meeting);
            let open_then = g
                .closed
                .as_ref()
                .is_none_or(|c| closed_here || c.start > start);
            open_then.then(|| DocGoal {
                goal: g,
                closed_here,
                progress_here: g.progress.iter().filter(|p| p.meeting == meeting).collect(),
            })
        })
        .collect();
    out.sort_by(|a, b| {
        (a.goal.created_start, a.goal.created_at, &a.goal.id).cmp(&(
            b.goal.created_start,
            b.goal.created_at,
            &b.goal.id,
        ))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn start(n: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0)
            .single()
            .unwrap_or_default()
            + Duration::weeks(n)
    }

    fn goal(id: &str, set: i64, closed: Option<i64>) -> Goal {
        Goal {
            id: id.into(),
            pair_id: "p".into(),
            title: format!("goal {id}"),
            created_in: format!("w{set}"),
            created_start: start(set),
            created_at: start(set),
            closed: closed.map(|c| GoalClosed {
                meeting: format!("w{c}"),
                start: start(c),
                at: start(c),
                by: None,
            }),
            progress: vec![GoalProgress {
                id: "p1".into(),
                meeting: format!("w{set}"),
                start: start(set),
                text: "started".into(),
                author: None,
                at: start(set),
            }],
            ..Goal::default()
        }
    }

    fn shown(goals: &[Goal], doc: i64) -> Vec<(&str, bool, usize)> {
        goals_for_doc(goals, &format!("w{doc}"), start(doc))
            .iter()
            .map(|d| (d.goal.id.as_str(), d.closed_here, d.progress_here.len()))
            .collect()
    }

    #[test]
    fn open_goals_show_on_every_agenda_until_closed() {
        let goals = [
            goal("a", 1, None),
            goal("b", 1, Some(3)),
            goal("c", 4, None),
        ];
        assert_eq!(shown(&goals, 0), vec![]);
        assert_eq!(shown(&goals, 1), vec![("a", false, 1), ("b", false, 1)]);
        assert_eq!(shown(&goals, 2), vec![("a", false, 0), ("b", false, 0)]);
        assert_eq!(shown(&goals, 3), vec![("a", false, 0), ("b", true, 0)]);
        assert_eq!(shown(&goals, 5), vec![("a", false, 0), ("c", false, 0)]);
    }
}
