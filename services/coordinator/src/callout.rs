//! Channel logins: the coordinator as the zone NATS server's authorization callout.
//!
//! Every manager's client logs in to NATS as the one `client` user, which may only ask for the
//! handshake (`ops/nats/nats-server.conf`). After the handshake it opens a second connection
//! with its channel's login token (`coord::channel_login_token`, a secret only the two ends of
//! the channel can compute). That login matches no configured user, so nats-server asks its
//! authorization callout on `contracts::subjects::AUTH_CALLOUT`: this module. A token of a live channel
//! gets a user whose only rights are publishing that channel's `up` subject and subscribing its
//! `down` subject; anything else is refused, and the connection with it. So a manager (or
//! anyone holding the `client` password) can publish only on channels it established.
//!
//! The wire format is nats-server's (ADR-26, `nats-io/jwt` v2): the request is a JWT the
//! server signs with its own nkey; the answer is an authorization-response JWT carrying a user
//! JWT, both signed by the callout issuer's account nkey, whose public key the server's
//! `auth_callout { issuer }` names. In server-configuration mode the user JWT's audience names
//! the account the connection is placed in ([`CHANNEL_ACCOUNT`]).

use std::path::Path;

use base64::Engine as _;
use contracts::{coord, Id};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The NATS account the managers' channel connections are placed in: the account of the
/// `auth_callout` block and of the coordinator in `ops/nats/nats-server.conf`.
pub const CHANNEL_ACCOUNT: &str = "CUSTODY";

/// `aud` of a server's authorization request (fixed by nats-server).
const REQUEST_AUDIENCE: &str = "nats-authorization-request";

/// Why channel logins cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum CalloutError {
    /// The issuer seed file could not be read.
    #[error("cannot read the NATS callout issuer seed file {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// What the system said.
        reason: String,
    },
    /// The file does not hold an account nkey seed.
    #[error(
        "{path} does not hold a NATS account nkey seed (one line starting with SA; \
         `custodyd nats-issuer` makes one)"
    )]
    NotAnAccountSeed {
        /// The file.
        path: String,
    },
}

/// The callout issuer: the account nkey that signs channel users (its seed is a secret file of
/// the coordinator; its public key is `auth_callout.issuer` in the NATS configuration).
pub struct ChannelLogins {
    issuer: nkeys::KeyPair,
}

impl std::fmt::Debug for ChannelLogins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelLogins")
            .field("issuer", &self.issuer.public_key())
            .finish()
    }
}

impl ChannelLogins {
    /// The issuer from its seed (`SA…`).
    pub fn from_seed(seed: &str) -> Option<ChannelLogins> {
        let issuer = nkeys::KeyPair::from_seed(seed.trim()).ok()?;
        issuer
            .public_key()
            .starts_with('A')
            .then_some(ChannelLogins { issuer })
    }

    /// The issuer from a seed file (read, then the text zeroized).
    pub fn from_seed_file(path: &Path) -> Result<ChannelLogins, CalloutError> {
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|e| CalloutError::Read {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?,
            );
        ChannelLogins::from_seed(&text).ok_or_else(|| CalloutError::NotAnAccountSeed {
            path: path.display().to_string(),
        })
    }

    /// A fresh issuer: its seed (secret) and public key.
    pub fn generate() -> (Zeroizing<String>, String) {
        let pair = nkeys::KeyPair::new_account();
        let seed = Zeroizing::new(pair.seed().unwrap_or_default());
        (seed, pair.public_key())
    }

    /// The issuer's public key (`auth_callout.issuer`).
    pub fn public_key(&self) -> String {
        self.issuer.public_key()
    }

    /// A user JWT for the connection `user_nkey` that may publish `channel`'s up subject and
    /// subscribe its down subject, and nothing else.
    pub(crate) fn channel_user(&self, user_nkey: &str, channel: &Id, now: u64) -> Option<String> {
        self.sign(json!({
            "iat": now,
            "iss": self.issuer.public_key(),
            "name": format!("channel-{channel}"),
            "sub": user_nkey,
            "aud": CHANNEL_ACCOUNT,
            "nats": {
                "pub": { "allow": [coord::channel_up(channel)] },
                "sub": { "allow": [coord::channel_down(channel)] },
                "subs": -1,
                "data": -1,
                "payload": -1,
                "type": "user",
                "version": 2,
            },
        }))
    }

    /// The answer to an authorization request: the user JWT, or the reason it is refused.
    pub(crate) fn response(
        &self,
        request: &AuthRequest,
        outcome: Result<String, &str>,
        now: u64,
    ) -> Option<String> {
        let nats = match outcome {
            Ok(user) => json!({ "jwt": user, "type": "authorization_response", "version": 2 }),
            Err(why) => json!({ "error": why, "type": "authorization_response", "version": 2 }),
        };
        self.sign(json!({
            "iat": now,
            "iss": self.issuer.public_key(),
            "sub": request.user_nkey,
            "aud": request.server_id,
            "nats": nats,
        }))
    }

    /// `claims` as a JWT signed by the issuer (`ed25519-nkey`), with its `jti`.
    fn sign(&self, mut claims: serde_json::Value) -> Option<String> {
        let id = Sha256::digest(serde_json::to_vec(&claims).ok()?);
        claims
            .as_object_mut()?
            .insert("jti".to_owned(), json!(hex::encode(id)));
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
        let body = b64.encode(serde_json::to_vec(&claims).ok()?);
        let signed = format!("{header}.{body}");
        let signature = self.issuer.sign(signed.as_bytes()).ok()?;
        Some(format!("{signed}.{}", b64.encode(signature)))
    }
}

/// What the coordinator reads from a server's authorization request.
#[derive(Debug)]
pub(crate) struct AuthRequest {
    /// The server's id (its public nkey): the response's audience.
    pub(crate) server_id: String,
    /// The nkey the server made for the connection: the user JWT's subject.
    pub(crate) user_nkey: String,
    /// The token the connection presented (a channel login token, or not).
    pub(crate) token: Option<Zeroizing<String>>,
    /// Where the connection comes from, for the log.
    pub(crate) host: String,
}

#[derive(Deserialize)]
struct RequestClaims {
    aud: String,
    iss: String,
    sub: String,
    #[serde(default)]
    exp: u64,
    nats: RequestBody,
}

#[derive(Deserialize)]
struct RequestBody {
    server_id: ServerId,
    user_nkey: String,
    #[serde(default)]
    client_info: ClientInfo,
    #[serde(default)]
    connect_opts: ConnectOpts,
}

#[derive(Deserialize)]
struct ServerId {
    id: String,
}

#[derive(Deserialize, Default)]
struct ClientInfo {
    #[serde(default)]
    host: String,
}

#[derive(Deserialize, Default)]
struct ConnectOpts {
    #[serde(default)]
    auth_token: Option<String>,
}

impl ChannelLogins {
    /// Decode and check a server's authorization request: a JWT signed by the server's own
    /// nkey, for this issuer, not expired.
    pub(crate) fn request(&self, payload: &[u8], now: u64) -> Result<AuthRequest, String> {
        let text = std::str::from_utf8(payload).map_err(|_| "not a JWT (not UTF-8)")?;
        let mut parts = text.trim().split('.');
        let (Some(header), Some(body), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("not a JWT (three parts expected; is the request encrypted?)".into());
        };
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let claims = Zeroizing::new(b64.decode(body).map_err(|_| "JWT body is not base64url")?);
        let signature = b64
            .decode(signature)
            .map_err(|_| "JWT signature is not base64url")?;
        let claims: RequestClaims = serde_json::from_slice(&claims)
            .map_err(|e| format!("not an authorization request: {e}"))?;
        if claims.aud != REQUEST_AUDIENCE {
            return Err(format!(
                "audience {:?} is not an authorization request",
                claims.aud
            ));
        }
        if claims.iss != claims.nats.server_id.id || !claims.iss.starts_with('N') {
            return Err("the request is not signed by the server it names".into());
        }
        let server = nkeys::KeyPair::from_public_key(&claims.iss)
            .map_err(|_| "the server's key is not an nkey")?;
        server
            .verify(format!("{header}.{body}").as_bytes(), &signature)
            .map_err(|_| "the server's signature does not verify")?;
        if claims.sub != self.issuer.public_key() {
            return Err("the request is for another callout issuer".into());
        }
        if claims.exp != 0 && claims.exp < now {
            return Err("the request has expired".into());
        }
        Ok(AuthRequest {
            server_id: claims.nats.server_id.id,
            user_nkey: claims.nats.user_nkey,
            token: claims.nats.connect_opts.auth_token.map(Zeroizing::new),
            host: claims.nats.client_info.host,
        })
    }
}

/// What a refused connection is told (nats-server logs it; the client sees an authorization
/// violation). It names nothing about channels, users or SEs.
pub(crate) const REFUSED: &str = "not a live channel's login";

impl crate::Coordinator {
    /// One authorization request from nats-server: a channel login is admitted to its
    /// channel's subjects while the channel lives; anything else is refused.
    pub(crate) async fn on_auth(&self, logins: &ChannelLogins, msg: async_nats::Message) {
        let Some(reply) = msg.reply.clone() else {
            return;
        };
        let now = self.unix_now();
        let request = match logins.request(&msg.payload, now) {
            Ok(r) => r,
            Err(why) => {
                tracing::warn!(%why, "authorization request ignored");
                return;
            }
        };
        let outcome = match self.admit_login(logins, &request, now).await {
            Ok((channel, user)) => {
                tracing::info!(%channel, host = %request.host, "channel login admitted");
                Ok(user)
            }
            Err(why) => {
                tracing::warn!(host = %request.host, %why, "NATS login refused");
                Err(REFUSED)
            }
        };
        let Some(answer) = logins.response(&request, outcome, now) else {
            tracing::error!("could not sign an authorization response");
            return;
        };
        if let Err(e) = self.inner.nats.publish(reply, answer.into()).await {
            tracing::warn!(error = %e, "could not answer an authorization request");
        }
    }

    async fn admit_login(
        &self,
        logins: &ChannelLogins,
        request: &AuthRequest,
        now: u64,
    ) -> Result<(Id, String), &'static str> {
        let token = request.token.as_deref().ok_or("no token")?;
        let id = coord::channel_login_channel(token).ok_or("not a channel login token")?;
        let chan = self.chan(&id).ok_or("no such live channel")?;
        let matches = coord::channel_login_matches(token, &*chan.channel.lock().await);
        if !matches {
            return Err("wrong login token for the channel");
        }
        let user = logins
            .channel_user(&request.user_nkey, &id, now)
            .ok_or("could not sign the channel user")?;
        Ok((id, user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(jwt: &str) -> serde_json::Value {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let body = jwt.split('.').nth(1).unwrap();
        serde_json::from_slice(&b64.decode(body).unwrap()).unwrap()
    }

    /// A request as nats-server makes it: signed by a server nkey, for `issuer`.
    fn server_request(server: &nkeys::KeyPair, issuer: &str, token: &str, exp: u64) -> Vec<u8> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let claims = json!({
            "aud": REQUEST_AUDIENCE, "exp": exp, "iat": 1, "iss": server.public_key(),
            "sub": issuer,
            "nats": {
                "server_id": { "name": "t", "host": "127.0.0.1", "id": server.public_key() },
                "user_nkey": "UCONNECTION", "client_info": { "host": "10.0.0.9" },
                "connect_opts": { "auth_token": token, "protocol": 1 },
                "type": "authorization_request", "version": 2,
            },
        });
        let head = b64.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
        let body = b64.encode(serde_json::to_vec(&claims).unwrap());
        let sig = server.sign(format!("{head}.{body}").as_bytes()).unwrap();
        format!("{head}.{body}.{}", b64.encode(sig)).into_bytes()
    }

    #[test]
    fn a_server_request_is_read_and_a_forged_one_is_not() {
        let (seed, public) = ChannelLogins::generate();
        let logins = ChannelLogins::from_seed(&seed).unwrap();
        assert_eq!(logins.public_key(), public);
        let server = nkeys::KeyPair::new_server();
        let good = server_request(&server, &public, "tok", 2_000_000_000);
        let request = logins.request(&good, 1_900_000_000).unwrap();
        assert_eq!(request.server_id, server.public_key());
        assert_eq!(request.token.as_deref().map(String::as_str), Some("tok"));
        assert_eq!(request.host, "10.0.0.9");

        // Expired, for another issuer, or signed by someone else than the server it names.
        assert!(logins.request(&good, 2_000_000_001).is_err());
        let other = server_request(
            &server,
            &nkeys::KeyPair::new_account().public_key(),
            "tok",
            0,
        );
        assert!(logins.request(&other, 1).is_err());
        let mut forged = good.clone();
        let last = forged.len() - 3;
        forged[last] ^= 1;
        assert!(logins.request(&forged, 1).is_err());
        assert!(logins.request(b"junk", 1).is_err());
    }

    #[test]
    fn a_channel_user_may_use_its_channel_only_and_the_response_is_for_the_server() {
        let (seed, public) = ChannelLogins::generate();
        let logins = ChannelLogins::from_seed(&seed).unwrap();
        let channel = Id::new_v7(1_800_000_000);
        let user = logins.channel_user("UCONN", &channel, 5).unwrap();
        let claims = decode(&user);
        assert_eq!(claims["iss"], json!(public));
        assert_eq!(claims["sub"], json!("UCONN"));
        assert_eq!(claims["aud"], json!(CHANNEL_ACCOUNT));
        assert_eq!(
            claims["nats"]["pub"]["allow"],
            json!([coord::channel_up(&channel)])
        );
        assert_eq!(
            claims["nats"]["sub"]["allow"],
            json!([coord::channel_down(&channel)])
        );
        // The signature verifies under the issuer's public key.
        let (signed, signature) = user.rsplit_once('.').unwrap();
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature)
            .unwrap();
        nkeys::KeyPair::from_public_key(&public)
            .unwrap()
            .verify(signed.as_bytes(), &signature)
            .unwrap();

        let request = AuthRequest {
            server_id: "NSERVER".into(),
            user_nkey: "UCONN".into(),
            token: None,
            host: String::new(),
        };
        let refused = decode(&logins.response(&request, Err(REFUSED), 5).unwrap());
        assert_eq!(refused["aud"], json!("NSERVER"));
        assert_eq!(refused["nats"]["error"], json!(REFUSED));
        assert!(refused["nats"].get("jwt").is_none());
        // A seed that is not an account's is not an issuer.
        let user_seed = nkeys::KeyPair::new_user().seed().unwrap();
        assert!(ChannelLogins::from_seed(&user_seed).is_none());
    }
}
