//! The organisation sweep's plan: which accounts and Regions the central sweep covers. The
//! fan-out itself is AWS Step Functions' (a Map state over the accounts, and within each account
//! one over the Regions, each item one sweep of one registry); this is the first step's answer.

use policy_core::config::{Accounts, GuardConfig};
use serde::Serialize;
use std::{collections::BTreeSet, future::Future};

/// The accounts AWS Organizations lists
pub trait AccountDirectory: Send + Sync {
    /// Every active account of the organisation, all pages
    fn active_accounts(&self) -> impl Future<Output = Result<Vec<String>, String>> + Send;
}

/// How much of the organisation sweep runs at once
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Fanout {
    /// Accounts swept at once (the outer Map's concurrency)
    pub accounts_at_once: usize,
    /// Regions of one account swept at once (the inner Map's concurrency): ECR's request quotas
    /// are per account and Region, so this bounds what one account sees
    pub regions_at_once: usize,
    /// Repositories one sweep handles at once
    pub concurrency: usize,
}

impl Default for Fanout {
    fn default() -> Self {
        Fanout {
            accounts_at_once: 10,
            regions_at_once: 2,
            concurrency: 8,
        }
    }
}

/// What the state machine fans out over
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SweepPlan {
    /// The accounts, sorted, without the excluded ones
    pub accounts: Vec<String>,
    /// The Regions
    pub regions: Vec<String>,
    /// `config` (the config's `accounts`) or `organization` (AWS Organizations)
    pub source: &'static str,
    /// Accounts left out by `exclude_accounts`
    pub excluded: Vec<String>,
    /// How much runs at once
    #[serde(flatten)]
    pub fanout: Fanout,
}

/// Why there is no plan
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// Not central mode
    #[error("the organisation sweep needs central mode: set `member_role` in the config")]
    NotCentral,
    /// AWS Organizations could not list the accounts
    #[error("cannot list the organisation's accounts: {0}")]
    Directory(String),
}

/// The accounts (from the config's list, or AWS Organizations when `accounts` is
/// `organization` or absent) less `exclude_accounts`, by the config's Regions (or `home_region`)
pub async fn plan_sweep(
    config: &GuardConfig,
    directory: &impl AccountDirectory,
    home_region: &str,
    fanout: Fanout,
) -> Result<SweepPlan, PlanError> {
    if !config.is_central() {
        return Err(PlanError::NotCentral);
    }
    let (listed, source) = match &config.accounts {
        Some(Accounts::Listed(ids)) => (ids.clone(), "config"),
        Some(Accounts::Organization) | None => (
            directory.active_accounts().await.map_err(PlanError::Directory)?,
            "organization",
        ),
    };
    let listed: BTreeSet<String> = listed.into_iter().collect();
    let (excluded, accounts): (Vec<String>, Vec<String>) =
        listed.into_iter().partition(|a| config.exclude_accounts.contains(a));
    let regions = if config.regions.is_empty() {
        vec![home_region.to_owned()]
    } else {
        config.regions.clone()
    };
    Ok(SweepPlan {
        accounts,
        regions,
        source,
        excluded,
        fanout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Org(Result<Vec<String>, String>);

    impl AccountDirectory for Org {
        async fn active_accounts(&self) -> Result<Vec<String>, String> {
            self.0.clone()
        }
    }

    fn config(extra: &str) -> GuardConfig {
        GuardConfig::parse(&format!(
            r#"{{"member_role":"arn:aws:iam::${{AccountId}}:role/m"{extra}}}"#
        ))
        .unwrap()
    }

    #[tokio::test]
    async fn plans_from_the_config_or_the_organisation() {
        let org = Org(Ok(vec![
            "333333333333".into(),
            "111111111111".into(),
            "222222222222".into(),
        ]));
        let p = plan_sweep(
            &config(r#","exclude_accounts":["222222222222"]"#),
            &org,
            "eu-west-1",
            Fanout::default(),
        )
        .await
        .unwrap();
        assert_eq!(p.accounts, ["111111111111", "333333333333"]);
        assert_eq!(
            (p.source, p.excluded.as_slice()),
            ("organization", &["222222222222".to_owned()][..])
        );
        assert_eq!(p.regions, ["eu-west-1"]);
        let p = plan_sweep(
            &config(r#","accounts":["444444444444"],"regions":["us-east-1","ap-south-1"]"#),
            &Org(Err("unused".into())),
            "eu-west-1",
            Fanout::default(),
        )
        .await
        .unwrap();
        assert_eq!(
            (p.accounts.as_slice(), p.source),
            (&["444444444444".to_owned()][..], "config")
        );
        assert_eq!(p.regions, ["us-east-1", "ap-south-1"]);
        let e = plan_sweep(
            &config(""),
            &Org(Err("AccessDeniedException".into())),
            "eu-west-1",
            Fanout::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot list the organisation's accounts: AccessDeniedException"
        );
        let single = GuardConfig::parse("{}").unwrap();
        assert_eq!(
            plan_sweep(&single, &org, "eu-west-1", Fanout::default()).await,
            Err(PlanError::NotCentral)
        );
        let v = serde_json::to_value(
            plan_sweep(&config(""), &org, "eu-west-1", Fanout::default())
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(v["accounts_at_once"], 10, "{v}");
        assert_eq!(v["regions_at_once"], 2);
        assert_eq!(v["concurrency"], 8);
    }
}
