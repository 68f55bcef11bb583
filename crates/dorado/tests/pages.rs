//! The web pages against the real server: plain HTTP on both databases
//! (sessions, CSRF, isolation, figures), and a real headless Chromium on
//! SQLite (what a person does: sign in, read, switch, set up).

mod common;
mod pages_support;

use common::{Server, databases};
use pages_support::webdriver::Browser;
use pages_support::{Web, api_figures, expected, scenario, shown, user};

// --- plain HTTP ------------------------------------------------------------

#[tokio::test]
async fn a_page_without_a_session_sends_the_browser_to_sign_in() {
    for db in databases() {
        let s = Server::start(db);
        s.acme();
        let mut web = Web::new(&s);
        for path in [
            "/scorecard",
            "/scorecard?window=7",
            "/services/checkout",
            "/deployments",
            "/incidents",
            "/settings/services",
            "/settings/tokens",
            "/settings/deliveries",
        ] {
            let a = web.get(path).await;
            assert_eq!(a.status, 303, "{path}");
            let to = a.location.unwrap();
            assert!(to.starts_with("/signin?next=%2F"), "{path} -> {to}");
        }
        assert_eq!(web.get("/").await.location.as_deref(), Some("/signin"));
        // A forged or tampered cookie is no session either.
        web.cookie = Some("dorado_session=eyJuIjoiYSJ9.AAAA".into());
        assert_eq!(web.get("/scorecard").await.status, 303);

        // Signing in leads back to where the visitor was going; the
        // cookie cannot be read by scripts nor sent cross-site.
        user(&s, "acme", "ann@acme.io", false);
        let mut web = Web::new(&s);
        let csrf = web.csrf_of("/signin?next=/deployments").await;
        let a = web
            .post(
                "/signin",
                &[
                    ("_csrf", &csrf),
                    ("email", "ann@acme.io"),
                    ("password", pages_support::PASSWORD),
                    ("next", "/deployments?window=7"),
                ],
            )
            .await;
        assert_eq!(a.status, 303, "{}", a.body);
        assert_eq!(a.location.as_deref(), Some("/deployments?window=7"));
        let cookie = &a.set_cookie[0];
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=43200"] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
        assert_eq!(web.get("/deployments").await.status, 200);

        // Never to another site after signing in.
        web.cookie = None;
        let csrf2 = web.csrf_of("/signin").await;
        let a = web
            .post(
                "/signin",
                &[
                    ("_csrf", &csrf2),
                    ("email", "ann@acme.io"),
                    ("password", pages_support::PASSWORD),
                    ("next", "//evil.example/"),
                ],
            )
            .await;
        assert_eq!(a.location.as_deref(), Some("/scorecard"));

        // Signing out ends the session, even for a copy of its cookie.
        let kept = web.cookie.clone();
        let csrf = web.csrf_of("/scorecard").await;
        let a = web.post("/signout", &[("_csrf", &csrf)]).await;
        assert_eq!(a.status, 303);
        assert!(a.set_cookie[0].contains("Max-Age=0"));
        web.cookie = kept;
        assert_eq!(web.get("/scorecard").await.status, 303);
    }
}

#[tokio::test]
async fn wrong_passwords_are_refused_and_then_throttled() {
    for db in databases() {
        let s = Server::start(db);
        s.acme();
        user(&s, "acme", "ann@acme.io", false);
        let mut web = Web::new(&s);
        for _ in 0..5 {
            let a = web.sign_in_with("ann@acme.io", "wrong password").await;
            assert_eq!(a.status, 401);
            assert!(a.body.contains("do not match"), "{}", a.body);
        }
        // Even the right password waits now: guessing gets slow.
        let a = web
            .sign_in_with("Ann@acme.io", pages_support::PASSWORD)
            .await;
        assert_eq!(a.status, 429);
        assert!(a.body.contains("Too many failed sign-ins"), "{}", a.body);
        // Another user is not affected.
        user(&s, "acme", "bob@acme.io", false);
        web.sign_in("bob@acme.io").await;
    }
}

#[tokio::test]
async fn a_form_posted_without_its_csrf_token_is_refused() {
    for db in databases() {
        let s = Server::start(db);
        let token = s.acme();
        user(&s, "acme", "ann@acme.io", true);
        let mut web = Web::new(&s);
        web.sign_in("ann@acme.io").await;
        let count = |s: &Server| {
            s.cli
                .json(&["token", "list", "--org", "acme"])
                .as_array()
                .unwrap()
                .len()
        };
        let before = count(&s);
        let form = [("name", "sneaky"), ("scope_ingest", "on"), ("expires", "7")];
        let a = web.post("/settings/tokens", &form).await;
        assert_eq!(a.status, 403, "{}", a.body);
        assert!(a.body.contains("CSRF"), "{}", a.body);

        // A token of another session is no better.
        let mut other = Web::new(&s);
        other.sign_in("ann@acme.io").await;
        let theirs = other.csrf_of("/settings/tokens").await;
        let mut with_theirs = form.to_vec();
        with_theirs.push(("_csrf", &theirs));
        assert_eq!(web.post("/settings/tokens", &with_theirs).await.status, 403);
        assert_eq!(count(&s), before, "nothing was created");

        // Nor is a revoke or a new service or signing out without one.
        let a = web.post("/settings/tokens/1/revoke", &[]).await;
        assert_eq!(a.status, 403);
        let (status, _) = s.get("/api/v1/orgs/acme/services", &token).await;
        assert_eq!(status, 200, "the token still works");
        let a = web.post("/settings/services", &[("name", "sneaky")]).await;
        assert_eq!(a.status, 403);
        assert_eq!(web.post("/signout", &[]).await.status, 403);
        assert_eq!(web.get("/scorecard").await.status, 200, "still signed in");
        // The sign-in form checks its token too.
        let mut anon = Web::new(&s);
        anon.get("/signin").await;
        let a = anon
            .post(
                "/signin",
                &[
                    ("email", "ann@acme.io"),
                    ("password", pages_support::PASSWORD),
                ],
            )
            .await;
        assert_eq!(a.status, 403);

        // With its token, the same form works.
        let csrf = web.csrf_of("/settings/tokens").await;
        let mut ok = form.to_vec();
        ok.push(("_csrf", &csrf));
        let a = web.post("/settings/tokens", &ok).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(a.body.contains("dorado_"));
        assert_eq!(count(&s), before + 1);
    }
}

#[tokio::test]
async fn a_user_of_one_organization_never_sees_anothers_data() {
    for db in databases() {
        let s = Server::start(db);
        let acme = s.acme();
        scenario(&s, "acme", &acme).await;
        s.cli.json(&["org", "create", "globex"]);
        s.cli
            .json(&["service", "create", "--org", "globex", "checkout"]);
        user(&s, "globex", "gil@globex.io", true);
        let mut web = Web::new(&s);
        web.sign_in("gil@globex.io").await;

        let card = web.get("/scorecard?window=90").await;
        assert_eq!(card.status, 200);
        assert!(!card.body.contains("cart"), "acme's service shows");
        assert!(card.body.contains("No deployments yet"), "{}", card.body);
        let figures = shown(&card.body).figures;
        assert_eq!(figures["deployment_frequency"].0, "0.0");
        assert_eq!(figures["lead_time_for_changes"].0, "null");

        // Globex's own checkout, not acme's.
        let svc = web.get("/services/checkout?window=90").await;
        assert_eq!(svc.status, 200);
        assert_eq!(shown(&svc.body).figures["lead_time_for_changes"].0, "null");
        assert_eq!(web.get("/services/cart").await.status, 404);
        assert_eq!(web.get("/services/1").await.status, 404, "acme's id");
        assert_eq!(web.get("/deployments?service=cart").await.status, 404);

        let csrf = web.csrf_of("/settings/tokens").await;
        for path in [
            "/deployments?window=90",
            "/incidents?window=90",
            "/settings/deliveries",
            "/settings/tokens",
            "/settings/services",
        ] {
            let a = web.get(path).await;
            assert_eq!(a.status, 200, "{path}");
            // The session's CSRF token is random base64 and may spell "D1".
            let body = a.body.replace(&csrf, "");
            for acme_only in ["D1", "INC-1", "INC-2", "Cart is slow", ">ci<", "acme/shop"] {
                assert!(!body.contains(acme_only), "{path} shows {acme_only}");
            }
        }
        // Acme's token cannot be revoked from globex.
        let a = web
            .post("/settings/tokens/1/revoke", &[("_csrf", &csrf)])
            .await;
        assert_eq!(a.status, 404);
        let (status, _) = s.get("/api/v1/orgs/acme/services", &acme).await;
        assert_eq!(status, 200);

        // And acme's user sees acme's.
        user(&s, "acme", "ann@acme.io", false);
        let mut ann = Web::new(&s);
        ann.sign_in("ann@acme.io").await;
        let a = ann.get("/incidents?window=30").await;
        assert!(a.body.contains("INC-1") && a.body.contains("Cart is slow"));
        // A non-admin sees no set-up pages.
        assert_eq!(ann.get("/settings/tokens").await.status, 403);
        assert_eq!(ann.get("/settings/services/checkout").await.status, 403);
    }
}

#[tokio::test]
async fn the_scorecard_shows_the_apis_figures() {
    for db in databases() {
        let s = Server::start(db);
        let token = s.acme();
        scenario(&s, "acme", &token).await;
        user(&s, "acme", "ann@acme.io", false);
        let mut web = Web::new(&s);
        web.sign_in("ann@acme.io").await;
        for (page, extra) in [
            ("/scorecard", ""),
            ("/scorecard?window=7", ""),
            ("/scorecard?window=365&benchmark=2021", "&benchmark=2021"),
            ("/services/checkout?window=90", "&service=checkout"),
            ("/services/cart?window=30", "&service=cart"),
            ("/scorecard?window=custom&from=2000-01-01&to=2000-01-31", ""),
        ] {
            let a = web.get(page).await;
            assert_eq!(a.status, 200, "{page}: {}", a.body);
            let on_page = shown(&a.body);
            let api = api_figures(&s, &token, &on_page, extra).await;
            assert_eq!(on_page.figures, expected(&api), "{page}");
        }
        // Custom windows include both days.
        let a = web
            .get("/scorecard?window=custom&from=2024-03-01&to=2024-03-07")
            .await;
        let w = shown(&a.body);
        assert_eq!(
            (w.from.as_str(), w.to.as_str()),
            ("2024-03-01T00:00:00Z", "2024-03-08T00:00:00Z")
        );
        // The checkout row of the table links to its own scorecard, and
        // the table sorts on the server.
        let a = web.get("/scorecard?window=30&sort=lead&dir=desc").await;
        let cart = a.body.find(r#"data-service="cart""#).unwrap();
        let checkout = a.body.find(r#"data-service="checkout""#).unwrap();
        assert!(cart < checkout, "cart's 3-day lead time sorts first");
        assert!(a.body.contains(r#"href="/services/checkout?window=30""#));
    }
}

#[tokio::test]
async fn every_page_renders_and_empty_states_say_what_to_do() {
    for db in databases() {
        let s = Server::start(db);
        s.cli.json(&["org", "create", "acme"]);
        user(&s, "acme", "ann@acme.io", true);
        let mut web = Web::new(&s);
        web.sign_in("ann@acme.io").await;
        let a = web.get("/scorecard").await;
        assert!(a.body.contains("Create a service"), "{}", a.body);
        assert!(
            a.body.contains(r#"class="cards hidden""#),
            "no empty charts"
        );
        let csrf = web.csrf_of("/settings/services").await;
        let a = web
            .post(
                "/settings/services",
                &[("_csrf", &csrf), ("name", "checkout")],
            )
            .await;
        assert_eq!(a.status, 303);
        let setup = web.get(a.location.as_deref().unwrap()).await;
        for hook in [
            "/api/v1/orgs/acme/deployments",
            "/api/v1/orgs/acme/events",
            "/api/rest/plugins/webhook/1/deployments",
            "/api/rest/plugins/webhook/1/issues",
            "/api/rest/plugins/webhook/1/issue/INC-1/close",
            "/webhook/company/acme/cicd_job",
        ] {
            assert!(setup.body.contains(hook), "{hook}");
        }
        let a = web
            .post(
                "/settings/services",
                &[("_csrf", &csrf), ("name", "checkout")],
            )
            .await;
        assert_eq!(a.status, 400, "a second checkout");
        let a = web.get("/services/checkout").await;
        assert!(a.body.contains("Show the webhooks"), "{}", a.body);
        for path in [
            "/deployments",
            "/incidents",
            "/settings/deliveries",
            "/settings/tokens",
        ] {
            let a = web.get(path).await;
            assert_eq!(a.status, 200, "{path}");
            assert!(a.body.contains(r#"id="empty""#), "{path}");
        }
        for (asset, kind) in [
            ("/assets/dorado.css", "text/css"),
            ("/assets/dorado.js", "text/javascript"),
        ] {
            let r = web
                .http
                .get(format!("{}{asset}", s.base))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            assert!(
                r.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with(kind)
            );
        }
        // The API and its documents are where they were.
        assert_eq!(web.get("/openapi.json").await.status, 200);
        assert!(web.get("/docs/").await.status < 400);
    }
}

// --- a real browser (SQLite) -------------------------------------------------

/// A server on SQLite with acme's scenario, an admin, and a browser
/// signed in as that admin.
async fn signed_in(test: &str) -> Option<(Server, String, Browser)> {
    let db = databases().into_iter().next().expect("SQLite");
    let s = Server::start(db);
    let token = s.acme();
    scenario(&s, "acme", &token).await;
    user(&s, "acme", "ann@acme.io", true);
    let mut b = Browser::start(test).await?;
    b.goto(&s.url("/scorecard")).await;
    assert!(b.url().await.contains("/signin?next="), "{}", b.url().await);
    b.type_into("#email", "ann@acme.io").await;
    b.type_into("#password", pages_support::PASSWORD).await;
    b.screenshot("signin").await;
    b.click("#signin").await;
    b.find("#figures").await;
    assert!(b.url().await.ends_with("/scorecard"), "{}", b.url().await);
    Some((s, token, b))
}

/// The figures the browser shows, checked against `GET /dora`.
async fn check_figures(s: &Server, token: &str, b: &Browser, extra: &str) {
    let section = b.find("#figures").await;
    let mut figures = std::collections::HashMap::new();
    for card in b.find_all("#figures article.card").await {
        let get = async |n: &str| b.attribute(&card, n).await.unwrap();
        figures.insert(
            get("data-metric").await,
            (get("data-value").await, get("data-level").await),
        );
    }
    let on_page = pages_support::Shown {
        figures,
        from: b.attribute(&section, "data-from").await.unwrap(),
        to: b.attribute(&section, "data-to").await.unwrap(),
    };
    let api = api_figures(s, token, &on_page, extra).await;
    assert_eq!(on_page.figures, expected(&api));
}

#[tokio::test]
async fn browser_signs_in_and_sees_the_figures_of_the_api() {
    let Some((s, token, mut b)) = signed_in("scorecard").await else {
        return;
    };
    b.screenshot("scorecard").await;
    check_figures(&s, &token, &b, "").await;
    // What a person reads: the level word and the figure with its unit.
    let card = b
        .text(r#"article[data-metric="change_failure_rate"]"#)
        .await;
    assert!(card.contains("50 %") && card.contains("LOW"), "{card}");
    let lead = b
        .text(r#"article[data-metric="lead_time_for_changes"]"#)
        .await;
    assert!(lead.contains("1 d"), "{lead}");
    assert_eq!(b.find_all("#figures svg.chart").await.len(), 6);
    b.quit().await;
}

#[tokio::test]
async fn browser_switches_window_benchmark_and_service() {
    let Some((s, token, mut b)) = signed_in("switch").await else {
        return;
    };
    b.click(r#"#presets a[data-days="7"]"#).await;
    b.find(r#"#presets a.on[data-days="7"]"#).await;
    assert!(b.text("#window-label").await.contains("last 7 days"));
    b.screenshot("seven-days").await;
    check_figures(&s, &token, &b, "").await;

    b.click(r#"#presets a[data-days="90"]"#).await;
    b.find(r#"#presets a.on[data-days="90"]"#).await;
    b.click(r#"#services tr[data-service="checkout"] a"#).await;
    b.find(r#"#figures[data-service="checkout"]"#).await;
    assert_eq!(b.text("#title").await, "checkout");
    assert!(b.url().await.contains("window=90"));
    b.screenshot("checkout").await;
    check_figures(&s, &token, &b, "&service=checkout").await;

    b.click(r#"a[href*="benchmark=2021"]"#).await;
    b.find(r#"#figures[data-benchmark="2021"]"#).await;
    check_figures(&s, &token, &b, "&service=checkout&benchmark=2021").await;

    // Behind the figures: the deployments of checkout, with what shipped.
    b.click(r#".actions a[href^="/deployments"]"#).await;
    let table = b.text("#deployments").await;
    assert!(table.contains("D3") && table.contains("INC-1"), "{table}");
    b.screenshot("deployments").await;
    b.quit().await;
}

#[tokio::test]
async fn browser_creates_and_revokes_a_token() {
    let Some((s, _, mut b)) = signed_in("tokens").await else {
        return;
    };
    b.click(r#"a[href="/settings/tokens"]"#).await;
    b.type_into("#token-name", "deploy-bot").await;
    b.click("#scope-read").await;
    b.click("#create-token-button").await;
    let secret = b.text("#token-secret").await;
    assert!(secret.starts_with("dorado_"), "{secret}");
    b.screenshot("created").await;
    let (status, v) = s.get("/api/v1/orgs/acme/services", &secret).await;
    assert_eq!(status, 200, "{v}");

    // Shown once: a reload lists it without its secret.
    b.goto(&s.url("/settings/tokens")).await;
    assert!(b.find_all("#token-secret").await.is_empty());
    let row = b.find(r#"tr[data-name="deploy-bot"]"#).await;
    let id = b.attribute(&row, "id").await.unwrap();
    b.click(&format!("#{id} button")).await;
    b.accept_alert().await;
    b.find("#revoked-notice").await;
    b.find(&format!(r#"#{id}[data-status="revoked"]"#)).await;
    b.screenshot("revoked").await;
    let (status, _) = s.get("/api/v1/orgs/acme/services", &secret).await;
    assert_eq!(status, 401);
    b.quit().await;
}

#[tokio::test]
async fn browser_reads_why_a_delivery_was_refused() {
    let Some((s, token, mut b)) = signed_in("deliveries").await else {
        return;
    };
    let bad = r#"{"id": "d9", "service": "checkout", "finished_at": "yesterday"}"#;
    let (status, refused) = s.post("/api/v1/orgs/acme/deployments", &token, bad).await;
    assert_eq!(status, 400);
    let (_, log) = s.get("/api/v1/orgs/acme/deliveries", &token).await;
    let reason = log["items"][0]["error"].as_str().unwrap().to_owned();
    assert!(reason.contains("finished_at"), "{reason} / {refused}");

    b.click(r#"a[href="/settings/deliveries"]"#).await;
    b.click("#show-refused").await;
    b.find("#show-refused.on").await;
    let shown = b.text("#deliveries tr.refused .reason").await;
    assert_eq!(shown, reason);
    let row = b.text("#deliveries tr.refused").await;
    assert!(
        row.contains("400 refused") && row.contains("token ci"),
        "{row}"
    );
    b.screenshot("refused").await;
    b.quit().await;
}
