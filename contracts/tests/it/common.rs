//! Fixed keys, ids and sample documents shared by the tests and the golden fixtures.
//! Everything is deterministic (RFC 6979 signatures, fixed ids), so regenerating the fixtures
//! from unchanged code gives identical bytes.

use alloy_primitives::{keccak256, U256};
use channel::{IdentitySigner, SignerError};
use contracts::envelope::{AssetBalance, Person};
use contracts::eth::{self, Eip1559Fields};
use contracts::{
    AccountManifest, Amount, BalanceAttestation, EthAddress, Id, KeyRing, Kind, SignatureResponse,
    SigningRequest, TransferSummary,
};
use p256::ecdsa::signature::hazmat::PrehashSigner;

/// "Now" of the fixtures: 2025-06-15T15:06:40Z.
pub const NOW: u64 = 1_750_000_000;
/// Validity of the fixtures.
pub const TTL: u64 = 3600;

/// Secret of the online zone's test export key. Also in `fuzz/fuzz_targets/envelope_decode.rs`.
pub const ONLINE_SEED: [u8; 32] = [0x11; 32];
/// Secret of the offline HSM's test envelope key. Also in the fuzz target.
pub const OFFLINE_SEED: [u8; 32] = [0x22; 32];
/// Secret of the test case's secp256k1 key (the "threshold" key, here in one piece).
pub const CASE_SEED: [u8; 32] = [0x33; 32];

/// A software P-256 identity signer (stands in for the HSM / export token).
pub struct SoftSigner(pub p256::ecdsa::SigningKey);

impl SoftSigner {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(p256::ecdsa::SigningKey::from_bytes(&seed.into()).unwrap())
    }
}

impl IdentitySigner for SoftSigner {
    fn public_key(&self) -> p256::PublicKey {
        p256::PublicKey::from(self.0.verifying_key())
    }
    fn sign_digest(&self, digest: &[u8; 32]) -> Result<p256::ecdsa::Signature, SignerError> {
        self.0
            .sign_prehash(digest)
            .map_err(|e| SignerError(e.to_string()))
    }
}

pub fn online() -> SoftSigner {
    SoftSigner::from_seed(ONLINE_SEED)
}

pub fn offline() -> SoftSigner {
    SoftSigner::from_seed(OFFLINE_SEED)
}

/// The key ring both zones would hold: online key for requests and attestations, offline key
/// for manifests and responses.
pub fn keyring() -> KeyRing {
    KeyRing::new()
        .with_key(
            online().public_key(),
            &[Kind::SigningRequest, Kind::BalanceAttestation],
        )
        .with_key(
            offline().public_key(),
            &[Kind::AccountManifest, Kind::SignatureResponse],
        )
}

/// A deterministic UUIDv7: fixed millisecond timestamp, `n` in the random bits.
pub fn id(n: u8) -> Id {
    let uuid = uuid::Builder::from_unix_timestamp_millis(NOW * 1000, &[n; 10]).into_uuid();
    Id::from_uuid(uuid)
}

pub fn case_key() -> k256::ecdsa::SigningKey {
    k256::ecdsa::SigningKey::from_bytes(&CASE_SEED.into()).unwrap()
}

pub fn case_address() -> EthAddress {
    let point = case_key().verifying_key().to_encoded_point(true);
    eth::address_of_secp256k1(point.as_bytes()).unwrap()
}

pub fn recipient() -> EthAddress {
    EthAddress::parse("0x00000000000000000000000000000000000000a1").unwrap()
}

pub fn usdc() -> EthAddress {
    EthAddress::parse("0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48").unwrap()
}

pub fn manifest() -> AccountManifest {
    let point = case_key().verifying_key().to_encoded_point(true);
    AccountManifest {
        case_id: id(1),
        public_key: point.as_bytes().to_vec(),
        addresses: vec![case_address()],
        chain_ids: vec![1, 11_155_111],
    }
}

fn person(n: u8, name: &str) -> Person {
    Person {
        user_id: id(n),
        username: name.to_owned(),
    }
}

/// Builds a consistent signing request from transaction fields and a summary.
pub fn request_from(fields: Eip1559Fields, summary: TransferSummary) -> SigningRequest {
    let unsigned_tx = fields.encode_unsigned().unwrap();
    SigningRequest {
        request_id: id(2),
        chain_id: fields.chain_id,
        from: case_address(),
        signing_hash: eth::signing_hash(&unsigned_tx),
        unsigned_tx,
        transaction: fields,
        summary,
        created_by: person(3, "trader-alice"),
        approved_by: vec![person(4, "approver-bob")],
    }
}

/// 1.5 ETH to `recipient()` on mainnet.
pub fn eth_request() -> SigningRequest {
    let value = Amount(U256::from(1_500_000_000_000_000_000u128));
    request_from(
        Eip1559Fields {
            chain_id: 1,
            nonce: 7,
            max_priority_fee_per_gas: Amount::from(1_500_000_000u128),
            max_fee_per_gas: Amount::from(30_000_000_000u128),
            gas_limit: 21_000,
            to: recipient(),
            value,
            data: Vec::new(),
        },
        TransferSummary {
            asset_symbol: "ETH".into(),
            token: None,
            recipient: recipient(),
            amount: value,
            decimals: 18,
        },
    )
}

/// 250 USDC to `recipient()` on mainnet.
pub fn erc20_request() -> SigningRequest {
    let amount = Amount::from(250_000_000u128);
    request_from(
        Eip1559Fields {
            chain_id: 1,
            nonce: 8,
            max_priority_fee_per_gas: Amount::from(1_500_000_000u128),
            max_fee_per_gas: Amount::from(30_000_000_000u128),
            gas_limit: 65_000,
            to: usdc(),
            value: Amount::default(),
            data: eth::encode_erc20_transfer(&recipient(), &amount),
        },
        TransferSummary {
            asset_symbol: "USDC".into(),
            token: Some(usdc()),
            recipient: recipient(),
            amount,
            decimals: 6,
        },
    )
}

/// Signs `request` with the case key as the threshold protocol would (low-s, recoverable).
pub fn response_for(request: &SigningRequest) -> SignatureResponse {
    let (sig, recid) = case_key()
        .sign_prehash_recoverable(&request.signing_hash)
        .unwrap();
    let r: [u8; 32] = sig.r().to_bytes().into();
    let s: [u8; 32] = sig.s().to_bytes().into();
    let alloy_sig = alloy_primitives::Signature::new(
        U256::from_be_bytes(r),
        U256::from_be_bytes(s),
        recid.is_y_odd(),
    );
    let tx = request.transaction.to_alloy().unwrap();
    let signed_tx = eth::encode_signed(&tx, &alloy_sig);
    SignatureResponse {
        request_id: request.request_id,
        r,
        s,
        y_parity: recid.is_y_odd(),
        tx_hash: keccak256(&signed_tx).0,
        signed_tx,
    }
}

pub fn attestation() -> BalanceAttestation {
    BalanceAttestation {
        address: case_address(),
        chain_id: 1,
        balances: vec![
            AssetBalance {
                asset: "ETH".into(),
                token: None,
                amount: Amount::from(42u128),
            },
            AssetBalance {
                asset: "USDC".into(),
                token: Some(usdc()),
                amount: Amount::default(),
            },
        ],
        block_number: 22_000_000,
        block_hash: [0xbb; 32],
    }
}

/// The documented signature preimage, written out independently of the crate so a change
/// to the crate's digest fails the tests.
#[allow(clippy::too_many_arguments, reason = "one argument per signed field")]
pub fn documented_digest(
    version: u8,
    kind: &str,
    id: &Id,
    key_id: &[u8; 32],
    issued_at: u64,
    expires_at: u64,
    payload: &[u8],
    witness: &[contracts::AuditCheckpoint],
) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let count = (witness.len() as u32).to_be_bytes();
    let mut fields: Vec<Vec<u8>> = vec![
        b"custody/envelope/v2".to_vec(),
        vec![version],
        kind.as_bytes().to_vec(),
        id.as_bytes().to_vec(),
        key_id.to_vec(),
        issued_at.to_be_bytes().to_vec(),
        expires_at.to_be_bytes().to_vec(),
        payload.to_vec(),
        count.to_vec(),
    ];
    for c in witness {
        fields.push(c.digest().to_vec());
        fields.push(c.signature.to_vec());
    }
    for field in fields {
        h.update((field.len() as u32).to_be_bytes());
        h.update(&field);
    }
    h.finalize().into()
}

/// A raw envelope, to build documents `Envelope::seal` refuses to make (inconsistent bodies,
/// other versions) and check the verifier still rejects them.
#[derive(serde::Serialize)]
pub struct RawEnvelope {
    pub version: u8,
    pub kind: &'static str,
    pub id: Id,
    #[serde(with = "serde_bytes")]
    pub signer_key_id: [u8; 32],
    pub issued_at: u64,
    pub expires_at: u64,
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
    pub witness: Vec<contracts::AuditCheckpoint>,
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

impl RawEnvelope {
    /// Signs any serializable body with `signer`, bypassing the body checks of `seal`.
    pub fn signed<T: serde::Serialize>(kind: &'static str, body: &T, signer: &SoftSigner) -> Self {
        let mut raw = Self {
            version: 2,
            kind,
            id: id(9),
            signer_key_id: channel::cert::key_id(&signer.public_key()),
            issued_at: NOW,
            expires_at: NOW + TTL,
            payload: rmp_serde::to_vec_named(body).unwrap(),
            witness: Vec::new(),
            signature: Vec::new(),
        };
        raw.resign(signer);
        raw
    }

    pub fn resign(&mut self, signer: &SoftSigner) {
        let digest = documented_digest(
            self.version,
            self.kind,
            &self.id,
            &self.signer_key_id,
            self.issued_at,
            self.expires_at,
            &self.payload,
            &self.witness,
        );
        self.signature = signer.sign_digest(&digest).unwrap().to_bytes().to_vec();
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        rmp_serde::to_vec_named(self).unwrap()
    }
}
