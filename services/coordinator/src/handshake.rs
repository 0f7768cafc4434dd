//! The coordinator's side of the SE↔HSM handshake (`custody.channel.handshake`).

use std::sync::Arc;
use std::time::Instant;

use channel::{ClientFinished, ClientHello, RevocationList, ServerHandshake, Subject};
use contracts::coord::{self, HandshakeReply, HandshakeRequest};
use contracts::Id;
use offline_db::entity::{key_shares, secure_elements, users};
use offline_db::{KeyShareStatus, Role, SeStatus, UserStatus};
use rand_core::OsRng;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::{Chan, Coordinator};

/// A handshake waiting for the client's Finished.
pub(crate) struct Pending {
    server: ServerHandshake,
    user_id: String,
    se: secure_elements::Model,
    se_key: p256::PublicKey,
    pub(crate) deadline: Instant,
}

impl Coordinator {
    pub(crate) async fn on_handshake(&self, msg: async_nats::Message) {
        let Some(reply_to) = msg.reply.clone() else {
            return;
        };
        let reply = match coord::decode::<HandshakeRequest>(&msg.payload, "handshake request") {
            Err(e) => refused(format!("{e}")),
            Ok(HandshakeRequest::Hello {
                version,
                user_id,
                client_hello,
            }) => self
                .hello(version, user_id, &client_hello)
                .await
                .unwrap_or_else(refused),
            Ok(HandshakeRequest::Finished {
                channel_id,
                client_finished,
            }) => self
                .finished(channel_id, &client_finished)
                .await
                .unwrap_or_else(refused),
        };
        match coord::encode(&reply) {
            Ok(bytes) => {
                if let Err(e) = self.inner.nats.publish(reply_to, bytes.into()).await {
                    tracing::warn!(error = %e, "could not answer a handshake");
                }
            }
            Err(e) => tracing::error!(error = %e, "could not encode a handshake reply"),
        }
    }

    async fn hello(
        &self,
        version: u8,
        user_id: Id,
        client_hello: &[u8],
    ) -> Result<HandshakeReply, String> {
        if version != coord::PROTOCOL_VERSION {
            return Err(format!(
                "protocol version {version} is not supported (this coordinator speaks {})",
                coord::PROTOCOL_VERSION
            ));
        }
        let hello = ClientHello::from_bytes(client_hello).map_err(|e| e.to_string())?;
        let db = &self.inner.db;
        let user = db
            .user(&user_id.to_string())
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("user {user_id} is not known to this offline zone"))?;
        check_user(&user)?;
        // Who the certificate claims to be; the handshake below proves it (CA signature,
        // validity) and `finish` proves the SE holds the key (and so that its PIN was given).
        // The user id is bound into the handshake transcript (its context), which the SE signs.
        if hello.context != user_id.to_string().as_bytes() {
            return Err("the handshake context does not name the user logging in".to_owned());
        }
        let claimed = hello
            .client_cert
            .unverified_body()
            .map_err(|e| e.to_string())?;
        let Subject::SecureElement { se_serial, .. } = &claimed.subject else {
            return Err("the client certificate is not a secure element's".to_owned());
        };
        let se = db
            .se_by_serial(se_serial)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("secure element {se_serial} is not registered"))?;
        // Only a manager who currently holds a share in this SE may log in with it: a
        // replaced manager is refused here, whatever PIN they know.
        let holds = key_shares::Entity::find()
            .filter(key_shares::Column::UserId.eq(user.id.as_str()))
            .filter(key_shares::Column::SeId.eq(se.id.as_str()))
            .filter(key_shares::Column::Status.eq(KeyShareStatus::Active))
            .count(db.conn())
            .await
            .map_err(|e| e.to_string())?;
        if holds == 0 {
            return Err(format!(
                "user {} holds no current share in secure element {}",
                user.username, se.serial
            ));
        }
        let mut revocation = RevocationList::new();
        if se.status != SeStatus::Active {
            revocation.revoke_se(se.serial.clone());
        }
        let now = self.unix_now();
        let hsm = self.inner.hsm.clone();
        let trust = hsm.trust_anchor();
        let (server, server_hello) = tokio::task::spawn_blocking(move || {
            ServerHandshake::respond(
                &hello,
                &hsm.channel_signer(),
                hsm.channel_certificate(),
                &trust,
                &revocation,
                now,
                &mut OsRng,
            )
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| match e {
            channel::Error::Revoked => format!(
                "secure element {} is {:?}; it cannot be used",
                se.serial, se.status
            ),
            other => other.to_string(),
        })?;
        let verified = server.pending_client();
        let se_key = *verified.public_key();
        let registered = p256::PublicKey::from_sec1_bytes(&se.identity_public_key)
            .map_err(|_| format!("secure element {} has no valid registered key", se.serial))?;
        if registered != se_key {
            return Err(format!(
                "the certificate's key is not the key registered for secure element {}",
                se.serial
            ));
        }
        let channel_id = Id::new_v7(now);
        let bytes = server_hello.to_bytes().map_err(|e| e.to_string())?;
        self.inner
            .pending
            .lock()
            .map_err(|_| "handshake state unavailable".to_owned())?
            .insert(
                channel_id,
                Pending {
                    server,
                    user_id: user.id,
                    se,
                    se_key,
                    deadline: Instant::now() + self.inner.timeouts.handshake,
                },
            );
        Ok(HandshakeReply::Hello {
            channel_id,
            server_hello: bytes,
        })
    }

    async fn finished(
        &self,
        channel_id: Id,
        client_finished: &[u8],
    ) -> Result<HandshakeReply, String> {
        let pending = self
            .inner
            .pending
            .lock()
            .map_err(|_| "handshake state unavailable".to_owned())?
            .remove(&channel_id)
            .ok_or_else(|| format!("no handshake {channel_id} is waiting (expired?)"))?;
        let finished = ClientFinished::from_bytes(client_finished).map_err(|e| e.to_string())?;
        let secure = pending
            .server
            .finish(&finished)
            .map_err(|e| e.to_string())?;
        let now = self.now();
        self.inner
            .db
            .open_channel(
                &channel_id.to_string(),
                &pending.se.id,
                &pending.user_id,
                now,
            )
            .await
            .map_err(|e| e.to_string())?;
        let chan = Arc::new(Chan {
            id: channel_id,
            user_id: pending.user_id,
            se_id: pending.se.id,
            se_key: pending.se_key,
            channel: tokio::sync::Mutex::new(secure),
            last_seen: std::sync::Mutex::new(Instant::now()),
            session: std::sync::Mutex::new(None),
        });
        self.inner
            .channels
            .lock()
            .map_err(|_| "channel state unavailable".to_owned())?
            .insert(channel_id, chan);
        tracing::info!(channel = %channel_id, "secure channel established");
        Ok(HandshakeReply::Established { channel_id })
    }
}

fn check_user(user: &users::Model) -> Result<(), String> {
    if user.status != UserStatus::Active {
        return Err(format!("user {} is not active", user.username));
    }
    if user.role != Role::CaseManager {
        return Err(format!("user {} is not a case manager", user.username));
    }
    Ok(())
}

fn refused(reason: String) -> HandshakeReply {
    tracing::info!(%reason, "handshake refused");
    HandshakeReply::Refused { reason }
}
