//! Paillier primes for keygen, generated ahead of time and kept sealed in the SE.
//!
//! Safe-prime generation is the slow part of a keygen (tens of seconds to minutes per
//! manager). `custody-client primes` ([`prepare`]) generates one pair while nobody waits and
//! seals it into the SE under [`SEALED_PRIMES_LABEL`]; a keygen takes it from there
//! ([`take_or_generate`]) and, once the share is sealed, destroys it ([`consume`]) so the same
//! primes never serve two keys. Without sealed primes the keygen generates them on the spot,
//! showing progress. The primes are secret (they become the Paillier secret key): they exist
//! in clear only in this process's memory and sealed in the SE.

use std::time::{Duration, Instant};

use tss::PaillierPrimes;

/// The SE label of the sealed primes.
pub const SEALED_PRIMES_LABEL: &str = "paillier-primes";

/// How often the progress line is repeated while primes are generated.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Why primes could not be prepared or taken.
#[derive(Debug, thiserror::Error)]
pub enum PrimesError {
    /// The SE failed (sealing, unsealing, deleting).
    #[error("secure element: {0}")]
    Se(#[from] se::Error),
    /// The sealed primes (or freshly generated ones) are invalid.
    #[error(transparent)]
    Tss(#[from] tss::Error),
    /// The generating thread died.
    #[error("prime generation stopped: {0}")]
    Task(String),
    /// Primes are already sealed on this SE (`prepare` does not overwrite them).
    #[error(
        "primes are already sealed on this secure element; they will be used by the next keygen"
    )]
    AlreadyPrepared,
}

/// Generates one pair of safe primes on a blocking thread, saying how long it has been
/// running every 5 s.
pub async fn generate(say: &(dyn Fn(&str) + Sync)) -> Result<PaillierPrimes, PrimesError> {
    let started = Instant::now();
    say("generating safe primes (this takes a while)…");
    let mut task = tokio::task::spawn_blocking(PaillierPrimes::generate);
    let mut ticks =
        tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
    loop {
        tokio::select! {
            done = &mut task => {
                let primes = done.map_err(|e| PrimesError::Task(e.to_string()))?;
                say(&format!("safe primes ready after {} s", started.elapsed().as_secs()));
                return Ok(primes);
            }
            _ = ticks.tick() => {
                say(&format!("generating safe primes… {} s", started.elapsed().as_secs()));
            }
        }
    }
}

/// The primes sealed in `se`, or freshly generated ones if none are sealed. The sealed copy
/// stays until [`consume`] (a failed keygen may be retried with the same primes).
pub async fn take_or_generate(
    se: &se::OpenSe,
    say: &(dyn Fn(&str) + Sync),
) -> Result<PaillierPrimes, PrimesError> {
    match se.unseal_secret(SEALED_PRIMES_LABEL) {
        Ok(bytes) => {
            say("using the safe primes prepared on this SE");
            Ok(PaillierPrimes::from_bytes(&bytes)?)
        }
        Err(se::Error::NotFound { .. }) => generate(say).await,
        Err(e) => Err(e.into()),
    }
}

/// Destroys the sealed primes after a successful keygen; returns whether there were any.
pub fn consume(se: &se::OpenSe) -> Result<bool, PrimesError> {
    Ok(se.delete_secret(SEALED_PRIMES_LABEL)?)
}

/// Generates one pair of primes and seals it into `se` for the next keygen. Refuses (before
/// generating) if primes are already sealed there.
pub async fn prepare(se: &se::OpenSe, say: &(dyn Fn(&str) + Sync)) -> Result<(), PrimesError> {
    match se.unseal_secret(SEALED_PRIMES_LABEL) {
        Ok(_) => return Err(PrimesError::AlreadyPrepared),
        Err(se::Error::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let primes = generate(say).await?;
    seal(se, &primes)?;
    say("safe primes sealed on the SE for the next keygen");
    Ok(())
}

/// Seals `primes` into `se` under [`SEALED_PRIMES_LABEL`] (refuses to overwrite).
pub fn seal(se: &se::OpenSe, primes: &PaillierPrimes) -> Result<(), PrimesError> {
    match se.seal_secret(SEALED_PRIMES_LABEL, &primes.to_bytes()?) {
        Ok(()) => Ok(()),
        Err(se::Error::AlreadySealed { .. }) => Err(PrimesError::AlreadyPrepared),
        Err(e) => Err(e.into()),
    }
}
