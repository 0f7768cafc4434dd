//! Paillier primes sealed in the SE: taken for keygen, kept until consumed, never overwritten.
//! (Real safe-prime generation is exercised by `custody-tss`'s tests; these use the test-only
//! fixture primes.)

use custody_client::primes::{
    consume, prepare, seal, take_or_generate, PrimesError, SEALED_PRIMES_LABEL,
};

use crate::TestSe;

#[tokio::test(flavor = "multi_thread")]
async fn sealed_primes_are_taken_until_consumed() {
    let se = TestSe::certified("cl-primes");
    let open = se.open();
    let fixture = testkit::fixtures::paillier_primes().unwrap().remove(0);
    let expected = fixture.to_bytes().unwrap();
    seal(&open, &fixture).unwrap();
    // Sealing again is refused, and so is preparing: the sealed set is kept for the next keygen.
    assert!(matches!(
        seal(&open, &fixture),
        Err(PrimesError::AlreadyPrepared)
    ));
    assert!(matches!(
        prepare(&open, &|_: &str| {}).await,
        Err(PrimesError::AlreadyPrepared)
    ));

    let said = std::sync::Mutex::new(Vec::new());
    let say = |m: &str| said.lock().unwrap().push(m.to_owned());
    let taken = take_or_generate(&open, &say).await.unwrap();
    assert_eq!(*taken.to_bytes().unwrap(), *expected);
    assert!(said
        .lock()
        .unwrap()
        .iter()
        .any(|m| m.contains("prepared on this SE")));
    // Taking does not destroy them: a failed keygen can be retried.
    let again = take_or_generate(&open, &say).await.unwrap();
    assert_eq!(*again.to_bytes().unwrap(), *expected);

    assert!(consume(&open).unwrap());
    assert!(!consume(&open).unwrap());
    assert!(matches!(
        open.unseal_secret(SEALED_PRIMES_LABEL),
        Err(se::Error::NotFound { .. })
    ));
}
