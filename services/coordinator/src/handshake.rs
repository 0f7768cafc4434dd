//! The coordinator's side of the SE↔HSM handshake (`custody.channel.handshake`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
            }) => {
                let allowed = self
                    .inner
                    .hello_limit
                    .lock()
                    .map(|mut l| l.allow(&user_id, Instant::now()))
                    .unwrap_or(false);
                if allowed {
                    self.hello(version, user_id, &client_hello)
                        .await
                        .unwrap_or_else(refused)
                } else {
                    refused(TOO_MANY.to_owned())
                }
            }
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
        // Who may log in with which SE is nobody's business before the handshake has proven
        // it: the sender learns only that it was not admitted; the coordinator logs why.
        self.admit(user_id, hello).await.map_err(|detail| {
            tracing::info!(user = %user_id, %detail, "handshake not admitted");
            NOT_ADMITTED.to_owned()
        })
    }

    /// The checks a Hello must pass (user, SE, share, certificate, registered key), then the
    /// server's reply. Errors name users and SEs: they are for the coordinator's log only.
    async fn admit(&self, user_id: Id, hello: ClientHello) -> Result<HandshakeReply, String> {
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
            rejected: std::sync::atomic::AtomicU64::new(0),
        });
        self.inner
            .channels
            .lock()
            .map_err(|_| "channel state unavailable".to_owned())?
            .insert(channel_id, chan);
        tracing::info!(channel = %channel_id, "secure channel established");
        Ok(HandshakeReply::Established {
            channel_id,
            login: self.inner.logins.get().is_some(),
        })
    }
}

/// What an unauthenticated sender is told when its Hello does not pass the checks.
pub(crate) const NOT_ADMITTED: &str = "login refused: this offline zone does not admit this user \
     with this secure element (the security officer can see why in the coordinator's log)";

/// What a sender is told when it sends Hellos faster than [`HelloLimit`] allows.
pub(crate) const TOO_MANY: &str = "too many login attempts; try again in a minute";

/// Hellos answered per claimed user per minute, and in all per second. A Hello costs a
/// database lookup and an HSM signature; the limits keep a flood from taking the HSM away
/// from the managers. Fixed windows, in memory (one coordinator per zone).
#[derive(Debug, Default)]
pub(crate) struct HelloLimit {
    per_user: HashMap<Id, (Instant, u32)>,
    all: Option<(Instant, u32)>,
}

impl HelloLimit {
    /// Hellos per claimed user within [`Self::USER_WINDOW`].
    const PER_USER: u32 = 30;
    const USER_WINDOW: Duration = Duration::from_secs(60);
    /// Hellos in all within [`Self::ALL_WINDOW`].
    const ALL: u32 = 50;
    const ALL_WINDOW: Duration = Duration::from_secs(1);

    /// Counts a Hello claiming `user` at `now`; false when a limit is reached (nothing counted).
    pub(crate) fn allow(&mut self, user: &Id, now: Instant) -> bool {
        let all = match self.all {
            Some((start, n)) if now.duration_since(start) < Self::ALL_WINDOW => (start, n),
            _ => (now, 0),
        };
        if all.1 >= Self::ALL {
            self.all = Some(all);
            return false;
        }
        if self.per_user.len() > 10_000 {
            self.per_user
                .retain(|_, (start, _)| now.duration_since(*start) < Self::USER_WINDOW);
        }
        let mine = match self.per_user.get(user) {
            Some(&(start, n)) if now.duration_since(start) < Self::USER_WINDOW => (start, n),
            _ => (now, 0),
        };
        if mine.1 >= Self::PER_USER {
            return false;
        }
        self.per_user.insert(*user, (mine.0, mine.1 + 1));
        self.all = Some((all.0, all.1 + 1));
        true
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hellos_are_limited_per_user_and_in_all() {
        let mut limit = HelloLimit::default();
        let t0 = Instant::now();
        let alice = Id::new_v7(1_800_000_000);
        for _ in 0..HelloLimit::PER_USER {
            assert!(limit.allow(&alice, t0));
        }
        assert!(!limit.allow(&alice, t0), "the 31st Hello in a minute");
        // Another user is not held up by alice's flood…
        let bob = Id::new_v7(1_800_000_000);
        assert!(limit.allow(&bob, t0));
        // …and alice gets in again after the window.
        assert!(limit.allow(&alice, t0 + HelloLimit::USER_WINDOW));
        // In all, at most ALL per second, whoever claims to send them.
        let t1 = t0 + Duration::from_secs(120);
        let allowed = (0..200)
            .filter(|_| limit.allow(&Id::new_v7(1_800_000_000), t1))
            .count();
        assert_eq!(allowed, HelloLimit::ALL as usize);
        assert!(limit.allow(&bob, t1 + HelloLimit::ALL_WINDOW));
    }
}
