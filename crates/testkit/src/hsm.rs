//! The zones' HSMs on SoftHSM2 tokens, and the audit sealers made from them (feature `hsm`).
//!
//! Every database of a test is sealed by a real token: the audit records and outbox events get
//! their MACs from a non-extractable SoftHSM key, and checkpoints are signed on the token, as
//! in production. Tests that are not about the HSM share one provisioned token per zone and
//! process ([`offline_sealer`], [`online_sealer`]); tests that need their own take a fresh one
//! ([`offline_hsm`], [`online_hsm`]).

use std::sync::OnceLock;

use crate::softhsm::SoftHsm;

/// A zone token as a child process (`custodyd …`) opens it: the module path, the token label
/// and a file holding its user PIN (removed with the value).
pub struct TokenFlags {
    /// The SoftHSM2 PKCS#11 module.
    pub module: std::path::PathBuf,
    /// The token's label.
    pub label: String,
    /// The file holding the user PIN.
    pub pin_file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl TokenFlags {
    /// `--<prefix>-module M --<prefix>-token L --<prefix>-pin-file F` (prefix `hsm` or
    /// `export-key`).
    pub fn args(&self, prefix: &str) -> Vec<String> {
        vec![
            format!("--{prefix}-module"),
            self.module.display().to_string(),
            format!("--{prefix}-token"),
            self.label.clone(),
            format!("--{prefix}-pin-file"),
            self.pin_file.display().to_string(),
        ]
    }
}

#[allow(
    clippy::panic,
    reason = "test infrastructure: tests want an HSM or a clear stop"
)]
fn flags(label: &str, pin: &secrecy::SecretString) -> TokenFlags {
    use secrecy::ExposeSecret;
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => panic!("cannot make a directory for a PIN file: {e}"),
    };
    let pin_file = dir.path().join("token.pin");
    if let Err(e) = std::fs::write(&pin_file, pin.expose_secret()) {
        panic!("cannot write the PIN file: {e}");
    }
    TokenFlags {
        module: SoftHsm::global().module_path().to_path_buf(),
        label: label.to_owned(),
        pin_file,
        _dir: dir,
    }
}

/// A freshly provisioned offline HSM on a new token (labelled `offline-hsm-<n>`).
///
/// # Panics
///
/// If SoftHSM refuses to provision the token.
pub fn offline_hsm() -> hsm::Hsm {
    offline_hsm_with_flags().0
}

/// [`offline_hsm`] and the flags a child process opens it with.
///
/// # Panics
///
/// If SoftHSM refuses to provision the token.
#[allow(
    clippy::panic,
    reason = "test infrastructure: tests want an HSM or a clear stop"
)]
pub fn offline_hsm_with_flags() -> (hsm::Hsm, TokenFlags) {
    let softhsm = SoftHsm::global();
    let token = softhsm.new_token("offline-hsm");
    match hsm::Hsm::provision(
        &softhsm.module(),
        &token.summary.label,
        &token.so_pin,
        &token.user_pin,
        "offline-test",
        1_700_000_000,
    ) {
        Ok(hsm) => (hsm, flags(&token.summary.label, &token.user_pin)),
        Err(e) => panic!("cannot provision a SoftHSM offline HSM: {e}"),
    }
}

/// A freshly provisioned online token (export, checkpoint and MAC keys) on a new token.
///
/// # Panics
///
/// If SoftHSM refuses to provision the token.
pub fn online_hsm() -> hsm::OnlineHsm {
    online_hsm_with_flags().0
}

/// [`online_hsm`] and the flags a child process opens it with.
///
/// # Panics
///
/// If SoftHSM refuses to provision the token.
#[allow(
    clippy::panic,
    reason = "test infrastructure: tests want an HSM or a clear stop"
)]
pub fn online_hsm_with_flags() -> (hsm::OnlineHsm, TokenFlags) {
    let softhsm = SoftHsm::global();
    let token = softhsm.new_token("online-hsm");
    match hsm::OnlineHsm::provision(
        &softhsm.module(),
        &hsm::TokenSelector::Label(token.summary.label.clone()),
        &token.user_pin,
    ) {
        Ok(hsm) => (hsm, flags(&token.summary.label, &token.user_pin)),
        Err(e) => panic!("cannot provision a SoftHSM online token: {e}"),
    }
}

/// The process's shared offline HSM (provisioned on first use).
pub fn shared_offline_hsm() -> &'static hsm::Hsm {
    static HSM: OnceLock<hsm::Hsm> = OnceLock::new();
    HSM.get_or_init(offline_hsm)
}

/// The process's shared online token (provisioned on first use).
pub fn shared_online_hsm() -> &'static hsm::OnlineHsm {
    static HSM: OnceLock<hsm::OnlineHsm> = OnceLock::new();
    HSM.get_or_init(online_hsm)
}

/// The offline zone's sealer on `hsm` with the default checkpoint policy (100 records, 5 min).
pub fn offline_sealer_of(hsm: &hsm::Hsm) -> audit::Sealer {
    audit::Sealer::new(
        audit::Zone::Offline,
        std::sync::Arc::new(hsm.audit_mac_key()),
        std::sync::Arc::new(hsm.checkpoint_signer()),
    )
}

/// The online zone's sealer on `hsm` with the default checkpoint policy.
pub fn online_sealer_of(hsm: &hsm::OnlineHsm) -> audit::Sealer {
    audit::Sealer::new(
        audit::Zone::Online,
        std::sync::Arc::new(hsm.audit_mac_key()),
        std::sync::Arc::new(hsm.checkpoint_signer()),
    )
}

/// The offline sealer on the process's shared offline HSM.
pub fn offline_sealer() -> audit::Sealer {
    offline_sealer_of(shared_offline_hsm())
}

/// The online sealer on the process's shared online token.
pub fn online_sealer() -> audit::Sealer {
    online_sealer_of(shared_online_hsm())
}

/// An event verifier with the shared offline HSM's MAC key (what the reactors use).
pub fn offline_event_verifier() -> events::EventVerifier {
    events::EventVerifier::new(std::sync::Arc::new(shared_offline_hsm().audit_mac_key()))
}

/// An event verifier with the shared online token's MAC key (what the chain worker uses).
pub fn online_event_verifier() -> events::EventVerifier {
    events::EventVerifier::new(std::sync::Arc::new(shared_online_hsm().audit_mac_key()))
}
