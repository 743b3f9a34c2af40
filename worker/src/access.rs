//! `worker access set|add-keys`: what a Stripe product gives the customer when it is bought
//! (digital goods and services), kept in Postgres beside the orders that record what they got.

use std::io::Read;

use anyhow::{bail, Context};
use shared::store::access::{self, ProductAccess};
use sqlx::PgPool;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// Set what a product gives: a link (download, course, activation page) and/or one licence
    /// key per unit from its pool. Orders fulfilled before keep what they got.
    Set {
        /// The Stripe product id (prod_…).
        product: String,
        /// What the customer now has, as the success page and the mail name it.
        #[arg(long)]
        title: String,
        /// Where the customer gets it (http or https).
        #[arg(long)]
        url: Option<String>,
        /// Issue a licence key per unit bought, from the pool `add-keys` fills.
        #[arg(long)]
        licence_keys: bool,
    },
    /// Add licence keys to a product's pool, one per line (blank lines skipped), from a file
    /// or standard input. A key already in a pool is skipped.
    AddKeys {
        /// The Stripe product id (prod_…).
        product: String,
        /// The file of keys (default: standard input).
        #[arg(long)]
        file: Option<std::path::PathBuf>,
    },
}

/// Runs `command`; the answer is the one-line report for the operator.
pub async fn run(pool: &PgPool, command: AccessCommand) -> anyhow::Result<String> {
    match command {
        AccessCommand::Set {
            product,
            title,
            url,
            licence_keys,
        } => {
            let access = checked(product, title, url, licence_keys)?;
            access::set(pool, &access).await?;
            let free = access::free_keys(pool, &access.product_id).await?;
            Ok(format!(
                "{}: {}{}{}",
                access.product_id,
                access.title,
                access.url.map(|u| format!(" <{u}>")).unwrap_or_default(),
                if access.licence_keys {
                    format!("; a licence key per unit ({free} free)")
                } else {
                    String::new()
                }
            ))
        }
        AccessCommand::AddKeys { product, file } => {
            check_product(&product)?;
            let text = match &file {
                Some(path) => std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?,
                None => {
                    let mut text = String::new();
                    std::io::stdin()
                        .read_to_string(&mut text)
                        .context("reading keys from standard input")?;
                    text
                }
            };
            let keys = keys_of(&text);
            if keys.is_empty() {
                bail!("no keys given: one per line, from --file or standard input");
            }
            let added = access::add_keys(pool, &product, &keys).await?;
            let free = access::free_keys(pool, &product).await?;
            Ok(format!(
                "added {added} of {} key(s) to {product} ({} already in a pool); {free} free",
                keys.len(),
                keys.len() as u64 - added
            ))
        }
    }
}

/// The settings of `set`, checked: a product id, a title, and something to give.
fn checked(
    product: String,
    title: String,
    url: Option<String>,
    licence_keys: bool,
) -> anyhow::Result<ProductAccess> {
    check_product(&product)?;
    let title = title.trim().to_owned();
    if title.is_empty() || title.chars().count() > 200 {
        bail!("--title must be 1 to 200 characters");
    }
    if let Some(url) = &url {
        let host = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        if !host.is_some_and(|h| !h.is_empty() && !h.contains(char::is_whitespace)) {
            bail!("--url {url:?} is not an http or https URL");
        }
    }
    if url.is_none() && !licence_keys {
        bail!("give --url, --licence-keys or both: otherwise the product gives nothing");
    }
    Ok(ProductAccess {
        product_id: product,
        title,
        url,
        licence_keys,
    })
}

fn check_product(product: &str) -> anyhow::Result<()> {
    if !product.starts_with("prod_") || product.len() < 6 {
        bail!("{product:?} is not a Stripe product id (prod_…)");
    }
    Ok(())
}

/// One key per line, trimmed; blank lines and duplicates within the input skipped.
fn keys_of(text: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    text.lines()
        .map(str::trim)
        .filter(|k| !k.is_empty() && seen.insert(*k))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_lines_without_blanks_or_repeats() {
        assert_eq!(keys_of("A-1\n\n  B-2 \r\nA-1\n"), ["A-1", "B-2"]);
    }

    #[test]
    fn a_product_that_gives_nothing_or_a_bad_link_is_refused() {
        let set = |url: Option<&str>, keys: bool| {
            checked("prod_1".into(), "Guide".into(), url.map(String::from), keys)
        };
        assert!(set(None, false).is_err());
        assert!(set(Some("ftp://x.test/a"), false).is_err());
        assert!(set(Some("https://x.test/a"), false).is_ok());
        assert!(set(None, true).is_ok());
        assert!(checked("price_1".into(), "Guide".into(), None, true).is_err());
    }
}
