//! semantics.md "Sources of data": a commit that merged a pull or merge
//! request is timed from the request's earliest known commit, else from its
//! opening, whenever that is earlier than its own time.

use super::*;
use crate::command::MergedRequest;

/// ```text
/// a (00:00) - b (01:00) - s (10:00, the squash of the request)
///  \
///   f1 (02:00) - f2 (03:00) - f3 (04:00, the request's head)
/// ```
/// Deployment 1 ships a and b at 01:30; deployment 2 ships only s, at 12:00.
fn squash(request: MergedRequest) -> Facts {
    let mut s = commit("shop", "s", &["b"], "2024-01-01T10:00:00Z");
    s.request = Some(Box::new(request));
    Facts {
        changes: vec![
            commit("shop", "a", &[], "2024-01-01T00:00:00Z"),
            commit("shop", "b", &["a"], "2024-01-01T01:00:00Z"),
            commit("shop", "f1", &["a"], "2024-01-01T02:00:00Z"),
            commit("shop", "f2", &["f1"], "2024-01-01T03:00:00Z"),
            commit("shop", "f3", &["f2"], "2024-01-01T04:00:00Z"),
            s,
        ],
        deployments: vec![
            dep(1, 1, "2024-01-01T01:30:00Z", &[("shop", "b")]),
            dep(2, 1, "2024-01-01T12:00:00Z", &[("shop", "s")]),
        ],
        ..Facts::default()
    }
}

fn request(opened: &str, head: Option<&str>, base: Option<&str>, n: Option<u32>) -> MergedRequest {
    MergedRequest {
        opened_at: t(opened),
        head: head.map(Sha::from_trusted),
        base: base.map(Sha::from_trusted),
        commits: n,
    }
}

/// The lead time of s, the only commit deployment 2 ships.
fn lead_of_s(facts: &Facts) -> Option<i64> {
    let d = production(facts);
    match shipped(facts, &d, 2).as_slice() {
        [(sha, lead)] if sha == "s" => *lead,
        other => panic!("deployment 2 shipped {other:?}"),
    }
}

const OPENED: &str = "2024-01-01T05:00:00Z";

#[test]
fn the_walk_stops_before_the_base() {
    // f3, f2, f1; a is the base: from f1 at 02:00 to 12:00.
    let facts = squash(request(OPENED, Some("f3"), Some("a"), None));
    assert_eq!(lead_of_s(&facts), Some(10 * HOUR));
}

#[test]
fn the_walk_takes_at_most_the_counted_commits() {
    // Two commits: f3 and f2, so from 03:00.
    let facts = squash(request(OPENED, Some("f3"), None, Some(2)));
    assert_eq!(lead_of_s(&facts), Some(9 * HOUR));
    // A count beyond the base still stops before it.
    let facts = squash(request(OPENED, Some("f3"), Some("a"), Some(10)));
    assert_eq!(lead_of_s(&facts), Some(10 * HOUR));
    // No commit counted: nothing of the request is known, so its opening.
    let facts = squash(request(OPENED, Some("f3"), None, Some(0)));
    assert_eq!(lead_of_s(&facts), Some(7 * HOUR));
}

#[test]
fn with_neither_base_nor_count_only_the_head_counts() {
    let facts = squash(request(OPENED, Some("f3"), None, None));
    assert_eq!(lead_of_s(&facts), Some(8 * HOUR));
}

#[test]
fn the_walk_follows_first_parents_only() {
    let mut facts = squash(request(OPENED, Some("f3"), None, Some(2)));
    // f3 merged a (00:00) in as its second parent: the walk goes to f2.
    facts.changes[4] = commit("shop", "f3", &["f2", "a"], "2024-01-01T04:00:00Z");
    assert_eq!(lead_of_s(&facts), Some(9 * HOUR));
    // As its first parent, a is the request's second commit.
    facts.changes[4] = commit("shop", "f3", &["a", "f2"], "2024-01-01T04:00:00Z");
    assert_eq!(lead_of_s(&facts), Some(12 * HOUR));
}

#[test]
fn the_walk_stops_at_unknown_commits() {
    // f1 was never reported: f3 and f2 are all that is known of three.
    let mut facts = squash(request(OPENED, Some("f3"), None, Some(3)));
    facts.changes.remove(2);
    assert_eq!(lead_of_s(&facts), Some(9 * HOUR));
}

#[test]
fn an_unknown_base_without_a_count_walks_every_known_first_parent() {
    // Nothing to stop at: f3, f2, f1 and a, from 00:00.
    let facts = squash(request(OPENED, Some("f3"), Some("zz"), None));
    assert_eq!(lead_of_s(&facts), Some(12 * HOUR));
}

#[test]
fn a_known_base_off_the_heads_path_stops_nothing() {
    // b is on main, not below f3: the walk runs to a.
    let facts = squash(request(OPENED, Some("f3"), Some("b"), None));
    assert_eq!(lead_of_s(&facts), Some(12 * HOUR));
    // A base deeper than the head cannot be below it either (s is two
    // first parents from a, as f2 is).
    let facts = squash(request(OPENED, Some("f2"), Some("s"), None));
    assert_eq!(lead_of_s(&facts), Some(12 * HOUR));
    // The same depth reached on the path is the base: f2 alone.
    let facts = squash(request(OPENED, Some("f2"), Some("f1"), None));
    assert_eq!(lead_of_s(&facts), Some(9 * HOUR));
}

#[test]
fn the_opening_stands_in_when_no_commit_of_the_request_is_known() {
    // An unknown head, or none.
    for head in [Some("zz"), None] {
        let facts = squash(request(OPENED, head, Some("a"), Some(3)));
        assert_eq!(lead_of_s(&facts), Some(7 * HOUR), "head {head:?}");
    }
    // A known head with no time.
    let mut facts = squash(request(OPENED, Some("f3"), None, None));
    facts.changes[4].committed_at = None;
    assert_eq!(lead_of_s(&facts), Some(7 * HOUR));
}

#[test]
fn a_request_never_makes_a_commit_later_than_its_own_time() {
    // Opened at 11:00, after s was committed at 10:00.
    let facts = squash(request("2024-01-01T11:00:00Z", None, None, None));
    assert_eq!(lead_of_s(&facts), Some(2 * HOUR));
    // Its head committed after s (clocks differ): s keeps its own time.
    let mut facts = squash(request(OPENED, Some("f3"), None, None));
    facts.changes[4].committed_at = Some(t("2024-01-01T11:30:00Z"));
    assert_eq!(lead_of_s(&facts), Some(2 * HOUR));
}

#[test]
fn a_commit_without_a_time_takes_its_requests() {
    let mut facts = squash(request(OPENED, Some("f3"), None, None));
    facts.changes[5].committed_at = None;
    assert_eq!(lead_of_s(&facts), Some(8 * HOUR));
}

#[test]
fn a_request_times_only_its_own_commit_and_shows_in_the_view() {
    // A merge commit m of f3 into b: the walk ships f1..f3 with their own
    // times, and m, committed at 10:00, is timed from f1 at 02:00.
    let mut m = commit("shop", "m", &["b", "f3"], "2024-01-01T10:00:00Z");
    m.request = Some(Box::new(request(OPENED, Some("f3"), Some("b"), Some(3))));
    let mut facts = squash(request(OPENED, None, None, None));
    facts.changes[5] = m;
    facts.deployments[1].commits[0].1 = Sha::from_trusted("m");
    let d = production(&facts);
    assert_eq!(
        shipped(&facts, &d, 2),
        vec![
            ("f1".into(), Some(10 * HOUR)),
            ("f2".into(), Some(9 * HOUR)),
            ("f3".into(), Some(8 * HOUR)),
            ("m".into(), Some(10 * HOUR)),
        ]
    );
    let view = d.deployment(&facts, DeploymentId(2)).unwrap();
    let m = view.shipped.iter().find(|s| s.sha.as_str() == "m").unwrap();
    assert_eq!(m.committed_at, Some(t("2024-01-01T02:00:00Z")));
}

#[test]
fn a_commit_given_twice_with_two_requests_takes_the_earlier() {
    let mut facts = squash(request(OPENED, Some("f3"), None, None));
    let mut again = facts.changes[5].clone();
    again.request = Some(Box::new(request(OPENED, Some("f3"), None, Some(2))));
    facts.changes.insert(0, again);
    assert_eq!(lead_of_s(&facts), Some(9 * HOUR));
}

#[test]
fn an_explicit_entry_without_a_time_takes_the_requests() {
    let mut facts = squash(request(OPENED, Some("f3"), None, None));
    let d2 = &mut facts.deployments[1];
    d2.shipped = Some(vec![(
        RepoKey::from_trusted("shop"),
        Sha::from_trusted("s"),
        None,
    )]);
    assert_eq!(lead_of_s(&facts), Some(8 * HOUR));
}

#[test]
fn lead_time_figures_read_the_request_time() {
    // Deployment 1 ships a (1 h 30) and b (30 min); deployment 2 ships s,
    // timed from f1: 10 h. Median of three: 1 h 30.
    let facts = squash(request(OPENED, Some("f3"), Some("a"), Some(5)));
    let m = metrics_of(
        &facts,
        &query(Scope::Organization, "2024-01-01", "2024-01-02"),
    );
    let l = m.lead_time_for_changes;
    assert_eq!(
        (l.changes, l.median_seconds, l.p90_seconds),
        (3, Some(HOUR + 1800), Some(10 * HOUR))
    );
}

#[test]
fn rows_of_one_commit_that_disagree_on_its_first_parent_agree_by_content() {
    // f2 given again with a as its first parent: the lesser sha, a, is the
    // one followed, in any order of the rows.
    let mut facts = squash(request(OPENED, Some("f3"), None, Some(3)));
    facts
        .changes
        .push(commit("shop", "f2", &["a"], "2024-01-01T03:00:00Z"));
    assert_eq!(lead_of_s(&facts), Some(12 * HOUR));
    facts.changes.reverse();
    assert_eq!(lead_of_s(&facts), Some(12 * HOUR));
}

#[test]
fn a_head_that_is_its_own_base_has_no_commit_of_its_own() {
    // Nothing between them: the opening, with a count or without.
    for n in [None, Some(3)] {
        let facts = squash(request(OPENED, Some("f3"), Some("f3"), n));
        assert_eq!(lead_of_s(&facts), Some(7 * HOUR), "count {n:?}");
    }
}
