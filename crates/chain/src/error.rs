//! Errors of the chain adapter. Messages never carry the RPC URL, which may hold an API key.

use alloy_provider::transport::{RpcError, TransportError};
use contracts::EthAddress;

/// Longest node message kept in an error; nodes can answer with whole HTML pages.
const MAX_MESSAGE: usize = 300;

/// Why a node refused a transaction, as far as its message says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The nonce is already used: another transaction from the account was mined with it.
    NonceTooLow,
    /// The account cannot pay the value plus the maximum fee.
    InsufficientFunds,
    /// The fee is below what the node accepts (or too low to replace a pending transaction).
    Underpriced,
    /// Some other reason; see the message.
    Other,
}

/// What can go wrong talking to the chain.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The RPC URL does not parse or is not http(s).
    #[error("the RPC URL is not a valid http or https URL")]
    BadUrl,
    /// The HTTP client could not be set up.
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
    /// The node could not be reached, timed out, or did not answer JSON-RPC.
    #[error("{method}: the Ethereum node is unreachable or answered badly: {message}")]
    Transport {
        /// The JSON-RPC method.
        method: &'static str,
        /// What went wrong (URL removed).
        message: String,
    },
    /// The node answered with a JSON-RPC error (for example a call that reverts).
    #[error("{method}: the Ethereum node answered error {code}: {message}")]
    Node {
        /// The JSON-RPC method.
        method: &'static str,
        /// The JSON-RPC error code.
        code: i64,
        /// The node's message.
        message: String,
    },
    /// The node refused to accept a transaction for broadcast, and does not know it.
    #[error("the Ethereum node refused the transaction ({reason:?}): {message}")]
    Rejected {
        /// The reason, classified from the node's message.
        reason: Rejection,
        /// The node's message.
        message: String,
    },
    /// The node serves another chain than the configured one.
    #[error("the Ethereum node serves chain {found}, not the configured chain {expected}")]
    WrongChain {
        /// The configured chain id.
        expected: u64,
        /// The node's chain id.
        found: u64,
    },
    /// A signed transaction is for another chain than the node's; it was not sent.
    #[error("the transaction is for chain {found}, but this node serves chain {expected}")]
    TxWrongChain {
        /// The node's chain id.
        expected: u64,
        /// The transaction's chain id.
        found: u64,
    },
    /// A contract did not answer like an ERC-20 token.
    #[error("{token} does not behave like an ERC-20 token: {reason}")]
    NotAToken {
        /// The contract.
        token: EthAddress,
        /// What was wrong.
        reason: String,
    },
    /// The signed transaction does not decode (or is not EIP-1559).
    #[error("the signed transaction is not acceptable: {0}")]
    Transaction(#[from] contracts::Error),
    /// The node's answers contradict each other (for example mid-reorg); ask again.
    #[error("the Ethereum node answered inconsistently: {0}")]
    Inconsistent(String),
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A node error from `eth_sendRawTransaction`, classified as a rejection.
    pub(crate) fn into_send_rejection(self) -> Error {
        match self {
            Error::Node { message, .. } => Error::Rejected {
                reason: classify(&message),
                message,
            },
            other => other,
        }
    }
}

/// Classifies a node's refusal from its message; nodes agree on these phrases (geth, reth,
/// anvil, erigon), not on error codes.
fn classify(message: &str) -> Rejection {
    let message = message.to_ascii_lowercase();
    if message.contains("nonce too low") || message.contains("nonce is too low") {
        Rejection::NonceTooLow
    } else if message.contains("insufficient funds") {
        Rejection::InsufficientFunds
    } else if message.contains("underpriced") || message.contains("fee cap") {
        Rejection::Underpriced
    } else {
        Rejection::Other
    }
}

/// Maps an alloy transport error, removing the URL from its text.
pub(crate) fn from_rpc(method: &'static str, error: TransportError, url: &str) -> Error {
    match error {
        RpcError::ErrorResp(payload) => Error::Node {
            method,
            code: payload.code,
            message: clean(&payload.message, url),
        },
        other => Error::Transport {
            method,
            message: clean(&other.to_string(), url),
        },
    }
}

/// Removes the URL and shortens the text.
pub(crate) fn clean(text: &str, url: &str) -> String {
    let mut text = if url.is_empty() {
        text.to_owned()
    } else {
        text.replace(url, "<rpc-url>")
            .replace(url.trim_end_matches('/'), "<rpc-url>")
    };
    if text.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !text.is_char_boundary(end) {
            end = end.saturating_sub(1);
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::{classify, clean, Rejection};

    #[test]
    fn classifies_refusals_and_hides_the_url() {
        assert_eq!(
            classify("nonce too low: next nonce 5, tx nonce 4"),
            Rejection::NonceTooLow
        );
        assert_eq!(
            classify("Insufficient funds for gas * price + value"),
            Rejection::InsufficientFunds
        );
        assert_eq!(
            classify("replacement transaction underpriced"),
            Rejection::Underpriced
        );
        assert_eq!(classify("something else"), Rejection::Other);
        let url = "https://node.example/v3/secret-key";
        let text = clean(&format!("error sending request for url ({url})"), url);
        assert!(!text.contains("secret-key"), "{text}");
        assert!(clean(&"é".repeat(400), url).len() <= 303);
    }
}
