//! The `[credits]` table of a network spec: the faucet's key and limits, and the checker
//! fee of an accepted shard (see `pictor_protocol::credits`).

use pictor_protocol::{credits::FaucetLimits, PublicKey};
use serde::{Deserialize, Serialize};

use super::{format_duration, parse_duration, TomlText};
use crate::NodeError;

/// A network's credits: who issues test credits, how many, and the checkers' fee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditsSpec {
    /// The faucet's key: the one key whose mints create credits.
    pub faucet: PublicKey,
    /// How much one request gets, and one account per window.
    pub limits: FaucetLimits,
    /// Credits the committee of a job earns for each accepted shard.
    pub checker_fee: u64,
}

impl CreditsSpec {
    /// The credits of a local network of processes (`pictor devnet up`): its faucet's key
    /// is `faucet`; a request gets up to 1 000 credits, an account up to 10 000 an hour; a
    /// committee earns 1 credit an accepted shard.
    pub fn devnet(faucet: PublicKey) -> CreditsSpec {
        CreditsSpec {
            faucet,
            limits: FaucetLimits {
                per_request: 1_000,
                per_account_per_window: 10_000,
                window_ms: 3_600_000,
            },
            checker_fee: 1,
        }
    }
}

/// The table as written.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawCredits {
    faucet: Option<String>,
    faucet_per_request: Option<u64>,
    faucet_per_account: Option<u64>,
    faucet_window: Option<String>,
    checker_fee: Option<u64>,
}

impl RawCredits {
    pub(super) fn of(c: &CreditsSpec) -> RawCredits {
        RawCredits {
            faucet: Some(c.faucet.to_string()),
            faucet_per_request: Some(c.limits.per_request),
            faucet_per_account: Some(c.limits.per_account_per_window),
            faucet_window: Some(format_duration(std::time::Duration::from_millis(
                c.limits.window_ms,
            ))),
            checker_fee: Some(c.checker_fee),
        }
    }

    pub(super) fn check(self, doc: &TomlText<'_>) -> Result<CreditsSpec, NodeError> {
        let at = |key: &str| doc.error(&["credits", key], "is required in a [credits] table");
        let faucet_text = self.faucet.ok_or_else(|| at("faucet"))?;
        let faucet: PublicKey = faucet_text.trim().parse().map_err(|e| {
            doc.error(
                &["credits", "faucet"],
                format!("{faucet_text:?} is not a public key: {e}"),
            )
        })?;
        let per_request = self
            .faucet_per_request
            .ok_or_else(|| at("faucet_per_request"))?;
        if per_request == 0 {
            return Err(doc.error(&["credits", "faucet_per_request"], "must be at least 1"));
        }
        let per_account = self
            .faucet_per_account
            .ok_or_else(|| at("faucet_per_account"))?;
        if per_account < per_request {
            return Err(doc.error(
                &["credits", "faucet_per_account"],
                format!("must be at least faucet_per_request ({per_request})"),
            ));
        }
        let window_text = self.faucet_window.ok_or_else(|| at("faucet_window"))?;
        let window = parse_duration(&window_text)
            .map_err(|e| doc.error(&["credits", "faucet_window"], e))?;
        if window.is_zero() {
            return Err(doc.error(&["credits", "faucet_window"], "must be longer than zero"));
        }
        let window_ms = u64::try_from(window.as_millis())
            .map_err(|_| doc.error(&["credits", "faucet_window"], "is too long"))?;
        Ok(CreditsSpec {
            faucet,
            limits: FaucetLimits {
                per_request,
                per_account_per_window: per_account,
                window_ms,
            },
            checker_fee: self.checker_fee.unwrap_or(0),
        })
    }
}
