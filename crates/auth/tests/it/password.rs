use std::time::{Duration, Instant};

use auth::{
    is_common_password, needs_rehash, verify, Error, HashParams, Password, PasswordHasher,
    SecretString, Username,
};

fn alice() -> Username {
    Username::parse("alice").unwrap()
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s)
}

/// The `m`, `t` and `p` of an Argon2id PHC string, parsed by hand so the test does not trust
/// the code under test: `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`.
fn phc_params(phc: &str) -> (u32, u32, u32) {
    let fields: Vec<&str> = phc.split('$').collect();
    assert_eq!(fields.len(), 6, "{phc}");
    assert_eq!(fields[1], "argon2id");
    assert_eq!(fields[2], "v=19");
    let mut m = None;
    let mut t = None;
    let mut p = None;
    for kv in fields[3].split(',') {
        let (k, v) = kv.split_once('=').unwrap();
        let v: u32 = v.parse().unwrap();
        match k {
            "m" => m = Some(v),
            "t" => t = Some(v),
            "p" => p = Some(v),
            other => panic!("unexpected parameter {other}"),
        }
    }
    // A 16-byte salt and a 32-byte output in unpadded base64.
    assert_eq!(fields[4].len(), 22, "salt length");
    assert_eq!(fields[5].len(), 43, "hash length");
    (m.unwrap(), t.unwrap(), p.unwrap())
}

fn fast() -> PasswordHasher {
    PasswordHasher::new(HashParams::insecure_for_tests_only()).unwrap()
}

#[test]
fn password_length_bounds() {
    let u = alice();
    assert_eq!(
        Password::parse("Xk9#mQ2".into(), &u).unwrap_err(),
        Error::PasswordTooShort { min: 8 }
    );
    assert!(Password::parse("Xk9#mQ2p".into(), &u).is_ok());
    let sixty_four = "Xk9#mQ2p".repeat(8);
    assert_eq!(sixty_four.chars().count(), 64);
    assert!(Password::parse(sixty_four.clone(), &u).is_ok());
    assert_eq!(
        Password::parse(format!("{sixty_four}z"), &u).unwrap_err(),
        Error::PasswordTooLong { max: 64 }
    );
    assert_eq!(
        Password::parse("x".repeat(100_000), &u).unwrap_err(),
        Error::PasswordTooLong { max: 64 }
    );
}

#[test]
fn password_length_counts_characters_after_nfc() {
    let u = alice();
    // Eight CJK characters are 24 bytes but 8 characters: accepted.
    assert!(Password::parse("虚拟货币存管提控".into(), &u).is_ok());
    // Seven "é" typed as e + combining acute are 14 scalar values but 7 after NFC: too short.
    let decomposed = "e\u{301}".repeat(7);
    assert_eq!(
        Password::parse(decomposed, &u).unwrap_err(),
        Error::PasswordTooShort { min: 8 }
    );
    // No composition rules: all lower case, all digits-free, spaces are fine.
    assert!(Password::parse("correct horse battery staple".into(), &u).is_ok());
}

#[test]
fn common_password_rejected_ignoring_case() {
    let u = alice();
    for common in [
        "password",
        "PassWord1",
        "iloveyou",
        "12345678",
        "TRUSTNO1",
        "sunshine",
    ] {
        assert_eq!(
            Password::parse(common.into(), &u).unwrap_err(),
            Error::PasswordTooCommon,
            "{common}"
        );
    }
    assert!(is_common_password("Baseball"));
    assert!(!is_common_password("Xk9#mQ2p"));
}

#[test]
fn guessable_passwords_the_list_misses_are_refused_by_the_estimator() {
    let u = alice();
    for weak in [
        "password123",
        "Password123!",
        "summer2024",
        "qwertyuiop1",
        "alice1990!",
    ] {
        // Not on the bundled list: the estimator catches them.
        assert!(
            matches!(
                Password::parse(weak.into(), &u).unwrap_err(),
                Error::PasswordTooCommon | Error::PasswordContainsUsername
            ),
            "{weak}"
        );
    }
    for strong in ["violet tractor lighthouse", "Xk9#mQ2p", "虚拟货币存管提控"] {
        assert!(Password::parse(strong.into(), &u).is_ok(), "{strong}");
    }
}

#[test]
fn password_containing_username_rejected() {
    let u = alice();
    for bad in ["alice-2024-x", "my name is ALICE", "xxAlIcExx"] {
        assert_eq!(
            Password::parse(bad.into(), &u).unwrap_err(),
            Error::PasswordContainsUsername,
            "{bad}"
        );
    }
    let mallory = Username::parse("Mallory1").unwrap();
    assert_eq!(
        Password::parse("MALLORY1".into(), &mallory).unwrap_err(),
        Error::PasswordContainsUsername
    );
}

#[test]
fn password_never_appears_in_errors_or_debug() {
    let u = alice();
    let pw = Password::parse("Zq8!vLr2wT".into(), &u).unwrap();
    assert!(!format!("{pw:?}").contains("Zq8!vLr2wT"));
    for raw in ["Zq8!vL", "sunshine", "alice-Zq8!vL"] {
        let err = Password::parse(raw.into(), &u).unwrap_err();
        assert!(!err.to_string().contains(raw), "{err}");
        assert!(!format!("{err:?}").contains(raw), "{err:?}");
    }
    let hasher = fast();
    let hash = hasher.hash(&pw).unwrap();
    assert!(!format!("{hash:?}").contains(hash.as_str()));
    assert!(!format!("{hasher:?}").contains(hasher.dummy_hash().as_str()));
}

#[test]
fn hash_params_refuse_less_than_the_minimum() {
    assert_eq!(
        HashParams::new(19_455, 2, 1).unwrap_err(),
        Error::WeakHashParams
    );
    assert_eq!(
        HashParams::new(19_456, 1, 1).unwrap_err(),
        Error::WeakHashParams
    );
    assert_eq!(
        HashParams::new(19_456, 2, 0).unwrap_err(),
        Error::WeakHashParams
    );
    assert_eq!(
        HashParams::new(u32::MAX, 2, 1).unwrap_err(),
        Error::InvalidHashParams
    );
    let p = HashParams::new(65_536, 3, 2).unwrap();
    assert_eq!((p.m_cost_kib(), p.t_cost(), p.p_cost()), (65_536, 3, 2));
    let d = HashParams::default();
    assert_eq!((d.m_cost_kib(), d.t_cost(), d.p_cost()), (19_456, 2, 1));
}

#[test]
fn argon2_params_of_a_real_hash_are_at_least_the_minimum() {
    let hasher = PasswordHasher::new(HashParams::default()).unwrap();
    let pw = Password::parse("Zq8!vLr2wT".into(), &alice()).unwrap();
    let hash = hasher.hash(&pw).unwrap();
    let (m, t, p) = phc_params(hash.as_str());
    assert!(m >= 19_456, "m={m}");
    assert!(t >= 2, "t={t}");
    assert!(p >= 1, "p={p}");
    assert!(verify(&secret("Zq8!vLr2wT"), hash.as_str()).unwrap());
    assert!(!hasher.needs_rehash(hash.as_str()));
}

#[test]
fn verify_right_and_wrong_password() {
    let hasher = fast();
    let pw = Password::parse("Zq8!vLr2wT".into(), &alice()).unwrap();
    let hash = hasher.hash(&pw).unwrap();
    assert!(hasher.verify(&secret("Zq8!vLr2wT"), hash.as_str()).unwrap());
    assert!(!hasher.verify(&secret("Zq8!vLr2wt"), hash.as_str()).unwrap());
    assert!(!hasher.verify(&secret(""), hash.as_str()).unwrap());
    // Same password, fresh salt: a different hash that also verifies.
    let again = hasher.hash(&pw).unwrap();
    assert_ne!(hash, again);
    assert!(verify(&secret("Zq8!vLr2wT"), again.as_str()).unwrap());
}

#[test]
fn verify_normalises_like_parse() {
    let hasher = fast();
    // Set with precomposed é, typed later with a combining accent: the same password.
    let pw = Password::parse("caf\u{e9}-Zq8!vLr".into(), &alice()).unwrap();
    let hash = hasher.hash(&pw).unwrap();
    assert!(verify(&secret("cafe\u{301}-Zq8!vLr"), hash.as_str()).unwrap());
}

#[test]
fn verify_refuses_unusable_stored_hashes() {
    for stored in [
        "",
        "not a hash",
        "$2b$12$abcdefghijklmnopqrstuv",
        // Argon2i, not Argon2id.
        "$argon2i$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$ZmFrZWhhc2hmYWtlaGFzaGZha2VoYXNoZmFrZWhhc2g",
        // Version 16.
        "$argon2id$v=16$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$ZmFrZWhhc2hmYWtlaGFzaGZha2VoYXNoZmFrZWhhc2g",
        // Absurd memory cost: refused rather than computed.
        "$argon2id$v=19$m=4000000,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$ZmFrZWhhc2hmYWtlaGFzaGZha2VoYXNoZmFrZWhhc2g",
    ] {
        assert_eq!(
            verify(&secret("Zq8!vLr2wT"), stored).unwrap_err(),
            Error::UnusableStoredHash,
            "{stored}"
        );
        assert!(needs_rehash(stored, &HashParams::default()));
    }
}

#[test]
fn needs_rehash_when_params_change() {
    let pw = Password::parse("Zq8!vLr2wT".into(), &alice()).unwrap();
    let cheap = fast().hash(&pw).unwrap();
    assert!(needs_rehash(cheap.as_str(), &HashParams::default()));
    assert!(!needs_rehash(
        cheap.as_str(),
        &HashParams::insecure_for_tests_only()
    ));
    assert!(needs_rehash(
        cheap.as_str(),
        &HashParams::new(32_768, 2, 1).unwrap()
    ));
}

#[test]
fn unknown_user_is_verified_against_a_dummy_with_the_same_params() {
    let params = HashParams::default();
    let hasher = PasswordHasher::new(params).unwrap();
    assert_eq!(
        phc_params(hasher.dummy_hash().as_str()),
        (params.m_cost_kib(), params.t_cost(), params.p_cost())
    );
    let pw = Password::parse("Zq8!vLr2wT".into(), &alice()).unwrap();
    let stored = hasher.hash(&pw).unwrap();

    assert!(hasher
        .verify_login(&secret("Zq8!vLr2wT"), Some(stored.as_str()))
        .unwrap());
    assert!(!hasher.verify_login(&secret("Zq8!vLr2wT"), None).unwrap());

    // The dummy path does the same Argon2 work. Take the fastest of a few runs of each so a busy
    // machine does not make this flaky, and allow a wide margin: the point is that the unknown
    // user path is not an early return (which would be orders of magnitude faster).
    let fastest = |f: &dyn Fn()| {
        (0..3)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .min()
            .unwrap_or(Duration::ZERO)
    };
    let known = fastest(&|| {
        let _ = hasher.verify_login(&secret("wrong-password"), Some(stored.as_str()));
    });
    let unknown = fastest(&|| {
        let _ = hasher.verify_login(&secret("wrong-password"), None);
    });
    assert!(
        unknown * 3 >= known && known * 3 >= unknown,
        "known {known:?} vs unknown {unknown:?}"
    );
}

#[test]
fn oversized_login_attempt_is_wrong_without_hashing() {
    let hasher = fast();
    let pw = Password::parse("Zq8!vLr2wT".into(), &alice()).unwrap();
    let hash = hasher.hash(&pw).unwrap();
    let huge = secret(&"Zq8!vLr2wT".repeat(100_000));
    assert!(!hasher.verify(&huge, hash.as_str()).unwrap());
    assert!(!hasher.verify_login(&huge, None).unwrap());
}
