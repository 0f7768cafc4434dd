//! The case manager's client (`custody-client`), run on each manager's PC (DESIGN.md §3, §9,
//! §11, §12).
//!
//! A manager logs in with their user id and PIN; the client finds their secure element (a
//! PKCS#11 token, by serial: [`se_login`]), reads the PIN without echo or from a file
//! descriptor ([`pin`]), authenticates the SE to the offline coordinator's HSM over NATS and
//! takes part in keygen and 2-of-3 signing ([`session`]). Before its share signs anything, the
//! client checks the online zone's signature on the request under its *own* pinned key,
//! decodes the unsigned transaction itself and shows it to the manager, who approves it by
//! its hash ([`review`]): the coordinator is never trusted to say what is being signed.
//! Paillier primes for keygen are generated ahead of time and sealed in the SE ([`primes`]).
//! It runs keygen and signing only with the peers on the case's roster that the offline HSM
//! signed, verified under its own pinned key ([`roster`]).
//! The binary (`src/main.rs`) is only a shell around these modules.

pub mod pin;
pub mod primes;
pub mod review;
pub mod roster;
pub mod se_login;
pub mod session;

/// Whether [`say`] stays silent (benchmarks run clients in process).
pub(crate) static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Prints a manager-facing line on stdout, unless the client runs quietly
/// ([`session::ClientConfig::quiet`]).
pub(crate) fn say(line: &str) {
    if !QUIET.load(std::sync::atomic::Ordering::Relaxed) {
        println!("{line}");
    }
}
