//! The ERC-20 functions the adapter reads, as `sol!` bindings.

#![allow(missing_docs, reason = "generated ABI bindings")]

use alloy_sol_types::{sol, SolCall};

sol! {
    /// The read-only part of ERC-20 this crate uses. `transfer` calldata comes from
    /// `contracts::eth`, so there is one encoder for what is signed.
    interface Erc20 {
        function balanceOf(address owner) external view returns (uint256);
        function symbol() external view returns (string);
        function decimals() external view returns (uint8);
    }
}

/// `symbol()`'s answer: an ABI string, or, for old tokens that predate the standard (MKR,
/// SAI), a `bytes32` padded with zeros.
pub(crate) fn decode_symbol(data: &[u8]) -> Option<String> {
    // An empty symbol is refused too: there is nothing to show a person.
    if let Ok(symbol) = Erc20::symbolCall::abi_decode_returns_validate(data) {
        return (!symbol.is_empty()).then_some(symbol);
    }
    let word: [u8; 32] = data.try_into().ok()?;
    let end = word.iter().position(|b| *b == 0).unwrap_or(word.len());
    let text = word.get(..end)?;
    if text.is_empty() {
        return None;
    }
    String::from_utf8(text.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::decode_symbol;
    use alloy_sol_types::SolValue;

    #[test]
    fn reads_string_and_bytes32_symbols() {
        let encoded = ("USDC".to_owned(),).abi_encode_params();
        assert_eq!(decode_symbol(&encoded).as_deref(), Some("USDC"));
        let mut word = [0u8; 32];
        word[..3].copy_from_slice(b"MKR");
        assert_eq!(decode_symbol(&word).as_deref(), Some("MKR"));
        assert_eq!(decode_symbol(&[0u8; 32]), None);
        assert_eq!(decode_symbol(&[1, 2, 3]), None);
    }
}
