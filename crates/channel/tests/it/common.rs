//! Software identity signers and a tiny PKI for the tests.

use channel::cert::{encode_public_key, key_id};
use channel::{
    Certificate, CertificateBody, ClientHandshake, IdentitySigner, RevocationList, SecureChannel,
    ServerHandshake, SignerError, Subject, TrustAnchor,
};
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::{Signature, SigningKey};
use rand_core::OsRng;

pub const NOW: u64 = 1_750_000_000;
pub const YEAR: u64 = 365 * 24 * 3600;

/// An in-memory P-256 key behind the `IdentitySigner` port.
pub struct SoftSigner(pub SigningKey);

impl SoftSigner {
    pub fn random() -> Self {
        Self(SigningKey::random(&mut OsRng))
    }
}

impl IdentitySigner for SoftSigner {
    fn public_key(&self) -> p256::PublicKey {
        p256::PublicKey::from(self.0.verifying_key())
    }

    fn sign_digest(&self, digest: &[u8; 32]) -> Result<Signature, SignerError> {
        self.0
            .sign_prehash(digest)
            .map_err(|_| SignerError("software signer failed".into()))
    }
}

/// A CA with a counter for certificate serials.
pub struct Pki {
    pub ca: SoftSigner,
    next_serial: std::cell::Cell<u64>,
}

impl Pki {
    pub fn new() -> Self {
        Self {
            ca: SoftSigner::random(),
            next_serial: std::cell::Cell::new(1),
        }
    }

    pub fn anchor(&self) -> TrustAnchor {
        TrustAnchor::new(self.ca.public_key())
    }

    pub fn body(
        &self,
        subject: Subject,
        key: &dyn IdentitySigner,
        window: (u64, u64),
    ) -> CertificateBody {
        let serial = self.next_serial.get();
        self.next_serial.set(serial + 1);
        CertificateBody {
            version: 1,
            serial: format!("cert-{serial:04}"),
            subject,
            public_key: encode_public_key(&key.public_key()),
            not_before: window.0,
            not_after: window.1,
            issuer_key_id: key_id(&self.ca.public_key()),
        }
    }

    pub fn issue(
        &self,
        subject: Subject,
        key: &dyn IdentitySigner,
        window: (u64, u64),
    ) -> Certificate {
        Certificate::issue(&self.body(subject, key, window), &self.ca).unwrap()
    }

    pub fn se_cert(&self, se_serial: &str, key: &dyn IdentitySigner) -> Certificate {
        self.issue(se_subject(se_serial), key, (NOW - 10, NOW + YEAR))
    }

    pub fn server_cert(&self, key: &dyn IdentitySigner) -> Certificate {
        self.issue(
            Subject::Server {
                name: "offline-1".into(),
            },
            key,
            (NOW - 10, NOW + YEAR),
        )
    }
}

pub fn se_subject(se_serial: &str) -> Subject {
    Subject::SecureElement {
        se_serial: se_serial.into(),
        label: format!("SE {se_serial}"),
    }
}

/// A CA, one SE and the server, all with valid certificates.
pub struct World {
    pub pki: Pki,
    pub se: SoftSigner,
    pub se_cert: Certificate,
    pub server: SoftSigner,
    pub server_cert: Certificate,
    pub revocation: RevocationList,
}

impl World {
    pub fn new() -> Self {
        let pki = Pki::new();
        let se = SoftSigner::random();
        let se_cert = pki.se_cert("0042", &se);
        let server = SoftSigner::random();
        let server_cert = pki.server_cert(&server);
        Self {
            pki,
            se,
            se_cert,
            server,
            server_cert,
            revocation: RevocationList::new(),
        }
    }

    /// Run the whole handshake, passing every message through its byte encoding as the bus
    /// would.
    pub fn handshake(&self) -> (SecureChannel, SecureChannel) {
        let anchor = self.pki.anchor();
        let (client, hello) =
            ClientHandshake::start(self.se_cert.clone(), b"session-1", &mut OsRng);
        let hello = channel::ClientHello::from_bytes(&hello.to_bytes().unwrap()).unwrap();
        let (server, reply) = ServerHandshake::respond(
            &hello,
            &self.server,
            &self.server_cert,
            &anchor,
            &self.revocation,
            NOW,
            &mut OsRng,
        )
        .unwrap();
        let reply = channel::ServerHello::from_bytes(&reply.to_bytes().unwrap()).unwrap();
        let (client_channel, finished) = client
            .finish(&reply, &self.se, &anchor, &self.revocation, NOW)
            .unwrap();
        let finished = channel::ClientFinished::from_bytes(&finished.to_bytes().unwrap()).unwrap();
        let server_channel = server.finish(&finished).unwrap();
        (client_channel, server_channel)
    }
}
