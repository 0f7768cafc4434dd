//! Clear signing: what a manager sees and approves before their share signs (DESIGN.md §2.1,
//! §11).
//!
//! The coordinator hands the client the online zone's signed `SigningRequest` envelope as it
//! was imported. The client trusts none of it on the coordinator's word: [`review`] verifies
//! the envelope under the client's *own* pinned online key, decodes the unsigned transaction
//! and recomputes its hash (through `contracts`, the same code the offline server uses, so the
//! two cannot disagree about what a request means), and checks that it spends from this
//! case's account. Only then is it shown ([`Reviewed`]'s `Display`) and approved by its
//! signing hash ([`ApprovalPolicy`]): the hash the manager approves is the hash the share
//! signs, and the coordinator refuses a join whose approved hash differs.

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};

use alloy_primitives::U256;
use contracts::coord::SignItem;
use contracts::envelope::Asset;
use contracts::{Amount, Envelope, EthAddress, Id, KeyRing, SigningRequest};

/// Where the interactive questions are asked: the controlling terminal, even when stdin and
/// stdout are redirected, so an approval cannot be fed from a pipe by mistake.
const TTY: &str = "/dev/tty";
/// How many hex digits of the signing hash the manager types to approve.
const CONFIRM_DIGITS: usize = 8;

/// Why a request was refused or could not be approved. Each failure has its own variant so
/// the session can tell the coordinator (and the operators) why this manager did not sign.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The envelope or its body does not decode (size, version, shape, kind).
    #[error("the signing request is malformed: {0}")]
    Malformed(#[source] contracts::Error),
    /// The envelope is signed by a key this client does not pin for signing requests.
    #[error("the signing request is refused: {0}")]
    UnknownSigner(#[source] contracts::Error),
    /// The envelope's signature does not verify: it was altered or forged.
    #[error("the signing request is refused: {0}")]
    BadSignature(#[source] contracts::Error),
    /// The envelope is expired (or not yet valid on this PC's clock).
    #[error("the signing request is refused: {0}")]
    Expired(#[source] contracts::Error),
    /// The transaction contradicts its hash, chain or summary, or is of a refused shape.
    #[error("the signing request is refused: {0}")]
    Inconsistent(#[source] contracts::Error),
    /// The coordinator listed the envelope under another request id.
    #[error("the coordinator lists request {listed} but the signed request is {signed}; refused")]
    RequestIdMismatch {
        /// The id in the work item.
        listed: Id,
        /// The id inside the signed envelope.
        signed: Id,
    },
    /// The request spends from another account than this case's.
    #[error("the request spends from {found}, not from this case's account {expected}; refused")]
    WrongAccount {
        /// The case address.
        expected: EthAddress,
        /// The request's `from`.
        found: EthAddress,
    },
    /// A hash given on the command line does not parse.
    #[error("{0:?} is not a signing hash (64 hex digits, with or without 0x)")]
    BadHash(String),
    /// The terminal could not be used to ask.
    #[error("cannot ask for approval on the terminal ({TTY}): {0}")]
    Tty(#[source] std::io::Error),
}

impl ReviewError {
    fn from_contracts(e: contracts::Error) -> Self {
        use contracts::Error as E;
        match e {
            E::UnknownSigner { .. } | E::SignerNotAllowed { .. } => Self::UnknownSigner(e),
            E::BadSignature => Self::BadSignature(e),
            E::Expired { .. } | E::NotYetValid { .. } => Self::Expired(e),
            E::HashMismatch
            | E::ChainMismatch { .. }
            | E::SummaryMismatch(_)
            | E::UnsupportedTransaction(_) => Self::Inconsistent(e),
            other => Self::Malformed(other),
        }
    }
}

/// A signing request that passed every check, with everything the manager is shown.
#[derive(Debug, Clone)]
pub struct Reviewed {
    /// The request id.
    pub request_id: Id,
    /// The envelope id (for logs).
    pub envelope_id: Id,
    /// keccak256 of the unsigned transaction, recomputed here: what the share signs.
    pub signing_hash: [u8; 32],
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// The account that signs (this case's address).
    pub from: EthAddress,
    /// The transaction's `to`: the payee for ether, the token contract for ERC-20.
    pub to: EthAddress,
    /// Who receives the funds.
    pub recipient: EthAddress,
    /// Ticker (`ETH`, `USDC`).
    pub asset_symbol: String,
    /// The ERC-20 contract, or none for ether.
    pub token: Option<EthAddress>,
    /// Amount in base units.
    pub amount: Amount,
    /// Decimals of the asset, for display.
    pub decimals: u8,
    /// Account nonce.
    pub nonce: u64,
    /// Gas limit.
    pub gas_limit: u64,
    /// Maximum fee per gas, wei.
    pub max_fee_per_gas: Amount,
    /// Priority fee per gas, wei.
    pub max_priority_fee_per_gas: Amount,
    /// The most the fees can cost (`gas_limit × max_fee_per_gas`), wei.
    pub max_fee_wei: Amount,
    /// Who built the transfer in the online zone.
    pub created_by: String,
    /// Who approved it in the online zone.
    pub approved_by: Vec<String>,
    /// When the envelope expires (unix seconds).
    pub expires_at: u64,
    /// The verified request itself (for the signing run and its result check).
    pub request: SigningRequest,
}

impl Reviewed {
    /// The amount with its decimals and symbol: `1.5 ETH`, `250 USDC`.
    pub fn amount_text(&self) -> String {
        format!(
            "{} {}",
            format_units(&self.amount.0, self.decimals),
            self.asset_symbol
        )
    }

    /// The most the fees can cost, in ether: `0.00063 ETH`.
    pub fn max_fee_text(&self) -> String {
        format!("{} ETH", format_units(&self.max_fee_wei.0, 18))
    }

    /// The signing hash as `0x` and 64 hex digits.
    pub fn hash_hex(&self) -> String {
        format!("0x{}", hex::encode(self.signing_hash))
    }
}

/// `value` base units with `decimals` decimals, without trailing zeros: `1500000000000000000`
/// with 18 decimals is `1.5`, `250000000` with 6 is `250`.
pub fn format_units(value: &U256, decimals: u8) -> String {
    let digits = value.to_string();
    let d = usize::from(decimals);
    if d == 0 {
        return digits;
    }
    let padded = if digits.len() <= d {
        format!("{}{digits}", "0".repeat(d + 1 - digits.len()))
    } else {
        digits
    };
    let Some((int, frac)) = padded.split_at_checked(padded.len() - d) else {
        return padded;
    };
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        int.to_owned()
    } else {
        format!("{int}.{frac}")
    }
}

/// A well-known chain's name, for the `Chain` line.
fn chain_name(chain_id: u64) -> Option<&'static str> {
    Some(match chain_id {
        1 => "Ethereum mainnet",
        11_155_111 => "Sepolia testnet",
        17_000 => "Holesky testnet",
        560_048 => "Hoodi testnet",
        31_337 => "local development chain",
        _ => return None,
    })
}

/// Text from the online zone (user names) made safe to print: control characters and
/// invisible or direction-changing characters are shown escaped, so a crafted name cannot
/// move the cursor, recolour the terminal or reorder the lines around it.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            let invisible = c.is_control()
                || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}');
            if invisible {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn unix_time_text(secs: u64) -> String {
    match i64::try_from(secs)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
    {
        Some(t) => format!("{} UTC", t.format("%Y-%m-%d %H:%M:%S")),
        None => format!("unix time {secs}"),
    }
}

impl fmt::Display for Reviewed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const W: usize = 18;
        writeln!(f, "Signing request {}", self.request_id)?;
        let chain = match chain_name(self.chain_id) {
            Some(name) => format!("{} ({name})", self.chain_id),
            None => self.chain_id.to_string(),
        };
        writeln!(f, "  {:<W$}{chain}", "Chain:")?;
        writeln!(f, "  {:<W$}{}", "From:", self.from)?;
        writeln!(f, "  {:<W$}{}", "To:", self.recipient)?;
        writeln!(
            f,
            "  {:<W$}{} ({} base units)",
            "Amount:",
            self.amount_text(),
            self.amount
        )?;
        match self.token {
            Some(token) => writeln!(
                f,
                "  {:<W$}{} — ERC-20 contract {token} (the transaction calls it)",
                "Token:", self.asset_symbol
            )?,
            None => writeln!(f, "  {:<W$}none (ether transfer)", "Token:")?,
        }
        writeln!(f, "  {:<W$}{}", "Nonce:", self.nonce)?;
        writeln!(f, "  {:<W$}{}", "Gas limit:", self.gas_limit)?;
        writeln!(
            f,
            "  {:<W$}{} gwei",
            "Max fee/gas:",
            format_units(&self.max_fee_per_gas.0, 9)
        )?;
        writeln!(
            f,
            "  {:<W$}{} gwei",
            "Priority fee/gas:",
            format_units(&self.max_priority_fee_per_gas.0, 9)
        )?;
        writeln!(f, "  {:<W$}{}", "Max fee total:", self.max_fee_text())?;
        writeln!(f, "  {:<W$}{}", "Signing hash:", self.hash_hex())?;
        writeln!(f, "  {:<W$}{}", "Created by:", printable(&self.created_by))?;
        let approvers = if self.approved_by.is_empty() {
            "nobody".to_owned()
        } else {
            self.approved_by
                .iter()
                .map(|p| printable(p))
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(f, "  {:<W$}{approvers}", "Approved by:")?;
        write!(f, "  {:<W$}{}", "Expires:", unix_time_text(self.expires_at))
    }
}

/// Verifies and decodes one request of a signing work item.
///
/// In order: the envelope parses; it verifies as a `SigningRequest` under `keyring` (this
/// client's pinned online key) at `now`; its request id is the one the coordinator listed;
/// its unsigned transaction decodes and hashes to the signing hash and agrees with the
/// summary; it spends from `case_address`.
pub fn review(
    item: &SignItem,
    keyring: &KeyRing,
    case_address: &EthAddress,
    now: u64,
) -> Result<Reviewed, ReviewError> {
    let envelope = Envelope::from_bytes(&item.envelope).map_err(ReviewError::from_contracts)?;
    let verified = envelope
        .verify::<SigningRequest>(keyring, now)
        .map_err(ReviewError::from_contracts)?;
    let envelope_id = verified.id();
    let expires_at = verified.expires_at();
    let request = verified.into_body();
    if request.request_id != item.request_id {
        return Err(ReviewError::RequestIdMismatch {
            listed: item.request_id,
            signed: request.request_id,
        });
    }
    let decoded = request.decode().map_err(ReviewError::from_contracts)?;
    if request.from != *case_address {
        return Err(ReviewError::WrongAccount {
            expected: *case_address,
            found: request.from,
        });
    }
    let token = match decoded.asset {
        Asset::Native => None,
        Asset::Erc20(token) => Some(token),
    };
    Ok(Reviewed {
        request_id: request.request_id,
        envelope_id,
        signing_hash: decoded.signing_hash,
        chain_id: request.chain_id,
        from: request.from,
        to: decoded.fields.to,
        recipient: decoded.recipient,
        asset_symbol: request.summary.asset_symbol.clone(),
        token,
        amount: decoded.amount,
        decimals: request.summary.decimals,
        nonce: decoded.fields.nonce,
        gas_limit: decoded.fields.gas_limit,
        max_fee_per_gas: decoded.fields.max_fee_per_gas,
        max_priority_fee_per_gas: decoded.fields.max_priority_fee_per_gas,
        max_fee_wei: Amount(decoded.max_fee_wei),
        created_by: request.created_by.username.clone(),
        approved_by: request
            .approved_by
            .iter()
            .map(|p| p.username.clone())
            .collect(),
        expires_at,
        request,
    })
}

/// Parses a signing hash: 64 hex digits, with or without `0x`.
pub fn parse_hash(s: &str) -> Result<[u8; 32], ReviewError> {
    let trimmed = s.trim();
    let digits = trimmed
        .strip_prefix("0x")
        .or_else(|| trimmed.strip_prefix("0X"))
        .unwrap_or(trimmed);
    let mut out = [0u8; 32];
    if digits.len() != 64 || hex::decode_to_slice(digits, &mut out).is_err() {
        return Err(ReviewError::BadHash(s.chars().take(80).collect()));
    }
    Ok(out)
}

/// Whether `answer` is the first 8 hex digits of `hash` (any case, `0x` allowed).
pub fn confirms(answer: &str, hash: &[u8; 32]) -> bool {
    let answer = answer.trim();
    let answer = answer
        .strip_prefix("0x")
        .or_else(|| answer.strip_prefix("0X"))
        .unwrap_or(answer)
        .to_ascii_lowercase();
    let expected = hex::encode(hash);
    answer.len() == CONFIRM_DIGITS && expected.get(..CONFIRM_DIGITS) == Some(answer.as_str())
}

/// How this client decides: ask the manager, or follow approvals given up front (tests and
/// automation; `--approve-hash` must match the request's hash exactly).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalPolicy {
    /// Show each request on the terminal and ask.
    Interactive,
    /// Approve exactly these signing hashes, and keygen iff `keygen`.
    Preapproved {
        /// The approved signing hashes.
        hashes: Vec<[u8; 32]>,
        /// Whether keygen is approved.
        keygen: bool,
    },
}

impl ApprovalPolicy {
    /// Shows the reviewed request and decides whether this share signs it. Blocks while the
    /// manager answers (call from a blocking thread).
    pub fn approve_signing(&self, r: &Reviewed) -> Result<bool, ReviewError> {
        match self {
            ApprovalPolicy::Interactive => {
                let answer = ask(&format!(
                    "\n{r}\n\nType the first {CONFIRM_DIGITS} hex digits of the signing hash to approve, anything else to decline: "
                ))?;
                let approved = confirms(&answer, &r.signing_hash);
                say_tty(if approved { "approved\n" } else { "declined\n" })?;
                Ok(approved)
            }
            ApprovalPolicy::Preapproved { hashes, .. } => {
                crate::say(&r.to_string());
                let approved = hashes.contains(&r.signing_hash);
                if approved {
                    crate::say("approved by --approve-hash");
                } else {
                    crate::say(&format!(
                        "declined: the request's hash {} is not the approved hash",
                        r.hash_hex()
                    ));
                }
                Ok(approved)
            }
        }
    }

    /// Decides whether this share takes part in the keygen of a case.
    pub fn approve_keygen(&self, case_name: &str, share_index: u8) -> Result<bool, ReviewError> {
        let case_name = printable(case_name);
        match self {
            ApprovalPolicy::Interactive => {
                let answer = ask(&format!(
                    "\nKey generation for case \"{case_name}\": this SE will hold share {share_index}.\nTake part? [y/N] "
                ))?;
                Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
            }
            ApprovalPolicy::Preapproved { keygen, .. } => {
                if *keygen {
                    crate::say(&format!(
                        "keygen of case \"{case_name}\" (share {share_index}) approved by --approve-keygen"
                    ));
                } else {
                    crate::say(&format!(
                        "declined: keygen of case \"{case_name}\" (share {share_index}) needs --approve-keygen"
                    ));
                }
                Ok(*keygen)
            }
        }
    }
}

fn open_tty() -> Result<std::fs::File, ReviewError> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(TTY)
        .map_err(ReviewError::Tty)
}

fn say_tty(text: &str) -> Result<(), ReviewError> {
    let mut tty = open_tty()?;
    tty.write_all(text.as_bytes()).map_err(ReviewError::Tty)
}

/// Writes `question` to the terminal and reads one line of answer from it.
fn ask(question: &str) -> Result<String, ReviewError> {
    let mut tty = open_tty()?;
    tty.write_all(question.as_bytes())
        .and_then(|()| tty.flush())
        .map_err(ReviewError::Tty)?;
    // Bounded, so a runaway paste cannot grow the answer without limit.
    let mut answer = String::new();
    BufReader::new((&tty).take(4096))
        .read_line(&mut answer)
        .map_err(ReviewError::Tty)?;
    Ok(answer)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn units_are_formatted_without_trailing_zeros() {
        let u = |v: u128| U256::from(v);
        assert_eq!(format_units(&u(1_500_000_000_000_000_000), 18), "1.5");
        assert_eq!(format_units(&u(250_000_000), 6), "250");
        assert_eq!(format_units(&u(1), 18), "0.000000000000000001");
        assert_eq!(format_units(&u(0), 18), "0");
        assert_eq!(format_units(&u(630_000_000_000_000), 18), "0.00063");
        assert_eq!(format_units(&u(1234), 0), "1234");
        assert_eq!(format_units(&u(100), 2), "1");
        assert_eq!(format_units(&U256::MAX, 18).len(), 78 + 1);
    }

    #[test]
    fn hashes_parse_with_or_without_0x() {
        let h = [0xab; 32];
        let text = hex::encode(h);
        assert_eq!(parse_hash(&text).unwrap(), h);
        assert_eq!(parse_hash(&format!("0x{text}")).unwrap(), h);
        assert_eq!(
            parse_hash(&format!("0X{}", text.to_uppercase())).unwrap(),
            h
        );
        assert!(parse_hash(&text[..62]).is_err());
        assert!(parse_hash(&format!("{text}00")).is_err());
        assert!(parse_hash(&format!("0x{}zz", &text[..62])).is_err());
        assert!(parse_hash("").is_err());
    }

    #[test]
    fn only_the_first_eight_digits_confirm() {
        let mut h = [0u8; 32];
        h[..4].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        assert!(confirms("deadbeef", &h));
        assert!(confirms(" DEADBEEF\n", &h));
        assert!(confirms("0xdeadbeef", &h));
        assert!(!confirms("deadbee", &h));
        assert!(!confirms("deadbeef00", &h));
        assert!(!confirms("y", &h));
        assert!(!confirms("", &h));
    }

    #[test]
    fn names_cannot_smuggle_terminal_controls() {
        assert_eq!(printable("alice"), "alice");
        let shown = printable("bob\u{1b}[2J\n\u{202E}evil");
        assert!(!shown.contains('\u{1b}'));
        assert!(!shown.contains('\n'));
        assert!(!shown.contains('\u{202E}'));
        assert!(shown.starts_with("bob"));
    }
}
