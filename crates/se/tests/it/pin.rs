//! PIN checking and the lockout the SE enforces on tokens that do not lock themselves.

use se::{Error, Pin, Se};

use crate::Enrolled;

#[test]
fn three_wrong_pins_lock_until_the_security_officer_resets() {
    let se = Enrolled::new("se-lockout");
    let wrong = Pin::parse("0000-wrong").unwrap();
    for expected in [2u8, 1, 0] {
        match Se::open(&se.module, &se.serial, &wrong) {
            Err(Error::WrongPin { tries_left }) => assert_eq!(tries_left, expected),
            other => panic!("expected WrongPin({expected}), got {other:?}"),
        }
        assert_eq!(
            Se::pin_status(&se.module, &se.serial).unwrap().tries_left,
            expected
        );
    }
    // The fourth attempt is refused even with the right PIN.
    assert!(matches!(
        Se::open(&se.module, &se.serial, &se.user_pin),
        Err(Error::PinLocked)
    ));
    let status = Se::pin_status(&se.module, &se.serial).unwrap();
    assert!(status.locked);
    assert_eq!(status.tries_left, 0);
    assert!(Error::PinLocked.to_string().contains("security officer"));

    // A wrong SO PIN does not reset anything.
    let new_pin = Pin::parse("new-pin-4711").unwrap();
    assert!(matches!(
        Se::reset_pin(&se.module, &se.serial, &wrong, &new_pin),
        Err(Error::WrongSoPin)
    ));
    Se::reset_pin(&se.module, &se.serial, &se.so_pin, &new_pin).unwrap();
    let status = Se::pin_status(&se.module, &se.serial).unwrap();
    assert!(!status.locked);
    assert_eq!(status.tries_left, se::MAX_PIN_TRIES);

    // The old PIN no longer works (and counts as a failure); the new one does and clears it.
    assert!(matches!(
        Se::open(&se.module, &se.serial, &se.user_pin),
        Err(Error::WrongPin { tries_left: 2 })
    ));
    let open = Se::open(&se.module, &se.serial, &new_pin).unwrap();
    assert_eq!(
        Se::pin_status(&se.module, &se.serial).unwrap().tries_left,
        se::MAX_PIN_TRIES
    );
    drop(open);
}

#[test]
fn a_correct_pin_clears_earlier_failures() {
    let se = Enrolled::new("se-pin-clear");
    let wrong = Pin::parse("9999").unwrap();
    for _ in 0..2 {
        assert!(matches!(
            Se::open(&se.module, &se.serial, &wrong),
            Err(Error::WrongPin { .. })
        ));
    }
    drop(se.open());
    assert_eq!(
        Se::pin_status(&se.module, &se.serial).unwrap().tries_left,
        se::MAX_PIN_TRIES
    );
    assert!(matches!(
        Se::open(&se.module, &se.serial, &wrong),
        Err(Error::WrongPin { tries_left: 2 })
    ));
}

#[test]
fn change_pin_and_second_open_in_one_process() {
    let se = Enrolled::new("se-change-pin");
    let open = se.open();
    // PKCS#11 login is per process and token: a second open cannot check its PIN, so it is refused.
    assert!(matches!(
        Se::open(&se.module, &se.serial, &Pin::parse("whatever").unwrap()),
        Err(Error::AlreadyOpen { .. })
    ));
    let new_pin = Pin::parse("changed-1234").unwrap();
    assert!(matches!(
        open.change_pin(&Pin::parse("not-the-old").unwrap(), &new_pin),
        Err(Error::WrongPin { tries_left: 2 })
    ));
    open.change_pin(&se.user_pin, &new_pin).unwrap();
    drop(open);
    assert!(matches!(
        Se::open(&se.module, &se.serial, &se.user_pin),
        Err(Error::WrongPin { .. })
    ));
    drop(Se::open(&se.module, &se.serial, &new_pin).unwrap());
}
