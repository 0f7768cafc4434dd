//! The SIGMA-I style handshake between a client (an SE identity key) and the server (the HSM
//! channel key), modelled on TLS 1.3's full handshake with mutual authentication.
//!
//! ```text
//! client (SE)                                     server (HSM channel key)
//! ClientHello  { version, client_nonce, client_ephemeral, client_cert, context } ->
//!              <- ServerHello { version, server_nonce, server_ephemeral, server_cert,
//!                               server_signature, server_finished }
//! ClientFinished { client_signature, client_finished } ->
//! ```
//!
//! Every field is absorbed, labelled and length-prefixed, into one SHA-256 transcript. Each
//! side signs the transcript so far with its long-term key under its own domain tag (a client
//! signature can never pass as a server one) and proves knowledge of the ECDH secret with an
//! HMAC ("Finished") keyed from it. The traffic keys and the channel binding are derived from
//! the transcript through the client's Finished, so any change to any message by anyone in the
//! middle leaves the two ends with different keys, and the signatures fail first.

use std::fmt;

use hmac::{Hmac, Mac};
use p256::ecdh::EphemeralSecret;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::cert::{Certificate, RevocationCheck, SubjectKind, TrustAnchor, VerifiedCertificate};
use crate::secure::{Role, SecureChannel};
use crate::wire::{self, decode, encode, Transcript};
use crate::{Error, IdentitySigner, Result};

/// The handshake version this crate speaks.
pub const HANDSHAKE_VERSION: u8 = 1;

const TRANSCRIPT_TAG: &[u8] = b"custody/channel/v1/transcript";
const SERVER_SIGNATURE_TAG: &[u8] = b"custody/channel/v1/server-signature";
const CLIENT_SIGNATURE_TAG: &[u8] = b"custody/channel/v1/client-signature";
const SERVER_FINISHED_LABEL: &[u8] = b"custody/channel/v1/server-finished";
const CLIENT_FINISHED_LABEL: &[u8] = b"custody/channel/v1/client-finished";
const CLIENT_TRAFFIC_LABEL: &[u8] = b"custody/channel/v1/c2s-traffic";
const SERVER_TRAFFIC_LABEL: &[u8] = b"custody/channel/v1/s2c-traffic";
const EXPORTER_LABEL: &[u8] = b"custody/channel/v1/exporter";

/// First message, client to server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientHello {
    /// [`HANDSHAKE_VERSION`].
    pub version: u8,
    /// 32 fresh random bytes.
    #[serde(with = "serde_bytes")]
    pub client_nonce: [u8; 32],
    /// The client's ephemeral P-256 ECDH key, SEC1.
    #[serde(with = "serde_bytes")]
    pub client_ephemeral: Vec<u8>,
    /// The SE's certificate.
    pub client_cert: Certificate,
    /// What the channel is for (for example a session id); covered by both signatures.
    #[serde(with = "serde_bytes")]
    pub context: Vec<u8>,
}

/// Second message, server to client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerHello {
    /// [`HANDSHAKE_VERSION`].
    pub version: u8,
    /// 32 fresh random bytes.
    #[serde(with = "serde_bytes")]
    pub server_nonce: [u8; 32],
    /// The server's ephemeral P-256 ECDH key, SEC1.
    #[serde(with = "serde_bytes")]
    pub server_ephemeral: Vec<u8>,
    /// The server's (HSM channel key) certificate.
    pub server_cert: Certificate,
    /// ECDSA signature (r||s) by the server key over the transcript through `server_cert`.
    #[serde(with = "serde_bytes")]
    pub server_signature: Vec<u8>,
    /// HMAC-SHA256 under the server finished key over the transcript through the signature.
    #[serde(with = "serde_bytes")]
    pub server_finished: [u8; 32],
}

/// Third message, client to server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientFinished {
    /// ECDSA signature (r||s) by the SE key over the transcript through `server_finished`.
    #[serde(with = "serde_bytes")]
    pub client_signature: Vec<u8>,
    /// HMAC-SHA256 under the client finished key over the transcript through the signature.
    #[serde(with = "serde_bytes")]
    pub client_finished: [u8; 32],
}

macro_rules! wire_codec {
    ($ty:ty, $what:literal) => {
        impl $ty {
            /// MessagePack encoding.
            pub fn to_bytes(&self) -> Result<Vec<u8>> {
                encode(self, $what)
            }

            /// Decode from MessagePack (nothing is verified until the handshake step).
            pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
                decode(bytes, $what)
            }
        }
    };
}

wire_codec!(ClientHello, "client hello");
wire_codec!(ServerHello, "server hello");
wire_codec!(ClientFinished, "client finished");

fn absorb_certificate(transcript: &mut Transcript, label: &[u8], cert: &Certificate) {
    transcript.absorb(label, &cert.body);
    transcript.absorb(b"signature", &cert.signature);
}

fn absorb_client_hello(transcript: &mut Transcript, hello: &ClientHello) {
    transcript.absorb(b"version", &[hello.version]);
    transcript.absorb(b"client_nonce", &hello.client_nonce);
    transcript.absorb(b"client_ephemeral", &hello.client_ephemeral);
    absorb_certificate(transcript, b"client_cert", &hello.client_cert);
    transcript.absorb(b"context", &hello.context);
}

fn absorb_server_hello_keys(transcript: &mut Transcript, hello: &ServerHello) {
    transcript.absorb(b"server_version", &[hello.version]);
    transcript.absorb(b"server_nonce", &hello.server_nonce);
    transcript.absorb(b"server_ephemeral", &hello.server_ephemeral);
    absorb_certificate(transcript, b"server_cert", &hello.server_cert);
}

fn finished_mac(key: &[u8; 32], transcript_hash: &[u8; 32]) -> Result<Hmac<Sha256>> {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).map_err(|_| Error::Internal("hmac key"))?;
    mac.update(transcript_hash);
    Ok(mac)
}

/// The secrets shared after the ECDH step. The PRK is the HKDF-Extract of the ECDH secret
/// with the hello transcript hash as salt; everything else is expanded from it.
struct KeySchedule {
    prk: Zeroizing<[u8; 32]>,
}

impl KeySchedule {
    fn new(shared: &p256::ecdh::SharedSecret, hello_hash: &[u8; 32]) -> Self {
        Self {
            prk: wire::hkdf_extract(hello_hash, wire::secret_bytes(shared)),
        }
    }

    fn finished_key(&self, label: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
        wire::hkdf_expand(&self.prk, &[label])
    }

    fn traffic_keys(&self, full_hash: &[u8; 32]) -> Result<TrafficKeys> {
        Ok(TrafficKeys {
            client_to_server: wire::hkdf_expand(&self.prk, &[CLIENT_TRAFFIC_LABEL, full_hash])?,
            server_to_client: wire::hkdf_expand(&self.prk, &[SERVER_TRAFFIC_LABEL, full_hash])?,
            exporter: wire::hkdf_expand(&self.prk, &[EXPORTER_LABEL, full_hash])?,
        })
    }
}

/// One key per direction, so the two ends never encrypt under the same (key, nonce), and the
/// exporter secret upper layers derive their own channel-bound secrets from.
struct TrafficKeys {
    client_to_server: Zeroizing<[u8; 32]>,
    server_to_client: Zeroizing<[u8; 32]>,
    exporter: Zeroizing<[u8; 32]>,
}

/// Check that a local signer really holds the key its certificate names, so a configuration
/// mistake fails here with a clear error instead of as a peer's "bad signature".
fn check_own_certificate(cert: &Certificate, signer: &dyn IdentitySigner) -> Result<()> {
    let body = cert.unverified_body()?;
    if body.public_key != wire::public_key_bytes(&signer.public_key()) {
        return Err(Error::KeyMismatch);
    }
    Ok(())
}

/// The client's state between sending [`ClientHello`] and receiving [`ServerHello`].
pub struct ClientHandshake {
    ephemeral: EphemeralSecret,
    transcript: Transcript,
    client_cert: Certificate,
    context: Vec<u8>,
}

impl fmt::Debug for ClientHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientHandshake").finish_non_exhaustive()
    }
}

impl ClientHandshake {
    /// Begin a handshake as the SE identified by `client_cert`, for the purpose `context`.
    pub fn start(
        client_cert: Certificate,
        context: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> (Self, ClientHello) {
        let ephemeral = EphemeralSecret::random(rng);
        let mut client_nonce = [0u8; 32];
        rng.fill_bytes(&mut client_nonce);
        let hello = ClientHello {
            version: HANDSHAKE_VERSION,
            client_nonce,
            client_ephemeral: wire::public_key_bytes(&ephemeral.public_key()),
            client_cert: client_cert.clone(),
            context: context.to_vec(),
        };
        let mut transcript = Transcript::new(TRANSCRIPT_TAG);
        absorb_client_hello(&mut transcript, &hello);
        (
            Self {
                ephemeral,
                transcript,
                client_cert,
                context: context.to_vec(),
            },
            hello,
        )
    }

    /// Authenticate the server and answer with [`ClientFinished`].
    ///
    /// Checks, in order: version; the server certificate against `trust`, `revocation` and
    /// `now`, and that it is a [`SubjectKind::Server`] certificate; the server's signature
    /// over the transcript; its Finished MAC. Only then does the SE sign.
    pub fn finish(
        self,
        hello: &ServerHello,
        signer: &dyn IdentitySigner,
        trust: &TrustAnchor,
        revocation: &dyn RevocationCheck,
        now: u64,
    ) -> Result<(SecureChannel, ClientFinished)> {
        let Self {
            ephemeral,
            mut transcript,
            client_cert,
            context,
        } = self;
        if hello.version != HANDSHAKE_VERSION {
            return Err(Error::UnsupportedVersion(hello.version));
        }
        check_own_certificate(&client_cert, signer)?;
        let server = hello
            .server_cert
            .verify_not_revoked(trust, revocation, now)?;
        server.require_kind(SubjectKind::Server)?;
        let server_ephemeral = wire::parse_public_key(&hello.server_ephemeral)?;

        absorb_server_hello_keys(&mut transcript, hello);
        let hello_hash = transcript.hash();
        let signed = wire::tagged_digest(SERVER_SIGNATURE_TAG, &[&hello_hash]);
        if !wire::verify_digest(server.public_key(), &signed, &hello.server_signature) {
            return Err(Error::BadHandshakeSignature);
        }
        transcript.absorb(b"server_signature", &hello.server_signature);

        let shared = ephemeral.diffie_hellman(&server_ephemeral);
        drop(ephemeral);
        let schedule = KeySchedule::new(&shared, &hello_hash);
        drop(shared);
        let server_finished_key = schedule.finished_key(SERVER_FINISHED_LABEL)?;
        finished_mac(&server_finished_key, &transcript.hash())?
            .verify_slice(&hello.server_finished)
            .map_err(|_| Error::BadFinished)?;
        transcript.absorb(b"server_finished", &hello.server_finished);

        let to_sign = wire::tagged_digest(CLIENT_SIGNATURE_TAG, &[&transcript.hash()]);
        let client_signature = wire::signature_bytes(&signer.sign_digest(&to_sign)?);
        transcript.absorb(b"client_signature", &client_signature);
        let client_finished_key = schedule.finished_key(CLIENT_FINISHED_LABEL)?;
        let client_finished: [u8; 32] = finished_mac(&client_finished_key, &transcript.hash())?
            .finalize()
            .into_bytes()
            .into();
        transcript.absorb(b"client_finished", &client_finished);

        let full_hash = transcript.hash();
        let keys = schedule.traffic_keys(&full_hash)?;
        let channel = SecureChannel::new(
            Role::Client,
            &keys.client_to_server,
            &keys.server_to_client,
            keys.exporter,
            server,
            full_hash,
            context,
        );
        Ok((
            channel,
            ClientFinished {
                client_signature,
                client_finished,
            },
        ))
    }
}

/// The server's state between sending [`ServerHello`] and receiving [`ClientFinished`].
pub struct ServerHandshake {
    schedule: KeySchedule,
    transcript: Transcript,
    client: VerifiedCertificate,
    context: Vec<u8>,
}

impl fmt::Debug for ServerHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandshake")
            .field("client", self.client.subject())
            .finish_non_exhaustive()
    }
}

impl ServerHandshake {
    /// Answer a [`ClientHello`].
    ///
    /// The client certificate is checked (CA, validity at `now`, `revocation`, and that it is a
    /// [`SubjectKind::SecureElement`] certificate) before the HSM is asked to sign anything.
    /// The client is not authenticated yet: that happens in [`ServerHandshake::finish`].
    pub fn respond(
        hello: &ClientHello,
        signer: &dyn IdentitySigner,
        server_cert: &Certificate,
        trust: &TrustAnchor,
        revocation: &dyn RevocationCheck,
        now: u64,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(Self, ServerHello)> {
        if hello.version != HANDSHAKE_VERSION {
            return Err(Error::UnsupportedVersion(hello.version));
        }
        check_own_certificate(server_cert, signer)?;
        let client = hello
            .client_cert
            .verify_not_revoked(trust, revocation, now)?;
        client.require_kind(SubjectKind::SecureElement)?;
        let client_ephemeral = wire::parse_public_key(&hello.client_ephemeral)?;

        let ephemeral = EphemeralSecret::random(rng);
        let mut server_nonce = [0u8; 32];
        rng.fill_bytes(&mut server_nonce);
        let mut reply = ServerHello {
            version: HANDSHAKE_VERSION,
            server_nonce,
            server_ephemeral: wire::public_key_bytes(&ephemeral.public_key()),
            server_cert: server_cert.clone(),
            server_signature: Vec::new(),
            server_finished: [0u8; 32],
        };

        let mut transcript = Transcript::new(TRANSCRIPT_TAG);
        absorb_client_hello(&mut transcript, hello);
        absorb_server_hello_keys(&mut transcript, &reply);
        let hello_hash = transcript.hash();
        let to_sign = wire::tagged_digest(SERVER_SIGNATURE_TAG, &[&hello_hash]);
        reply.server_signature = wire::signature_bytes(&signer.sign_digest(&to_sign)?);
        transcript.absorb(b"server_signature", &reply.server_signature);

        let shared = ephemeral.diffie_hellman(&client_ephemeral);
        drop(ephemeral);
        let schedule = KeySchedule::new(&shared, &hello_hash);
        drop(shared);
        let server_finished_key = schedule.finished_key(SERVER_FINISHED_LABEL)?;
        reply.server_finished = finished_mac(&server_finished_key, &transcript.hash())?
            .finalize()
            .into_bytes()
            .into();
        transcript.absorb(b"server_finished", &reply.server_finished);

        Ok((
            Self {
                schedule,
                transcript,
                client,
                context: hello.context.clone(),
            },
            reply,
        ))
    }

    /// The client certificate from the hello, verified but not yet proven to be held by the
    /// peer: do not act on it before [`ServerHandshake::finish`] succeeds.
    pub fn pending_client(&self) -> &VerifiedCertificate {
        &self.client
    }

    /// Authenticate the client (its signature over the transcript, then its Finished MAC) and
    /// open the channel.
    pub fn finish(self, finished: &ClientFinished) -> Result<SecureChannel> {
        let Self {
            schedule,
            mut transcript,
            client,
            context,
        } = self;
        let signed = wire::tagged_digest(CLIENT_SIGNATURE_TAG, &[&transcript.hash()]);
        if !wire::verify_digest(client.public_key(), &signed, &finished.client_signature) {
            return Err(Error::BadHandshakeSignature);
        }
        transcript.absorb(b"client_signature", &finished.client_signature);
        let client_finished_key = schedule.finished_key(CLIENT_FINISHED_LABEL)?;
        finished_mac(&client_finished_key, &transcript.hash())?
            .verify_slice(&finished.client_finished)
            .map_err(|_| Error::BadFinished)?;
        transcript.absorb(b"client_finished", &finished.client_finished);

        let full_hash = transcript.hash();
        let keys = schedule.traffic_keys(&full_hash)?;
        Ok(SecureChannel::new(
            Role::Server,
            &keys.client_to_server,
            &keys.server_to_client,
            keys.exporter,
            client,
            full_hash,
            context,
        ))
    }
}
