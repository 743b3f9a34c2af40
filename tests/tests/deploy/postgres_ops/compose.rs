//! The compose files give each service its own role (read as written, without a Docker engine),
//! and the postgres container's entrypoint lets the postgres user read the roles' password files.

use std::process::Command;

use serde_json::Value;

use super::support::{repo_file, stderr};
use tests::deploy_support::{read_repo_file, read_yaml};

/// `(variable, default)` of each `${VARIABLE:-default}` in `text`, in order.
fn variables(text: &str) -> Vec<(String, String)> {
    text.split("${")
        .skip(1)
        .filter_map(|rest| {
            let inner = rest.split('}').next()?;
            let (name, default) = inner.split_once(":-")?;
            Some((name.to_owned(), default.to_owned()))
        })
        .collect()
}

fn env<'a>(services: &'a Value, service: &str) -> &'a Value {
    &services[service]["environment"]
}

#[test]
fn each_service_connects_as_its_own_role_and_the_ingress_not_at_all() {
    let compose = read_yaml("docker-compose.yml");
    let services = &compose["services"];
    let postgres = env(services, "postgres");
    let role = |user: &str, password: &str| {
        vec![
            (user.to_owned(), postgres[user].as_str().unwrap().to_owned()),
            (
                password.to_owned(),
                postgres[password].as_str().unwrap().to_owned(),
            ),
            (
                "POSTGRES_DB".to_owned(),
                postgres["POSTGRES_DB"].as_str().unwrap().to_owned(),
            ),
        ]
    };
    // The postgres service's values are `${VAR:-default}` themselves: compare as written.
    let written = |pairs: Vec<(String, String)>| -> Vec<(String, String)> {
        pairs
            .into_iter()
            .flat_map(|(_, value)| variables(&value))
            .collect()
    };
    let migration = written(role(
        "POSTGRES_MIGRATION_USER",
        "POSTGRES_MIGRATION_PASSWORD",
    ));
    let app = written(role("POSTGRES_APP_USER", "POSTGRES_APP_PASSWORD"));

    let url = |service: &str| {
        env(services, service)["APP_DATABASE__URL"]
            .as_str()
            .map(variables)
    };
    assert_eq!(url("migrate"), Some(migration));
    assert_eq!(url("worker"), Some(app.clone()));
    assert_eq!(url("landing"), Some(app));
    assert_eq!(url("ingress"), None, "the ingress has no database URL");
    assert_eq!(
        services["migrate"]["command"],
        serde_json::json!(["worker", "migrate"])
    );
    for (name, service) in services.as_object().unwrap() {
        let text = service["environment"].to_string();
        assert!(
            !text.contains("${POSTGRES_USER") || name == "postgres",
            "{name} connects as the admin"
        );
    }
    // The roles are made at first start from the files mounted, the SQL where the script
    // looks for it.
    let mounts: Vec<String> = services["postgres"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let script = read_repo_file("deploy/postgres/initdb-roles.sh");
    for (source, target_in) in [
        (
            "./deploy/postgres/initdb-roles.sh:",
            "/docker-entrypoint-initdb.d/",
        ),
        ("./deploy/postgres/roles.sql:", ""),
    ] {
        let mount = mounts
            .iter()
            .find(|m| m.starts_with(source))
            .unwrap_or_else(|| panic!("postgres mounts {source}: {mounts:?}"));
        let target = mount[source.len()..].trim_end_matches(":ro");
        assert!(target.starts_with(target_in), "{mount}");
        assert!(repo_file(source[2..].trim_end_matches(':')).is_file());
        if source.contains("roles.sql") {
            assert!(script.contains(&format!(":-{target}}}")), "{target}");
        }
    }
}

#[test]
fn with_secret_files_migrate_worker_and_landing_read_their_own_url_and_the_ingress_none() {
    let overlay = read_yaml("deploy/compose.secrets.yml");
    let services = &overlay["services"];
    let file_of = |service: &str| {
        env(services, service)["APP_DATABASE__URL_FILE"]
            .as_str()
            .map(str::to_owned)
    };
    let secrets_of = |service: &str| -> Vec<String> {
        services[service]["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };

    assert_eq!(
        file_of("migrate").as_deref(),
        Some("/run/secrets/database_migration_url")
    );
    assert!(secrets_of("migrate").contains(&"database_migration_url".to_owned()));
    for service in ["worker", "landing"] {
        assert_eq!(
            file_of(service).as_deref(),
            Some("/run/secrets/database_url")
        );
        assert!(secrets_of(service).contains(&"database_url".to_owned()));
        assert!(!secrets_of(service).contains(&"database_migration_url".to_owned()));
    }
    assert_eq!(file_of("ingress"), None);
    assert!(!secrets_of("ingress")
        .iter()
        .any(|s| s.starts_with("database")));
    let postgres = env(services, "postgres");
    for (variable, secret) in [
        ("POSTGRES_MIGRATION_PASSWORD", "postgres_migration_password"),
        ("POSTGRES_APP_PASSWORD", "postgres_app_password"),
    ] {
        assert_eq!(postgres[variable], "", "{variable} is blanked");
        assert_eq!(
            postgres[format!("{variable}_FILE")],
            format!("/run/secrets/{secret}").as_str()
        );
        assert!(secrets_of("postgres").contains(&secret.to_owned()));
    }
    // Defined by the overlay, or by the base file for what is a file in both set-ups (the
    // console's operators).
    let base = read_yaml("docker-compose.yml");
    for service in services.as_object().unwrap().keys() {
        for secret in secrets_of(service) {
            assert!(
                overlay["secrets"][&secret]["file"].is_string()
                    || base["secrets"][&secret]["file"].is_string(),
                "{service}: secret {secret} is defined"
            );
        }
    }
    for service in ["worker", "landing", "console"] {
        assert_eq!(
            file_of(service).as_deref(),
            Some("/run/secrets/database_url"),
            "{service}"
        );
    }
}

#[test]
fn the_postgres_entrypoint_hands_the_postgres_user_a_private_copy_of_each_password_file() {
    // It runs as root in the container and chowns to the postgres user: only the same here.
    let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    let postgres_user = Command::new("id")
        .arg("postgres")
        .output()
        .unwrap()
        .status
        .success();
    if !root || !postgres_user {
        eprintln!("SKIPPED: needs root and a postgres user (the container's conditions)");
        return;
    }
    let scratch = std::env::temp_dir().join(format!("pg-entrypoint-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&scratch).unwrap();
    let mut env = Vec::new();
    for (name, content) in [
        ("POSTGRES_PASSWORD", "admin-secret"),
        ("POSTGRES_MIGRATION_PASSWORD", "migration-secret"),
        ("POSTGRES_APP_PASSWORD", "app-secret\n"),
    ] {
        use std::os::unix::fs::OpenOptionsExt;
        let path = scratch.join(name.to_lowercase());
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, content.as_bytes()))
            .unwrap();
        env.push((format!("{name}_FILE"), path.display().to_string()));
    }
    let copies = scratch.join("private");

    // The image's entrypoint stand-in: each file variable, read as the postgres user.
    let out = Command::new("sh")
        .arg(repo_file("deploy/postgres/entrypoint.sh"))
        .arg("sh")
        .arg("-c")
        .arg(
            "for v in POSTGRES_PASSWORD_FILE POSTGRES_MIGRATION_PASSWORD_FILE \
             POSTGRES_APP_PASSWORD_FILE; do \
               f=$(printenv $v); printf '%s=%s:' $v \"$f\"; \
               setpriv --reuid=postgres --regid=postgres --clear-groups cat \"$f\"; echo; done",
        )
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("POSTGRES_SECRETS_DIR", &copies)
        .env("POSTGRES_NEXT_ENTRYPOINT", "env")
        .envs(env)
        .output()
        .expect("sh runs");
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    let _ = std::fs::remove_dir_all(&scratch);

    assert!(out.status.success(), "{}{shown}", stderr(&out));
    let dir = copies.display();
    assert_eq!(
        shown.lines().collect::<Vec<_>>(),
        [
            format!("POSTGRES_PASSWORD_FILE={dir}/POSTGRES_PASSWORD:admin-secret"),
            format!("POSTGRES_MIGRATION_PASSWORD_FILE={dir}/POSTGRES_MIGRATION_PASSWORD:migration-secret"),
            format!("POSTGRES_APP_PASSWORD_FILE={dir}/POSTGRES_APP_PASSWORD:app-secret"),
            String::new(),
        ]
    );
}
