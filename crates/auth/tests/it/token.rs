use std::collections::HashSet;

use auth::token::{TOKEN_BYTES, TOKEN_CHARS};
use auth::{CsrfToken, Error, SessionToken, TokenHash};
use sha2::{Digest, Sha256};

fn is_base64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[test]
fn session_token_has_256_bits_in_43_base64url_chars() {
    assert_eq!(TOKEN_BYTES, 32);
    let token = SessionToken::generate().unwrap();
    assert_eq!(token.expose().len(), TOKEN_CHARS);
    assert_eq!(TOKEN_CHARS, 43, "ceil(256 / 6) characters");
    assert!(is_base64url(token.expose()), "no padding, URL/cookie safe");
    // Round-trips through the client-side parser to the same stored hash.
    let presented = SessionToken::parse(token.expose()).unwrap();
    assert_eq!(presented.token_hash(), token.token_hash());
}

#[test]
fn tokens_are_unique_and_bits_look_random() {
    let tokens: Vec<String> = (0..1_000)
        .map(|_| SessionToken::generate().unwrap().expose().to_owned())
        .collect();
    assert_eq!(tokens.iter().collect::<HashSet<_>>().len(), tokens.len());
    // Over 1000 tokens every base64url position takes many values; a stuck byte would not.
    for position in 0..TOKEN_CHARS - 1 {
        let distinct: HashSet<u8> = tokens.iter().map(|t| t.as_bytes()[position]).collect();
        assert!(
            distinct.len() > 40,
            "position {position}: {}",
            distinct.len()
        );
    }
}

#[test]
fn only_the_sha256_is_stored_and_it_gives_nothing_back() {
    let token = SessionToken::generate().unwrap();
    let hash = token.token_hash();
    let expected: [u8; 32] = Sha256::digest(token.expose().as_bytes()).into();
    assert_eq!(hash.as_bytes(), &expected);
    // `TokenHash` exposes bytes and hex of the digest only; there is no way back to the token,
    // and neither its Debug nor its hex contains the token.
    let hex = hash.to_hex();
    assert_eq!(hex.len(), 64);
    assert!(!hex.contains(token.expose()));
    assert_eq!(format!("{hash:?}"), "TokenHash(<redacted>)");
    assert_eq!(format!("{token:?}"), "SessionToken(<redacted>)");
    assert_eq!(TokenHash::from_hex(&hex).unwrap(), hash);
    assert_eq!(TokenHash::from_bytes(*hash.as_bytes()), hash);
    assert_eq!(
        TokenHash::from_hex("zz").unwrap_err(),
        Error::MalformedTokenHash
    );
}

#[test]
fn malformed_presented_tokens_are_refused() {
    let good = SessionToken::generate().unwrap();
    let too_long = format!("{}A", good.expose());
    let bad: Vec<String> = vec![
        String::new(),
        good.expose()[..42].to_owned(),
        too_long,
        format!("{}=", &good.expose()[..42]),
        format!("{}+", &good.expose()[..42]),
        "A".repeat(42) + "B", // non-zero trailing bits: not a canonical encoding of 32 bytes
        "é".repeat(21) + "A",
    ];
    for presented in bad {
        assert_eq!(
            SessionToken::parse(&presented).unwrap_err(),
            Error::MalformedToken,
            "{presented:?}"
        );
    }
}

#[test]
fn csrf_token_compares_against_its_session_hash_only() {
    let csrf = CsrfToken::generate().unwrap();
    let stored = csrf.token_hash();
    assert_eq!(csrf.expose().len(), TOKEN_CHARS);
    assert!(CsrfToken::verify(csrf.expose(), &stored));

    // Another session's CSRF token, the session token itself, a one-character change, empty.
    let other = CsrfToken::generate().unwrap();
    assert!(!CsrfToken::verify(other.expose(), &stored));
    let session = SessionToken::generate().unwrap();
    assert!(!CsrfToken::verify(session.expose(), &stored));
    let mut flipped = csrf.expose().to_owned();
    let first = if flipped.starts_with('A') { "B" } else { "A" };
    flipped.replace_range(0..1, first);
    assert!(!CsrfToken::verify(&flipped, &stored));
    assert!(!CsrfToken::verify("", &stored));
    assert!(!CsrfToken::verify(&stored.to_hex(), &stored));
    assert_eq!(format!("{csrf:?}"), "CsrfToken(<redacted>)");
}
