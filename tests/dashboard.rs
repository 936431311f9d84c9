//! The 1:1 health dashboard over real HTTP: the public listener with sign-in against a real
//! OpenID provider (`oidc-provider`, see `support/oidc.rs`) and the admin listener; who sees which
//! pairs (a manager their own, an admin all, anyone else 403, nobody without sign-in), the filters,
//! the CSV and JSON exports, and escaping of hostile text.
//!
//! The signed-in tests need Node and `npm ci` in `tests/browser` (the same rule as the browser
//! tests: missing prerequisites fail, unless `ONEONONE_SKIP_BROWSER_TESTS=1` outside CI).
#[path = "support/oidc.rs"]
mod oidc;

#[path = "support/dashboard.rs"]
mod fixtures;

use fixtures::*;
use reqwest::StatusCode;

fn pair_ids(v: &serde_json::Value) -> Vec<String> {
    v["pairs"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p["pair"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn header<'a>(g: &'a Got, name: &str) -> &'a str {
    g.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_in_managers_see_their_own_pairs_admins_all_and_others_nothing() {
    if !oidc::prerequisites_or_skip(false) {
        return;
    }
    let s = start(true).await;
    let url = format!("{}/dashboard", s.public);

    // Not signed in: to sign-in, and back here afterwards (the filters kept).
    let got = s.get(&format!("{url}?health=failing"), None).await;
    assert_eq!(got.status, StatusCode::SEE_OTHER);
    assert_eq!(
        header(&got, "location"),
        "/signin?next=/dashboard%3Fhealth%3Dfailing"
    );
    let got = s.get(&format!("{url}.csv"), None).await;
    assert_eq!(got.status, StatusCode::SEE_OTHER, "{}", got.body);
    // The JSON export answers as an API: 401, no redirect.
    let got = s.get(&format!("{url}.json"), None).await;
    assert_eq!(got.status, StatusCode::UNAUTHORIZED);
    assert_eq!(got.body, "{\"error\":\"sign in first\"}");

    // The manager: her two pairs, each linked to its page.
    let ann = oidc::sign_in(&s.public, "ann@x.org").await;
    let got = s.get(&url, Some(&ann)).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.body);
    assert_eq!(header(&got, "cache-control"), "no-store");
    assert_eq!(header(&got, "referrer-policy"), "no-referrer");
    assert!(header(&got, "content-security-policy").contains("script-src 'self'"));
    assert_eq!(got.body.matches("<section class=\"pair dash ").count(), 2);
    assert!(got.body.contains(&format!("data-pair=\"{ANN_BOB}\"")));
    assert!(got.body.contains(&format!("data-pair=\"{ANN_CY}\"")));
    assert!(!got.body.contains("dan@x.org"), "not her pair");
    assert!(got.body.contains(&format!("href=\"{}\"", s.link(ANN_BOB))));
    assert!(!got.body.contains("<script>"), "no inline script");
    assert!(got.body.contains("Signed in as <strong>ann@x.org</strong>"));
    let v = s.json(&format!("{url}.json"), Some(&ann)).await;
    assert_eq!(pair_ids(&v), [ANN_BOB, ANN_CY]);
    assert_eq!(v["pairs"][1]["pair_url"], s.link(ANN_CY).as_str());
    // She cannot widen her view with a filter.
    let v = s
        .json(&format!("{url}.json?manager=dan%40x.org"), Some(&ann))
        .await;
    assert_eq!(pair_ids(&v), Vec::<String>::new());

    // An admin: every pair, but no pair's link (the link is a capability for the two of them).
    let root = oidc::sign_in(&s.public, ADMIN).await;
    let v = s.json(&format!("{url}.json"), Some(&root)).await;
    assert_eq!(
        pair_ids(&v),
        [ANN_BOB.to_string(), dan_eve(), ANN_CY.into()]
    );
    assert!(
        v["pairs"]
            .as_array()
            .is_some_and(|a| a.iter().all(|p| p["pair_url"].is_null()))
    );
    let got = s.get(&url, Some(&root)).await;
    assert!(!got.body.contains("/p/"), "no pair links for an admin");

    // A report is not a manager, and a stranger is nobody here: a 403 page that says so.
    for who in ["bob@x.org", "zed@x.org"] {
        let cookie = oidc::sign_in(&s.public, who).await;
        let got = s.get(&url, Some(&cookie)).await;
        assert_eq!(got.status, StatusCode::FORBIDDEN, "{who}");
        assert!(
            got.body.contains("The dashboard is for managers"),
            "{}",
            got.body
        );
        assert!(got.body.contains(who));
        assert!(!got.body.contains("ann@x.org~"), "no pair shown to {who}");
        let got = s.get(&format!("{url}.csv"), Some(&cookie)).await;
        assert_eq!(got.status, StatusCode::FORBIDDEN, "{who}: CSV");
        assert!(!got.body.contains("ann@x.org"));
    }
}

#[tokio::test]
async fn without_sign_in_the_dashboard_is_on_the_admin_listener_only() {
    let s = start(false).await;
    for path in ["/dashboard", "/dashboard.csv", "/dashboard.json"] {
        let got = s.get(&format!("{}{path}", s.public), None).await;
        assert_eq!(got.status, StatusCode::NOT_FOUND, "public {path}");
        assert!(!got.body.contains("ann@x.org"));
        let got = s.get(&format!("{}{path}", s.admin), None).await;
        assert_eq!(got.status, StatusCode::OK, "admin {path}");
        assert_eq!(header(&got, "cache-control"), "no-store", "{path}");
        assert_eq!(header(&got, "referrer-policy"), "no-referrer", "{path}");
    }
    let status = s.get(&format!("{}/", s.admin), None).await;
    assert!(
        status.body.contains("href=\"dashboard\""),
        "linked from the status page"
    );
    let got = s.get(&format!("{}/dashboard", s.admin), None).await;
    assert_eq!(got.body.matches("<section class=\"pair dash ").count(), 3);
    assert!(got.body.contains("href=\"/static/app.css\""));
    assert!(
        !got.body.contains("/p/"),
        "no capability links on the admin listener"
    );
}

#[tokio::test]
async fn rows_filters_and_timeline_marks() {
    let s = start(false).await;
    let url = format!("{}/dashboard.json", s.admin);
    let v = s.json(&url, None).await;
    assert_eq!(v["generated_at"], "2026-11-30T12:00:00Z");
    assert_eq!(v["window_days"], 90);
    let rows = v["pairs"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 3);
    // Failing first: ann~bob's streak, then dan~eve at risk, then ann~cy healthy.
    let ab = &rows[0];
    assert_eq!(ab["pair"], ANN_BOB);
    assert_eq!(ab["health"], "failing");
    assert_eq!(ab["cancellation_streak"], 3);
    assert_eq!(ab["held_slots"], 2);
    assert_eq!(ab["expected_slots"], 13);
    assert_eq!(ab["adherence_percent"], 15);
    assert_eq!(ab["last_held"], "2026-11-09T10:00:00Z");
    assert!(ab["next_scheduled"].is_null());
    assert_eq!(
        ab["findings"],
        serde_json::json!(["repeated_cancellations"])
    );
    let states: Vec<&str> = ab["timeline"]
        .as_array()
        .map(|t| t.iter().filter_map(|m| m["state"].as_str()).collect())
        .unwrap_or_default();
    let mut expected = vec!["missing"; 8];
    expected.extend(["held", "held", "cancelled", "declined", "cancelled"]);
    assert_eq!(states, expected);
    let de = &rows[1];
    assert_eq!(de["health"], "at_risk");
    assert_eq!(
        (de["held_slots"].as_u64(), de["expected_slots"].as_u64()),
        (Some(10), Some(13))
    );
    assert_eq!(de["next_scheduled"], "2026-12-07T10:00:00Z");
    let ac = &rows[2];
    assert_eq!(
        (ac["pair"].as_str(), ac["health"].as_str()),
        (Some(ANN_CY), Some("healthy"))
    );
    assert_eq!(ac["adherence_percent"], 100);
    assert_eq!(ac["open_action_items"], 2);

    // Filters, alone and together; an unknown health is refused, naming the field.
    for (query, want) in [
        (
            "?manager=ann%40x.org",
            vec![ANN_BOB.to_string(), ANN_CY.into()],
        ),
        ("?manager=DAN%40x.org", vec![dan_eve()]),
        ("?health=failing", vec![ANN_BOB.into()]),
        ("?health=at_risk", vec![dan_eve()]),
        ("?manager=ann%40x.org&health=healthy", vec![ANN_CY.into()]),
        ("?manager=dan%40x.org&health=healthy", vec![]),
        (
            "?manager=&health=",
            vec![ANN_BOB.into(), dan_eve(), ANN_CY.into()],
        ),
    ] {
        let v = s.json(&format!("{url}{query}"), None).await;
        assert_eq!(pair_ids(&v), want, "{query}");
    }
    let got = s
        .get(&format!("{}/dashboard?health=great", s.admin), None)
        .await;
    assert_eq!(got.status, StatusCode::BAD_REQUEST);
    assert!(got.body.contains("health"), "{}", got.body);
    let got = s.get(&format!("{url}?health=great"), None).await;
    assert_eq!(got.status, StatusCode::BAD_REQUEST);
    assert!(got.body.starts_with("{\"error\""), "{}", got.body);

    // The HTML page: the filter form keeps the choice, the export links carry it.
    let got = s
        .get(
            &format!("{}/dashboard?manager=ann%40x.org&health=failing", s.admin),
            None,
        )
        .await;
    assert!(
        got.body.contains("<option value=\"ann@x.org\" selected>"),
        "{}",
        got.body
    );
    assert!(got.body.contains("<option value=\"failing\" selected>"));
    assert!(
        got.body
            .contains("href=\"/dashboard.csv?manager=ann%40x.org&amp;health=failing\"")
    );
    assert_eq!(
        got.body.matches("data-state=\"declined\"").count(),
        2,
        "mark and list"
    );
    assert!(got.body.contains("Showing 1 of 3 pairs."));
}

#[tokio::test]
async fn csv_export_is_quoted_neutralised_and_filtered() {
    let s = start(false).await;
    let got = s.get(&format!("{}/dashboard.csv", s.admin), None).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(header(&got, "content-type"), "text/csv; charset=utf-8");
    assert!(header(&got, "content-disposition").contains("oneonone-dashboard.csv"));
    let lines: Vec<&str> = got.body.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "pair,manager,report,cadence,health,health_reasons,last_held,next_scheduled,held_slots,\
         expected_slots,adherence_percent,cancellation_streak,open_action_items,findings,pair_url"
    );
    assert_eq!(
        lines.len(),
        5,
        "header, three rows, the final line end: {lines:?}"
    );
    assert!(
        lines[1].starts_with(
            "ann@x.org~bob@x.org,ann@x.org,bob@x.org,weekly,failing,\
             finding repeated_cancellations; adherence 15% (2 of 13 slots held),\
             2026-11-09T10:00:00Z,,2,13,15,3,0,repeated_cancellations,"
        ),
        "{}",
        lines[1]
    );
    // The hostile report: quoted (comma, quotes) and kept from being a formula.
    assert!(
        lines[2].contains(",\"'=2+5,\"\"<b>eve</b>\"\"@x.org\",weekly,at_risk,"),
        "{}",
        lines[2]
    );
    assert!(
        lines[2].starts_with("\"dan@x.org~=2+5,\"\"<b>eve</b>\"\"@x.org\",dan@x.org,"),
        "{}",
        lines[2]
    );
    assert!(lines[3].starts_with("ann@x.org~cy@x.org,ann@x.org,cy@x.org,weekly,healthy,,"));
    let got = s
        .get(&format!("{}/dashboard.csv?health=healthy", s.admin), None)
        .await;
    assert_eq!(got.body.split("\r\n").filter(|l| !l.is_empty()).count(), 2);
    assert!(got.body.contains("ann@x.org~cy@x.org"));
}

#[tokio::test]
async fn hostile_text_is_escaped_and_titles_are_not_shown() {
    let s = start(false).await;
    let got = s.get(&format!("{}/dashboard", s.admin), None).await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(
        !got.body.contains("alert('title')"),
        "event titles are not on the dashboard"
    );
    assert!(!got.body.contains("<img"), "{}", got.body);
    assert!(!got.body.contains("<b>eve"));
    assert!(
        got.body
            .contains("declined by &lt;img src=x onerror=alert(1)&gt;@x.org")
    );
    assert!(
        got.body
            .contains("=2+5,&quot;&lt;b&gt;eve&lt;/b&gt;&quot;@x.org")
    );
    let v = s.json(&format!("{}/dashboard.json", s.admin), None).await;
    let reasons: Vec<&str> = v["pairs"][1]["timeline"]
        .as_array()
        .map(|t| t.iter().filter_map(|m| m["reason"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(reasons, [HOSTILE_REASON], "JSON keeps the text as it is");
}
