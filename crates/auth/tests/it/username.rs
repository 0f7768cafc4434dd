use auth::{Error, Username};

#[test]
fn username_is_case_folded() {
    let name = Username::parse("Alice.Smith-01").unwrap();
    assert_eq!(name.as_str(), "alice.smith-01");
    assert_eq!(name, "ALICE.SMITH-01".parse::<Username>().unwrap());
    assert_eq!(name.to_string(), "alice.smith-01");
}

#[test]
fn username_length_bounds() {
    let length_error = Error::UsernameLength { min: 3, max: 64 };
    assert_eq!(Username::parse("ab").unwrap_err(), length_error);
    assert!(Username::parse("abc").is_ok());
    assert!(Username::parse(&"a".repeat(64)).is_ok());
    assert_eq!(Username::parse(&"a".repeat(65)).unwrap_err(), length_error);
    assert_eq!(Username::parse("").unwrap_err(), length_error);
}

#[test]
fn username_charset_is_conservative() {
    for bad in [
        "al ice",
        " alice",
        "alice ",
        "_alice",
        ".alice",
        "-alice",
        "al@ice",
        "ålice",
        "alice\n",
        "al\u{0}ice",
        "аlice", // Cyrillic а
        "a/b/c",
        "a%20b",
    ] {
        assert_eq!(
            Username::parse(bad).unwrap_err(),
            Error::UsernameCharacters,
            "{bad:?}"
        );
    }
    for good in ["a.b", "a_b", "a-b", "007", "x.y_z-0"] {
        assert!(Username::parse(good).is_ok(), "{good:?}");
    }
}

#[test]
fn username_length_counts_characters_not_bytes() {
    // Two non-ASCII characters are four bytes; the user should hear "too short", not a byte count.
    assert_eq!(
        Username::parse("éé").unwrap_err(),
        Error::UsernameLength { min: 3, max: 64 }
    );
}
