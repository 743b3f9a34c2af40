use super::*;

/// What every deployment must set (there are no defaults), then `list` (which wins).
fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
    REQUIRED
        .iter()
        .chain(list)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const REQUIRED: &[(&str, &str)] = &[
    ("APP_STRIPE__API_BASE", "http://127.0.0.1:12111"),
    ("APP_STRIPE__SECRET_KEY", "sk_test_settings"),
    ("APP_WEBHOOK__SECRETS", "whsec_settings"),
    (
        "APP_CONSOLE__OPERATORS",
        "# operators: parsed by the console, not by the settings",
    ),
];

/// Exactly `list`, nothing added.
fn only(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_and_the_required_keys_load_without_any_file() {
    let s = Settings::load_from(Uses::ALL, vars(&[])).unwrap();
    assert_eq!(s.ingress.port, 8080);
    assert_eq!(s.broker.retry_tiers_ms.len(), 5);
    // Bounded by default: a lock held elsewhere never blocks a session of ours for long.
    assert_eq!(s.database.lock_timeout_ms, 5000);
    assert_eq!(s.database.statement_timeout_ms, 30000);
    assert_eq!(s.database.idle_in_transaction_timeout_ms, 30000);
}

#[test]
fn environment_variables_override_defaults_including_lists() {
    let s = Settings::load_from(
        Uses::ALL,
        vars(&[
            ("APP_INGRESS__PORT", "9999"),
            ("APP_WEBHOOK__SECRETS", "whsec_old,whsec_new"),
            ("APP_BROKER__RETRY_TIERS_MS", "10,20"),
            ("APP_STRIPE__SECRET_KEY", "sk_test_abc"),
        ]),
    )
    .unwrap();
    assert_eq!(s.ingress.port, 9999);
    assert_eq!(s.webhook.secrets.len(), 2);
    assert_eq!(s.webhook.secrets[1].expose_secret(), "whsec_new");
    assert_eq!(s.broker.retry_tiers_ms, vec![10, 20]);
}

#[test]
fn a_single_retry_tier_from_the_environment_is_a_list_of_one() {
    let s = Settings::load_from(
        Uses::ALL,
        vars(&[
            ("APP_BROKER__RETRY_TIERS_MS", "200"),
            ("APP_STRIPE__SECRET_KEY", "sk_test_abc"),
        ]),
    )
    .unwrap();
    assert_eq!(s.broker.retry_tiers_ms, vec![200]);
    let error = Settings::load_from(
        Uses::ALL,
        vars(&[("APP_BROKER__RETRY_TIERS_MS", "10,soon")]),
    )
    .unwrap_err();
    assert!(error.to_string().contains("soon"), "{error}");
}

#[test]
fn a_file_named_by_app_config_is_layered_between() {
    let dir = std::env::temp_dir().join(format!("settings-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("app.toml");
    std::fs::write(&file, "[ingress]\nport = 7000\npath = \"/stripe\"\n").unwrap();
    let s = Settings::load_from(
        Uses::ALL,
        vars(&[
            ("APP_CONFIG", file.to_str().unwrap()),
            ("APP_INGRESS__PORT", "7001"),
        ]),
    )
    .unwrap();
    assert_eq!(s.ingress.path, "/stripe");
    assert_eq!(s.ingress.port, 7001, "the environment wins over the file");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_missing_config_file_is_an_error() {
    let err = Settings::load_from(Uses::ALL, vars(&[("APP_CONFIG", "/nonexistent/app.toml")]))
        .unwrap_err();
    assert!(err.to_string().contains("app.toml"), "{err}");
}

#[test]
fn a_bad_value_is_reported_with_its_key() {
    let err =
        Settings::load_from(Uses::ALL, vars(&[("APP_INGRESS__PORT", "not-a-port")])).unwrap_err();
    assert!(err.to_string().contains("ingress.port"), "{err}");
    let err = Settings::load_from(
        Uses::ALL,
        vars(&[("APP_STRIPE__SECRET_KEY", "pk_test_123")]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("stripe.secret_key"), "{err}");
    let err = Settings::load_from(Uses::ALL, vars(&[("APP_WEBHOOK__SECRETS", "")])).unwrap_err();
    assert!(err.to_string().contains("webhook.secrets"), "{err}");
    let err = Settings::load_from(
        Uses::ALL,
        vars(&[("APP_INGRESS__BODY_READ_TIMEOUT_MS", "0")]),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("ingress.body_read_timeout_ms"),
        "{err}"
    );
    let err =
        Settings::load_from(Uses::ALL, vars(&[("APP_WORKER__HAND_BACK_MAX_MS", "0")])).unwrap_err();
    assert!(err.to_string().contains("worker.hand_back_max_ms"), "{err}");
    // No keep-alive would also mean no bound on a first request's head (actix-web reads 0 as
    // "never"): refused, naming the key.
    for key in ["ingress", "landing"] {
        let var = format!("APP_{}__KEEP_ALIVE_SECS", key.to_uppercase());
        let err = Settings::load_from(Uses::ALL, vars(&[(var.as_str(), "0")])).unwrap_err();
        assert!(
            err.to_string().contains(&format!("{key}.keep_alive_secs")),
            "{err}"
        );
    }
}

#[test]
fn the_workers_pool_is_sized_with_its_prefetch_and_reconciler() {
    let s = Settings::load_from(Uses::ALL, vars(&[])).unwrap();
    assert_eq!(s.database.max_connections, 0, "sized by the service");
    assert_eq!(
        s.worker_database().unwrap().max_connections,
        32 + 8 + WORKER_OTHER_CONNECTIONS
    );
    let s = Settings::load_from(
        Uses::ALL,
        vars(&[
            ("APP_WORKER__PREFETCH", "10"),
            ("APP_WORKER__RECONCILE_INTERVAL_SECS", "0"),
        ]),
    )
    .unwrap();
    assert_eq!(s.worker_database().unwrap().max_connections, 12);
    let s =
        Settings::load_from(Uses::ALL, vars(&[("APP_DATABASE__MAX_CONNECTIONS", "60")])).unwrap();
    assert_eq!(s.worker_database().unwrap().max_connections, 60);
}

#[test]
fn a_pool_smaller_than_the_workers_concurrency_is_refused_naming_both_keys() {
    let s =
        Settings::load_from(Uses::ALL, vars(&[("APP_DATABASE__MAX_CONNECTIONS", "16")])).unwrap();
    let shown = s.worker_database().unwrap_err().to_string();
    assert!(shown.contains("`database.max_connections`"), "{shown}");
    assert!(shown.contains("worker.prefetch (32)"), "{shown}");
    assert!(
        shown.contains("worker.reconcile_concurrency (8)"),
        "{shown}"
    );
    assert!(shown.contains("= 42"), "{shown}");
}

#[test]
fn webhook_secrets_are_trimmed_of_spaces_and_line_ends() {
    let s = Settings::load_from(
        Uses::ALL,
        vars(&[("APP_WEBHOOK__SECRETS", " whsec_old , whsec_new\r\n")]),
    )
    .unwrap();
    let secrets: Vec<&str> = s
        .webhook
        .secrets
        .iter()
        .map(|secret| secret.expose_secret())
        .collect();
    assert_eq!(secrets, ["whsec_old", "whsec_new"]);

    let dir = std::env::temp_dir().join(format!("settings-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("app.toml");
    std::fs::write(&file, "[webhook]\r\nsecrets = [\"whsec_file\\r\\n\"]\r\n").unwrap();
    let s = Settings::load_from(
        Uses::INGRESS,
        only(&[("APP_CONFIG", file.to_str().unwrap())]),
    )
    .unwrap();
    assert_eq!(s.webhook.secrets[0].expose_secret(), "whsec_file");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_empty_or_malformed_webhook_secret_is_refused_naming_the_key() {
    for (value, problem) in [
        ("whsec_a,,whsec_b", "secret 2 of 3 is empty"),
        ("whsec_a,", "secret 2 of 2 is empty"),
        (" \r\n", "secret 1 of 1 is empty"),
        (
            "whsec_a, sk_test_b",
            "secret 2 of 2 does not start with whsec_",
        ),
        ("whsec_a,whsec_", "secret 2 of 2 does not start with whsec_"),
        (
            "whsec_a whsec_b",
            "secret 1 of 1 does not start with whsec_",
        ),
    ] {
        let err =
            Settings::load_from(Uses::ALL, vars(&[("APP_WEBHOOK__SECRETS", value)])).unwrap_err();
        let shown = err.to_string();
        assert!(shown.contains("`webhook.secrets`"), "{value:?}: {shown}");
        assert!(shown.contains(problem), "{value:?}: {shown}");
        assert!(
            !shown.contains("sk_test_b"),
            "never the secret itself: {shown}"
        );
    }
}

#[test]
fn a_broker_url_may_list_the_nodes_of_a_cluster_but_each_must_be_amqp() {
    let nodes = "amqp://u:p@rabbitmq-1:5672/%2f,amqp://u:p@rabbitmq-2:5672/%2f";
    let s = Settings::load_from(Uses::ALL, vars(&[("APP_BROKER__URL", nodes)])).unwrap();
    assert_eq!(
        s.broker.url.expose_secret(),
        nodes,
        "kept whole, not split by config"
    );
    let err = Settings::load_from(
        Uses::ALL,
        vars(&[(
            "APP_BROKER__URL",
            "amqp://u:p@rabbitmq-1:5672/%2f,rabbitmq-2:5672",
        )]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("broker.url"), "{err}");
    assert!(err.to_string().contains("several"), "{err}");
}

#[test]
fn trusted_proxies_are_addresses_or_ranges() {
    let s = Settings::load_from(
        Uses::ALL,
        vars(&[(
            "APP_LANDING__TRUSTED_PROXIES",
            "10.0.0.7, 172.16.0.0/12,2001:db8::/64",
        )]),
    )
    .unwrap();
    let ranges = s.landing.trusted_proxy_ranges().unwrap();
    assert_eq!(ranges.len(), 3);
    assert!(ranges[0].contains(&"10.0.0.7".parse::<std::net::IpAddr>().unwrap()));
    let none =
        Settings::load_from(Uses::ALL, vars(&[("APP_LANDING__TRUSTED_PROXIES", "")])).unwrap();
    assert!(none.landing.trusted_proxy_ranges().unwrap().is_empty());
    let err = Settings::load_from(
        Uses::ALL,
        vars(&[("APP_LANDING__TRUSTED_PROXIES", "proxy.local")]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("landing.trusted_proxies"), "{err}");
    let err = Settings::load_from(
        Uses::ALL,
        vars(&[("APP_LANDING__CLIENT_IP_HEADER", "X Forwarded")]),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("landing.client_ip_header"),
        "{err}"
    );
    let err =
        Settings::load_from(Uses::ALL, vars(&[("APP_LANDING__FORM_SECRET", "short")])).unwrap_err();
    assert!(err.to_string().contains("landing.form_secret"), "{err}");
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let s = Settings::load_from(
        Uses::ALL,
        vars(&[
            ("APP_STRIPE__SECRET_KEY", "sk_test_verysecret"),
            ("APP_WEBHOOK__SECRETS", "whsec_verysecret"),
            ("APP_DATABASE__URL", "postgres://u:dbpassword@h/d"),
            ("APP_BROKER__URL", "amqp://u:brokerpassword@h"),
            ("APP_DATABASE__PASSWORD", "separate-db-password"),
            ("APP_BROKER__PASSWORD", "separate-broker-password"),
        ]),
    )
    .unwrap();
    let shown = format!("{s:?}");
    for secret in [
        "sk_test_verysecret",
        "whsec_verysecret",
        "dbpassword",
        "brokerpassword",
        "separate-db-password",
        "separate-broker-password",
    ] {
        assert!(!shown.contains(secret), "{secret} leaked");
    }
}

/// The message of the error loading `list` (nothing added) for `uses`.
fn refusal(uses: Uses, list: &[(&str, &str)]) -> String {
    Settings::load_from(uses, only(list))
        .expect_err("refused")
        .to_string()
}

#[test]
fn without_explicit_stripe_settings_the_worker_and_landing_refuse_naming_the_key() {
    let base = ("APP_STRIPE__API_BASE", "https://api.stripe.com");
    let key = ("APP_STRIPE__SECRET_KEY", "sk_test_abc");
    for uses in [Uses::WORKER, Uses::LANDING, Uses::RECONCILE] {
        let shown = refusal(uses, &[key]);
        assert!(shown.contains("`stripe.api_base`: must be set"), "{shown}");
        let shown = refusal(uses, &[base]);
        assert!(
            shown.contains("`stripe.secret_key`: must be set"),
            "{shown}"
        );
        let shown = refusal(uses, &[base, ("APP_STRIPE__SECRET_KEY", "")]);
        assert!(
            shown.contains("`stripe.secret_key`: must be set"),
            "{shown}"
        );
        Settings::load_from(uses, only(&[base, key])).expect("both set: loads");
    }
}

#[test]
fn a_claim_wait_longer_than_claims_are_kept_is_refused_naming_the_key() {
    let stripe = [
        ("APP_STRIPE__API_BASE", "https://api.stripe.com"),
        ("APP_STRIPE__SECRET_KEY", "sk_test_abc"),
    ];
    let too_long = [&stripe[..], &[("APP_STRIPE__CLAIM_WAIT_MS", "60001")]].concat();
    let shown = refusal(Uses::WORKER, &too_long);
    assert!(
        shown.contains("`stripe.claim_wait_ms`: must be at most 60000"),
        "{shown}"
    );
    let longest = [&stripe[..], &[("APP_STRIPE__CLAIM_WAIT_MS", "60000")]].concat();
    let settings = Settings::load_from(Uses::LANDING, only(&longest)).expect("a minute: loads");
    assert_eq!(
        settings.stripe.claim_wait(),
        std::time::Duration::from_secs(60)
    );
}

#[test]
fn without_a_webhook_secret_the_ingress_refuses_naming_the_key() {
    let shown = refusal(Uses::INGRESS, &[]);
    assert!(
        shown.contains("`webhook.secrets`: must be set: at least one endpoint secret"),
        "{shown}"
    );
}

#[test]
fn the_ingress_needs_only_its_webhook_secrets_and_the_broker() {
    let s = Settings::load_from(
        Uses::INGRESS,
        only(&[
            ("APP_WEBHOOK__SECRETS", "whsec_only"),
            ("APP_BROKER__URL", "amqps://app@rabbitmq:5671/%2f"),
            // Unused by the ingress, so neither missing nor wrong stops it.
            ("APP_DATABASE__URL", ""),
            ("APP_STRIPE__SECRET_KEY", ""),
            ("APP_LANDING__FORM_SECRET", ""),
        ]),
    )
    .expect("an ingress reads no Stripe key, database or landing setting");
    assert_eq!(s.webhook.secrets.len(), 1);
    // What it does read is still checked.
    let shown = refusal(
        Uses::INGRESS,
        &[
            ("APP_WEBHOOK__SECRETS", "whsec_only"),
            ("APP_BROKER__URL", "rabbitmq:5672"),
        ],
    );
    assert!(shown.contains("`broker.url`"), "{shown}");
}

#[test]
fn one_shot_commands_check_only_what_they_read() {
    Settings::load_from(Uses::DATABASE, only(&[])).expect("migrate and show need no Stripe key");
    Settings::load_from(Uses::BROKER, only(&[])).expect("redrive needs no Stripe key");
    let shown = refusal(Uses::DATABASE, &[("APP_DATABASE__URL", "mysql://x")]);
    assert!(shown.contains("`database.url`"), "{shown}");
}

#[test]
fn a_live_key_with_an_api_base_that_is_not_https_is_refused_naming_both_keys() {
    for key in ["sk_live_abc", "rk_live_abc"] {
        let shown = refusal(
            Uses::WORKER,
            &[
                ("APP_STRIPE__API_BASE", "http://stripe-sim:12111"),
                ("APP_STRIPE__SECRET_KEY", key),
            ],
        );
        assert!(shown.contains("`stripe.api_base`"), "{shown}");
        assert!(shown.contains("stripe.secret_key is a live key"), "{shown}");
        assert!(shown.contains("http://stripe-sim:12111"), "{shown}");
        assert!(!shown.contains(key), "never the key itself: {shown}");
    }
    Settings::load_from(
        Uses::WORKER,
        only(&[
            ("APP_STRIPE__API_BASE", "https://api.stripe.com"),
            ("APP_STRIPE__SECRET_KEY", "sk_live_abc"),
        ]),
    )
    .expect("a live key over https");
    Settings::load_from(
        Uses::WORKER,
        only(&[
            ("APP_STRIPE__API_BASE", "http://stripe-sim:12111"),
            ("APP_STRIPE__SECRET_KEY", "rk_test_abc"),
        ]),
    )
    .expect("a test key may talk to the simulator over http");
}

#[test]
fn passwords_are_taken_exactly_as_the_environment_has_them() {
    for password in ["p@ss:w/rd#%20x", "0123", "TRUE", "1e5", " spaced "] {
        let s = Settings::load_from(
            Uses::ALL,
            vars(&[
                ("APP_DATABASE__PASSWORD", password),
                ("APP_BROKER__PASSWORD", password),
            ]),
        )
        .unwrap();
        assert_eq!(s.database.password.expose_secret(), password);
        assert_eq!(s.broker.password.expose_secret(), password);
    }
    let s = Settings::load_from(Uses::ALL, vars(&[])).unwrap();
    assert_eq!(s.database.password.expose_secret(), "", "unset: the URL's");
}

#[test]
fn a_separate_database_password_replaces_the_urls() {
    let s = Settings::load_from(
        Uses::DATABASE,
        only(&[
            ("APP_DATABASE__URL", "postgres://app:old@db:5432/orders"),
            ("APP_DATABASE__PASSWORD", "p@ss:w/rd#%20x"),
        ]),
    )
    .unwrap();
    let options = crate::store::connect_options(&s.database).unwrap();
    let url = sqlx::ConnectOptions::to_url_lossy(&options);
    assert_eq!(
        url.password(),
        Some("p%40ss%3Aw%2Frd%23%2520x"),
        "the password as given, encoded only in this URL"
    );
    assert_eq!(url.username(), "app");
}

#[test]
fn a_broker_ca_file_must_exist_and_hold_a_certificate() {
    let shown = refusal(
        Uses::BROKER,
        &[("APP_BROKER__CA_FILE", "/nonexistent/ca.pem")],
    );
    assert!(
        shown.contains("`broker.ca_file`: /nonexistent/ca.pem cannot be read"),
        "{shown}"
    );
    // Landing never connects to the broker: its CA file is not its concern.
    Settings::load_from(
        Uses::LANDING,
        only(&[
            ("APP_BROKER__CA_FILE", "/nonexistent/ca.pem"),
            ("APP_STRIPE__API_BASE", "https://api.stripe.com"),
            ("APP_STRIPE__SECRET_KEY", "sk_test_abc"),
        ]),
    )
    .expect("landing ignores the broker section");
}

#[test]
fn the_embedded_checkout_needs_a_publishable_key_and_a_stripe_js_url() {
    let s = Settings::load_from(Uses::ALL, vars(&[])).unwrap();
    assert_eq!(s.landing.checkout_ui_mode, CheckoutUiMode::Hosted);
    assert_eq!(s.landing.stripe_js_url, "https://js.stripe.com/v3");

    let err = Settings::load_from(
        Uses::ALL,
        vars(&[("APP_LANDING__CHECKOUT_UI_MODE", "embedded")]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("landing.publishable_key"), "{err}");

    let err = Settings::load_from(
        Uses::ALL,
        vars(&[("APP_LANDING__STRIPE_JS_URL", "js.stripe.com/v3")]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("landing.stripe_js_url"), "{err}");

    let err = Settings::load_from(
        Uses::ALL,
        vars(&[("APP_LANDING__CHECKOUT_UI_MODE", "iframe")]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("checkout_ui_mode"), "{err}");

    let s = Settings::load_from(
        Uses::ALL,
        vars(&[
            ("APP_LANDING__CHECKOUT_UI_MODE", "embedded"),
            ("APP_LANDING__PUBLISHABLE_KEY", "pk_test_settings"),
            ("APP_LANDING__STRIPE_JS_URL", "http://127.0.0.1:12111/v3"),
        ]),
    )
    .unwrap();
    assert_eq!(s.landing.checkout_ui_mode, CheckoutUiMode::Embedded);
}

#[test]
fn reconciled_accounts_come_as_a_list_of_account_ids() {
    let s = Settings::load_from(
        Uses::ALL,
        vars(&[("APP_WORKER__RECONCILE_ACCOUNTS", "acct_1Shop,acct_2Cafe")]),
    )
    .unwrap();
    assert_eq!(s.worker.reconcile_accounts, ["acct_1Shop", "acct_2Cafe"]);
    // Compose passes an unset RECONCILE_ACCOUNTS as the empty string: no accounts.
    for none in [vars(&[]), vars(&[("APP_WORKER__RECONCILE_ACCOUNTS", "")])] {
        let s = Settings::load_from(Uses::ALL, none).unwrap();
        assert!(s.worker.reconcile_accounts.is_empty());
    }
    let err = Settings::load_from(
        Uses::ALL,
        vars(&[("APP_WORKER__RECONCILE_ACCOUNTS", "acct_1Shop,shop2")]),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("worker.reconcile_accounts"),
        "{err}"
    );
}

#[test]
fn shipping_countries_come_as_a_list_of_capital_codes() {
    let s = Settings::load_from(
        Uses::ALL,
        vars(&[("APP_LANDING__SHIPPING_COUNTRIES", "US,CA")]),
    )
    .unwrap();
    assert_eq!(s.landing.shipping_countries, ["US", "CA"]);
    let s = Settings::load_from(Uses::ALL, vars(&[])).unwrap();
    assert!(s.landing.shipping_countries.contains(&"US".to_string()));
    for bad in ["", "us", "USA,CA"] {
        let err = Settings::load_from(Uses::ALL, vars(&[("APP_LANDING__SHIPPING_COUNTRIES", bad)]))
            .unwrap_err();
        assert!(
            err.to_string().contains("landing.shipping_countries"),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn the_console_refuses_to_start_without_operators_naming_the_key() {
    let err =
        Settings::load_from(Uses::CONSOLE, vars(&[("APP_CONSOLE__OPERATORS", " ")])).unwrap_err();
    assert!(err.to_string().contains("console.operators"), "{err}");
    // The other services do not read the section, so they start without it.
    Settings::load_from(Uses::WORKER, vars(&[("APP_CONSOLE__OPERATORS", "")])).unwrap();
}

#[test]
fn the_management_password_is_kept_verbatim() {
    let s = Settings::load_from(
        Uses::CONSOLE,
        vars(&[("APP_CONSOLE__MANAGEMENT_PASSWORD", "0123")]),
    )
    .unwrap();
    assert_eq!(s.console.management_password.expose_secret(), "0123");
}

#[test]
fn proxy_sign_in_needs_both_a_header_and_the_proxies_it_is_believed_from() {
    let s = Settings::load_from(
        Uses::CONSOLE,
        vars(&[
            ("APP_CONSOLE__PROXY_USER_HEADER", "Remote-User"),
            ("APP_CONSOLE__TRUSTED_PROXIES", "127.0.0.1, 172.18.0.0/16"),
        ]),
    )
    .unwrap();
    assert_eq!(s.console.trusted_proxy_ranges().unwrap().len(), 2);
    for (settings, key) in [
        (
            vec![("APP_CONSOLE__PROXY_USER_HEADER", "Remote-User")],
            "console.trusted_proxies",
        ),
        (
            vec![("APP_CONSOLE__TRUSTED_PROXIES", "127.0.0.1")],
            "console.proxy_user_header",
        ),
        (
            vec![
                ("APP_CONSOLE__PROXY_USER_HEADER", "Remote User"),
                ("APP_CONSOLE__TRUSTED_PROXIES", "127.0.0.1"),
            ],
            "console.proxy_user_header",
        ),
        (
            vec![
                ("APP_CONSOLE__PROXY_USER_HEADER", "Remote-User"),
                ("APP_CONSOLE__TRUSTED_PROXIES", "proxy.local"),
            ],
            "console.trusted_proxies",
        ),
    ] {
        let err = Settings::load_from(Uses::CONSOLE, vars(&settings)).unwrap_err();
        assert!(err.to_string().contains(key), "{settings:?}: {err}");
    }
}

#[test]
fn a_misspelled_variable_stops_start_up_naming_it() {
    // Ignored, it would leave the setting at its default with nothing to say so.
    for (var, named) in [
        ("APP_WORKER__PREFECH", "prefech"),
        ("APP_CONSOLE__TRUSTED_PROXY", "trusted_proxy"),
        ("APP_WORKR__PREFETCH", "workr"),
    ] {
        let err = Settings::load_from(Uses::ALL, vars(&[(var, "3")])).unwrap_err();
        assert!(err.to_string().contains(named), "{var}: {err}");
    }
}
