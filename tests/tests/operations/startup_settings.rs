//! What a service does with settings it cannot run with: its `build` refuses them, naming the
//! key, however they were loaded (the binaries' own start-up is tested beside each binary, in
//! `ingress/tests`, `worker/tests` and `landing/tests`).

use shared::settings::{Settings, Uses};

fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn each_service_refuses_settings_it_cannot_run_with_however_they_were_loaded() {
    // Loaded by something that checked nothing in particular.
    let bare = Settings::load_from(Uses::COMMON, vars(&[("APP_INGRESS__PORT", "0")])).unwrap();
    let error = worker::Application::build(bare.clone())
        .await
        .expect_err("no Stripe settings")
        .to_string();
    assert!(
        error.contains("`stripe.secret_key`: must be set"),
        "{error}"
    );
    let error = landing::Application::build(bare.clone())
        .await
        .expect_err("no Stripe settings")
        .to_string();
    assert!(
        error.contains("`stripe.secret_key`: must be set"),
        "{error}"
    );
    let error = ingress::Application::build(bare)
        .await
        .expect_err("no webhook secret")
        .to_string();
    assert!(error.contains("`webhook.secrets`: must be set"), "{error}");
}
