//! The repository's operations. Each writing operation follows one pattern: begin a write
//! transaction, validate against what is in it, write the change, append the audit record,
//! enqueue the event, commit. An early return (`?`) drops the transaction, which rolls back.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::json;

use crate::entity::{
    case_manager_changes, cases, key_shares, protocol_sessions, secure_elements,
    session_participants, signing_requests, users,
};
use crate::outbox::{enqueue, subjects};
use crate::{new_id, CaseStatus, Db, Error, KeyShareStatus, Result, Role, SeStatus, UserStatus};

/// The longest case, user or SE name we accept.
const MAX_NAME: usize = 200;

/// A user to create. The password hash comes from the auth layer (Argon2id).
#[derive(Clone)]
pub struct NewUser {
    /// Login name, unique.
    pub username: String,
    /// Name shown in the UI and on the who-to-call list.
    pub display_name: String,
    /// Phone number for the who-to-call list.
    pub phone: Option<String>,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// The user's role.
    pub role: Role,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// A secure element to register.
#[derive(Clone, Debug)]
pub struct NewSecureElement {
    /// The token serial, unique.
    pub serial: String,
    /// A label for people.
    pub label: String,
    /// The SE identity key (P-256, SEC1).
    pub identity_public_key: Vec<u8>,
    /// The certificate the offline CA issued for it, once enrolled.
    pub certificate: Option<Vec<u8>>,
    /// The case manager who proved possession of its identity key at enrolment (an
    /// `channel::EnrolmentProof` over a challenge issued to them); the four-eyes path only lets
    /// a case give a manager an SE they enrolled.
    pub enrolled_by: Option<String>,
}

/// One of a new case's three slots: share index = position in the array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagerSlot {
    /// The case manager.
    pub user_id: String,
    /// The SE that will hold the manager's share.
    pub se_id: String,
}

/// A manager hand-over: the SE travels to the new manager and its PIN is reset.
#[derive(Clone, Debug)]
pub struct ManagerReplacement {
    /// The case.
    pub case_id: String,
    /// Which share changes hands (0, 1 or 2).
    pub share_index: i32,
    /// The new manager.
    pub new_user_id: String,
    /// The security officer who reset the SE's PIN at hand-over.
    pub pin_reset_by: String,
    /// Why, for the record.
    pub reason: String,
}

pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::Validation {
        field: field.into(),
        reason: reason.into(),
    }
}

pub(crate) fn check_name(field: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if value.chars().count() > MAX_NAME {
        return Err(invalid(
            field,
            format!("must be at most {MAX_NAME} characters"),
        ));
    }
    Ok(())
}

/// Appends an audit record inside `txn` (the caller's transaction: if this fails, the caller's
/// change must not be committed).
pub async fn record_audit(
    txn: &audit::Tx,
    now: DateTime<Utc>,
    actor: &str,
    action: &str,
    object: &str,
    details: serde_json::Value,
) -> Result<audit::Record> {
    Ok(audit::append(
        txn,
        audit::Entry {
            at: now,
            actor: actor.to_owned(),
            action: action.to_owned(),
            object: object.to_owned(),
            details,
        },
    )
    .await?)
}

pub(crate) async fn find_case<C: ConnectionTrait>(txn: &C, case_id: &str) -> Result<cases::Model> {
    cases::Entity::find_by_id(case_id.to_owned())
        .one(txn)
        .await?
        .ok_or_else(|| Error::NotFound {
            what: "case",
            id: case_id.to_owned(),
        })
}

/// A user who may hold a share: exists, is a case manager, is active.
async fn eligible_manager<C: ConnectionTrait>(
    txn: &C,
    field: &str,
    user_id: &str,
) -> Result<users::Model> {
    let user = users::Entity::find_by_id(user_id.to_owned())
        .one(txn)
        .await?
        .ok_or_else(|| invalid(field, format!("user {user_id} does not exist")))?;
    if user.role != Role::CaseManager {
        return Err(invalid(
            field,
            format!("user {} does not have the case-manager role", user.username),
        ));
    }
    if user.status != UserStatus::Active {
        return Err(invalid(
            field,
            format!("user {} is not active", user.username),
        ));
    }
    Ok(user)
}

/// The body of [`Db::complete_keygen`] inside the caller's transaction: checks that the case
/// still waits for a key and that neither the key nor the address is bound elsewhere, writes the
/// key to the case (ACTIVE) and to its three current key-share rows, and appends
/// `case.keygen_completed`. The caller has checked the inputs are not empty.
pub(crate) async fn bind_key(
    txn: &audit::Tx,
    case_id: &str,
    public_key: &str,
    address: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<cases::Model> {
    let case = find_case(txn, case_id).await?;
    if !matches!(case.status, CaseStatus::Draft | CaseStatus::Keygen) {
        return Err(Error::Conflict(format!(
            "case {} already has a key or is archived; a new key needs a re-key",
            case.name
        )));
    }
    let taken = cases::Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(cases::Column::PublicKey.eq(public_key))
                .add(cases::Column::Address.eq(address)),
        )
        .count(txn)
        .await?;
    if taken > 0 {
        return Err(invalid(
            "public_key",
            "this key or address is already bound to another case",
        ));
    }
    let updated = key_shares::Entity::update_many()
        .col_expr(
            key_shares::Column::PublicKey,
            sea_orm::sea_query::Expr::value(public_key),
        )
        .filter(key_shares::Column::CaseId.eq(case.id.as_str()))
        .filter(key_shares::Column::Status.eq(KeyShareStatus::Active))
        .exec(txn)
        .await?;
    if updated.rows_affected != 3 {
        return Err(Error::Conflict(format!(
            "case {} does not have three current key-share rows",
            case.name
        )));
    }
    let mut am: cases::ActiveModel = case.into();
    am.public_key = Set(Some(public_key.to_owned()));
    am.address = Set(Some(address.to_owned()));
    am.status = Set(CaseStatus::Active);
    am.updated_at = Set(now);
    let case = am.update(txn).await?;
    record_audit(
        txn,
        now,
        actor,
        "case.keygen_completed",
        &case.id,
        json!({"public_key": public_key, "address": address}),
    )
    .await?;
    Ok(case)
}

/// Insert a user with `status` (its name unique, its fields checked), inside the caller's
/// write transaction `txn`; the caller records why.
pub(crate) async fn insert_user_in(
    txn: &audit::Tx,
    new: NewUser,
    status: UserStatus,
    now: DateTime<Utc>,
) -> Result<users::Model> {
    check_name("username", &new.username)?;
    check_name("display_name", &new.display_name)?;
    if new.password_hash.is_empty() {
        return Err(invalid("password_hash", "must not be empty"));
    }
    let taken = users::Entity::find()
        .filter(users::Column::Username.eq(new.username.as_str()))
        .count(txn)
        .await?;
    if taken > 0 {
        return Err(invalid(
            "username",
            format!("{} is already taken", new.username),
        ));
    }
    Ok(users::ActiveModel {
        id: Set(new_id(now)),
        username: Set(new.username),
        display_name: Set(new.display_name),
        phone: Set(new.phone),
        password_hash: Set(new.password_hash),
        role: Set(new.role),
        status: Set(status),
        failed_logins: Set(0),
        locked_until: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(txn)
    .await?)
}

impl Db {
    /// Create a user.
    pub async fn create_user(
        &self,
        new: NewUser,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<users::Model> {
        let txn = self.begin_write().await?;
        let user = insert_user_in(&txn, new, UserStatus::Active, now).await?;
        record_audit(
            &txn,
            now,
            actor,
            "user.created",
            &user.id,
            json!({"username": user.username, "role": user.role}),
        )
        .await?;
        txn.commit().await?;
        Ok(user)
    }

    /// Enable or disable a user; disabling revokes every open session of the user in the same
    /// transaction.
    pub async fn set_user_status(
        &self,
        user_id: &str,
        status: UserStatus,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<users::Model> {
        let txn = self.begin_write().await?;
        let user = users::Entity::find_by_id(user_id.to_owned())
            .one(&txn)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "user",
                id: user_id.to_owned(),
            })?;
        let from = user.status;
        let mut am: users::ActiveModel = user.into();
        am.status = Set(status);
        am.updated_at = Set(now);
        let user = am.update(&txn).await?;
        let mut revoked = 0;
        if status == UserStatus::Disabled {
            revoked = auth::sql::sessions::end_all(&txn, &user.id, now).await?;
        }
        record_audit(
            &txn,
            now,
            actor,
            "user.status_changed",
            &user.id,
            json!({
                "username": user.username, "from": from, "to": status,
                "sessions_revoked": revoked,
            }),
        )
        .await?;
        txn.commit().await?;
        Ok(user)
    }

    /// Register a secure element (status ACTIVE).
    pub async fn create_secure_element(
        &self,
        new: NewSecureElement,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<secure_elements::Model> {
        let txn = self.begin_write().await?;
        let out = create_secure_element_in(&txn, new, actor, now).await?;
        txn.commit().await?;
        Ok(out)
    }

    /// Change a secure element's status (e.g. mark it LOST or REVOKED).
    pub async fn set_se_status(
        &self,
        se_id: &str,
        status: SeStatus,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<secure_elements::Model> {
        let txn = self.begin_write().await?;
        let out = set_se_status_in(&txn, se_id, status, actor, now).await?;
        txn.commit().await?;
        Ok(out)
    }

    /// Create a draft case with three managers and three SEs; slot `i` gets share index `i`.
    ///
    /// Rules: a non-empty name; three distinct users, each an ACTIVE case manager; three
    /// distinct ACTIVE SEs; no SE already bound to the same share index of another case that
    /// is not archived. Writes the case, three key-share rows (public key NULL until keygen),
    /// an audit record and a `custody.case.created` event.
    pub async fn create_case(
        &self,
        name: &str,
        managers: [ManagerSlot; 3],
        chain_ids: &[u64],
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<cases::Model> {
        let txn = self.begin_write().await?;
        let out = create_case_in(
            &txn,
            name,
            managers,
            chain_ids,
            self.roster_signer(),
            actor,
            now,
        )
        .await?;
        txn.commit().await?;
        Ok(out)
    }

    /// Hand a share over to a new manager: the old key-share row becomes INACTIVE and a new
    /// ACTIVE row binds the same SE and share index to the new manager; the change, the PIN
    /// reset, an audit record naming both managers and a `custody.case.manager_replaced` event
    /// are written together. Returns the new key-share row.
    pub async fn replace_manager(
        &self,
        change: ManagerReplacement,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<key_shares::Model> {
        let txn = self.begin_write().await?;
        let out = replace_manager_in(&txn, change, actor, now).await?;
        txn.commit().await?;
        Ok(out)
    }

    /// Archive a case: it is kept with its key shares and signs nothing new.
    pub async fn archive_case(
        &self,
        case_id: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<cases::Model> {
        let txn = self.begin_write().await?;
        let out = archive_case_in(&txn, case_id, actor, now).await?;
        txn.commit().await?;
        Ok(out)
    }

    /// Delete a case. Allowed only when no key was generated for it (no public key, no key
    /// share with a public key), or when the latest imported `BalanceAttestation` for the case's
    /// address (highest block) shows it empty and is recent (see
    /// [`crate::signing::ATTESTATION_MAX_AGE`]); never when signing requests exist (their
    /// history must stay — archive instead).
    /// Removes its key-share bindings, manager changes and keygen sessions with it.
    pub async fn delete_case(&self, case_id: &str, actor: &str, now: DateTime<Utc>) -> Result<()> {
        let txn = self.begin_write().await?;
        delete_case_in(&txn, case_id, actor, now).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Bind the key that keygen produced: the case gets its public key (hex, compressed SEC1)
    /// and address and becomes ACTIVE, and its three current key-share rows get the public key.
    /// Used by the shard registry once all three clients agree on the key (the coordinator
    /// uses [`Db::finish_keygen`], which does the same together with closing the session).
    pub async fn complete_keygen(
        &self,
        case_id: &str,
        public_key: &str,
        address: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<cases::Model> {
        check_name("public_key", public_key)?;
        check_name("address", address)?;
        let txn = self.begin_write().await?;
        let case = bind_key(&txn, case_id, public_key, address, actor, now).await?;
        txn.commit().await?;
        Ok(case)
    }

    /// The case's current key-share rows, by share index.
    pub async fn key_shares_by_case(&self, case_id: &str) -> Result<Vec<key_shares::Model>> {
        Ok(key_shares::Entity::find()
            .filter(key_shares::Column::CaseId.eq(case_id))
            .filter(key_shares::Column::Status.eq(KeyShareStatus::Active))
            .order_by_asc(key_shares::Column::ShareIndex)
            .all(self.conn())
            .await?)
    }

    /// Every key-share row of a case, current and former, oldest first.
    pub async fn key_share_history(&self, case_id: &str) -> Result<Vec<key_shares::Model>> {
        Ok(key_shares::Entity::find()
            .filter(key_shares::Column::CaseId.eq(case_id))
            .order_by_asc(key_shares::Column::CreatedAt)
            .order_by_asc(key_shares::Column::ShareIndex)
            .all(self.conn())
            .await?)
    }

    /// The current key-share rows for a public key (hex), by share index.
    pub async fn key_shares_by_public_key(
        &self,
        public_key: &str,
    ) -> Result<Vec<key_shares::Model>> {
        Ok(key_shares::Entity::find()
            .filter(key_shares::Column::PublicKey.eq(public_key))
            .filter(key_shares::Column::Status.eq(KeyShareStatus::Active))
            .order_by_asc(key_shares::Column::ShareIndex)
            .all(self.conn())
            .await?)
    }

    /// A case by id.
    pub async fn case(&self, case_id: &str) -> Result<Option<cases::Model>> {
        Ok(cases::Entity::find_by_id(case_id.to_owned())
            .one(self.conn())
            .await?)
    }

    /// A secure element by id.
    pub async fn secure_element(&self, se_id: &str) -> Result<Option<secure_elements::Model>> {
        Ok(secure_elements::Entity::find_by_id(se_id.to_owned())
            .one(self.conn())
            .await?)
    }

    /// A user by id.
    pub async fn user(&self, user_id: &str) -> Result<Option<users::Model>> {
        Ok(users::Entity::find_by_id(user_id.to_owned())
            .one(self.conn())
            .await?)
    }

    /// Outbox rows not yet published, oldest first (for the relay).
    pub async fn outbox_pending(&self, limit: u64) -> Result<Vec<crate::entity::outbox::Model>> {
        use crate::entity::outbox;
        Ok(outbox::Entity::find()
            .filter(outbox::Column::PublishedAt.is_null())
            .order_by_asc(outbox::Column::CreatedAt)
            .order_by_asc(outbox::Column::Id)
            .limit(limit)
            .all(self.conn())
            .await?)
    }

    /// Mark an outbox row published (after JetStream acknowledged it).
    pub async fn outbox_mark_published(&self, id: &str, now: DateTime<Utc>) -> Result<()> {
        use crate::entity::outbox;
        outbox::Entity::update_many()
            .col_expr(
                outbox::Column::PublishedAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .filter(outbox::Column::Id.eq(id))
            .exec(self.conn())
            .await?;
        Ok(())
    }
}

/// Register a secure element (status ACTIVE).
/// Runs inside the caller's write transaction `txn` (see [`Db::create_secure_element`]).
pub(crate) async fn create_secure_element_in(
    txn: &audit::Tx,
    new: NewSecureElement,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<secure_elements::Model> {
    check_name("serial", &new.serial)?;
    check_name("label", &new.label)?;
    if new.identity_public_key.is_empty() {
        return Err(invalid("identity_public_key", "must not be empty"));
    }
    let taken = secure_elements::Entity::find()
        .filter(secure_elements::Column::Serial.eq(new.serial.as_str()))
        .count(txn)
        .await?;
    if taken > 0 {
        return Err(invalid(
            "serial",
            format!(
                "a secure element with serial {} is already registered",
                new.serial
            ),
        ));
    }
    // One key, one SE: a second serial with a registered key would be a second certificate
    // for the same (or a copied) key. The unique index holds this under concurrency too.
    let key_taken = secure_elements::Entity::find()
        .filter(secure_elements::Column::IdentityPublicKey.eq(new.identity_public_key.clone()))
        .count(txn)
        .await?;
    if key_taken > 0 {
        return Err(invalid(
            "identity_public_key",
            "this identity key is already registered for another secure element; a key can \
             be registered only once",
        ));
    }
    let se = secure_elements::ActiveModel {
        id: Set(new_id(now)),
        serial: Set(new.serial),
        label: Set(new.label),
        identity_public_key: Set(new.identity_public_key),
        certificate: Set(new.certificate),
        status: Set(SeStatus::Active),
        holder_user_id: Set(new.enrolled_by.clone()),
        last_used_at: Set(None),
        created_at: Set(now),
        enrolled_at: Set(new.enrolled_by.as_ref().map(|_| now)),
        enrolled_by: Set(new.enrolled_by),
    }
    .insert(txn)
    .await?;
    record_audit(
        txn,
        now,
        actor,
        "se.registered",
        &se.id,
        json!({"serial": se.serial, "label": se.label, "enrolled_by": se.enrolled_by}),
    )
    .await?;
    Ok(se)
}

/// Change a secure element's status (e.g. mark it LOST or REVOKED).
/// Runs inside the caller's write transaction `txn` (see [`Db::set_se_status`]).
pub(crate) async fn set_se_status_in(
    txn: &audit::Tx,
    se_id: &str,
    status: SeStatus,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<secure_elements::Model> {
    let se = secure_elements::Entity::find_by_id(se_id.to_owned())
        .one(txn)
        .await?
        .ok_or_else(|| Error::NotFound {
            what: "secure element",
            id: se_id.to_owned(),
        })?;
    let from = se.status;
    if from == SeStatus::Revoked && status != SeStatus::Revoked {
        // A revoked certificate stays revoked: the SE is enrolled again as a new one.
        return Err(Error::Conflict(format!(
            "secure element {} is revoked; a revocation cannot be undone",
            se.serial
        )));
    }
    let mut am: secure_elements::ActiveModel = se.into();
    am.status = Set(status);
    let se = am.update(txn).await?;
    record_audit(
        txn,
        now,
        actor,
        "se.status_changed",
        &se.id,
        json!({"serial": se.serial, "from": from, "to": status}),
    )
    .await?;
    Ok(se)
}

/// Create a draft case with three managers and three SEs; slot `i` gets share index `i`.
///
/// Rules: a non-empty name; three distinct users, each an ACTIVE case manager; three
/// distinct ACTIVE SEs; no SE already bound to the same share index of another case that
/// is not archived. Writes the case, three key-share rows (public key NULL until keygen),
/// an audit record and a `custody.case.created` event.
/// Runs inside the caller's write transaction `txn` (see [`Db::create_case`]).
pub(crate) async fn create_case_in(
    txn: &audit::Tx,
    name: &str,
    managers: [ManagerSlot; 3],
    chain_ids: &[u64],
    roster_signer: Option<&hsm::EnvelopeSigner>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<cases::Model> {
    check_name("name", name)?;
    for (i, a) in managers.iter().enumerate() {
        for b in managers.iter().skip(i + 1) {
            if a.user_id == b.user_id {
                return Err(invalid(
                    "managers",
                    "the three case managers must be three different users",
                ));
            }
            if a.se_id == b.se_id {
                return Err(invalid(
                    "managers",
                    "the three shares must be in three different secure elements",
                ));
            }
        }
    }
    if users::Entity::find_by_id(actor.to_owned())
        .one(txn)
        .await?
        .is_none()
    {
        return Err(invalid("actor", format!("user {actor} does not exist")));
    }
    let backend = txn.get_database_backend();
    let mut slots = Vec::with_capacity(3);
    for (index, slot) in (0i32..).zip(managers.iter()) {
        let user =
            eligible_manager(txn, &format!("managers[{index}].user_id"), &slot.user_id).await?;
        let field = format!("managers[{index}].se_id");
        let mut find_se = secure_elements::Entity::find_by_id(slot.se_id.clone());
        if backend == DbBackend::Postgres {
            // Two admins creating cases with the same SE at once: the second waits here
            // and then sees the first one's key-share rows. (SQLite writers are already
            // serialised by BEGIN IMMEDIATE.)
            find_se = find_se.lock_exclusive();
        }
        let se = find_se.one(txn).await?.ok_or_else(|| {
            invalid(
                field.as_str(),
                format!("secure element {} does not exist", slot.se_id),
            )
        })?;
        if se.status != SeStatus::Active {
            return Err(invalid(
                field,
                format!("secure element {} is not active", se.serial),
            ));
        }
        let bound_cases: Vec<String> = key_shares::Entity::find()
            .filter(key_shares::Column::SeId.eq(se.id.as_str()))
            .filter(key_shares::Column::ShareIndex.eq(index))
            .filter(key_shares::Column::Status.eq(KeyShareStatus::Active))
            .all(txn)
            .await?
            .into_iter()
            .map(|k| k.case_id)
            .collect();
        let busy = if bound_cases.is_empty() {
            0
        } else {
            cases::Entity::find()
                .filter(cases::Column::Id.is_in(bound_cases))
                .filter(cases::Column::Status.ne(CaseStatus::Archived))
                .count(txn)
                .await?
        };
        if busy > 0 {
            return Err(invalid(
                field,
                format!(
                    "secure element {} already holds share {index} of another case that is not archived",
                    se.serial
                ),
            ));
        }
        slots.push((index, user, se));
    }

    let case_id = new_id(now);
    let roster = match roster_signer {
        Some(signer) => Some(sign_roster(&case_id, &slots, signer, now)?),
        None => None,
    };
    let case = cases::ActiveModel {
        id: Set(case_id),
        name: Set(name.trim().to_owned()),
        status: Set(CaseStatus::Draft),
        threshold_t: Set(2),
        parties_n: Set(3),
        public_key: Set(None),
        address: Set(None),
        chain_ids: Set(json!(chain_ids)),
        rekey_requested_at: Set(None),
        rekey_reason: Set(None),
        roster: Set(roster),
        created_by: Set(actor.to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(txn)
    .await?;
    let mut slot_details = Vec::new();
    for (index, user, se) in &slots {
        key_shares::ActiveModel {
            id: Set(new_id(now)),
            case_id: Set(case.id.clone()),
            public_key: Set(None),
            share_index: Set(*index),
            user_id: Set(user.id.clone()),
            se_id: Set(se.id.clone()),
            status: Set(KeyShareStatus::Active),
            created_at: Set(now),
            deactivated_at: Set(None),
        }
        .insert(txn)
        .await?;
        slot_details.push(json!({
            "share_index": index, "user_id": user.id, "username": user.username,
            "se_id": se.id, "se_serial": se.serial,
        }));
    }
    record_audit(
        txn,
        now,
        actor,
        "case.created",
        &case.id,
        json!({"name": case.name, "chain_ids": chain_ids, "slots": slot_details}),
    )
    .await?;
    let event_slots: Vec<_> = slots
        .iter()
        .map(|(i, u, s)| json!({"share_index": i, "user_id": u.id, "se_id": s.id}))
        .collect();
    enqueue(
        txn,
        now,
        subjects::CASE_CREATED,
        json!({
            "case_id": case.id, "name": case.name, "chain_ids": chain_ids,
            "slots": event_slots, "created_by": actor,
        }),
    )
    .await?;
    Ok(case)
}

/// The case's roster signed by the HSM envelope key: slot `i` is the SE (serial and registered
/// identity key) that holds share `i`.
fn sign_roster(
    case_id: &str,
    slots: &[(i32, users::Model, secure_elements::Model)],
    signer: &hsm::EnvelopeSigner,
    now: DateTime<Utc>,
) -> Result<Vec<u8>> {
    let failed = |e: contracts::Error| Error::Roster(e.to_string());
    let id = contracts::Id::parse(case_id).map_err(failed)?;
    let mut roster_slots = Vec::with_capacity(slots.len());
    for (index, _, se) in slots {
        let key = p256::PublicKey::from_sec1_bytes(&se.identity_public_key).map_err(|_| {
            Error::Roster(format!(
                "the registered key of secure element {} is not a P-256 public key",
                se.serial
            ))
        })?;
        let share_index = u8::try_from(*index)
            .map_err(|_| Error::Roster(format!("share index {index} is out of range")))?;
        roster_slots.push(contracts::RosterSlot::new(share_index, &se.serial, &key));
    }
    let issued_at = u64::try_from(now.timestamp()).unwrap_or(0);
    contracts::CaseRoster::sign(id, roster_slots, issued_at, signer)
        .and_then(|r| r.to_bytes())
        .map_err(failed)
}

/// Hand a share over to a new manager: the old key-share row becomes INACTIVE and a new
/// ACTIVE row binds the same SE and share index to the new manager; the change, the PIN
/// reset, an audit record naming both managers and a `custody.case.manager_replaced` event
/// are written together. Returns the new key-share row.
/// Runs inside the caller's write transaction `txn` (see [`Db::replace_manager`]).
pub(crate) async fn replace_manager_in(
    txn: &audit::Tx,
    change: ManagerReplacement,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<key_shares::Model> {
    if !(0..=2).contains(&change.share_index) {
        return Err(invalid("share_index", "must be 0, 1 or 2"));
    }
    check_name("reason", &change.reason)?;
    if change.pin_reset_by == change.new_user_id {
        return Err(invalid(
            "pin_reset_by",
            "the PIN must be reset by a security officer, not by the new manager",
        ));
    }
    let case = find_case(txn, &change.case_id).await?;
    match case.status {
        CaseStatus::Archived => {
            return Err(Error::Conflict(format!(
                "case {} is archived; its managers cannot be changed",
                case.name
            )))
        }
        CaseStatus::Keygen => {
            return Err(Error::Conflict(format!(
                "case {} is running keygen; change managers after it finished or failed",
                case.name
            )))
        }
        CaseStatus::Draft | CaseStatus::Active => {}
    }
    let active = key_shares::Entity::find()
        .filter(key_shares::Column::CaseId.eq(case.id.as_str()))
        .filter(key_shares::Column::Status.eq(KeyShareStatus::Active))
        .all(txn)
        .await?;
    let old = active
        .iter()
        .find(|k| k.share_index == change.share_index)
        .cloned()
        .ok_or_else(|| Error::NotFound {
            what: "key share",
            id: format!("{}/{}", case.id, change.share_index),
        })?;
    if let Some(held) = active.iter().find(|k| k.user_id == change.new_user_id) {
        return Err(invalid(
            "new_user_id",
            format!(
                "the user already holds share {} of this case",
                held.share_index
            ),
        ));
    }
    let new_user = eligible_manager(txn, "new_user_id", &change.new_user_id).await?;
    let officer = users::Entity::find_by_id(change.pin_reset_by.clone())
        .one(txn)
        .await?
        .filter(|u| u.status == UserStatus::Active)
        .ok_or_else(|| {
            invalid(
                "pin_reset_by",
                format!(
                    "user {} does not exist or is not active",
                    change.pin_reset_by
                ),
            )
        })?;
    let old_user = users::Entity::find_by_id(old.user_id.clone())
        .one(txn)
        .await?
        .ok_or_else(|| Error::NotFound {
            what: "user",
            id: old.user_id.clone(),
        })?;
    let se = secure_elements::Entity::find_by_id(old.se_id.clone())
        .one(txn)
        .await?
        .ok_or_else(|| Error::NotFound {
            what: "secure element",
            id: old.se_id.clone(),
        })?;

    // Deactivate first: the partial unique index allows one ACTIVE row per slot.
    let mut old_am: key_shares::ActiveModel = old.clone().into();
    old_am.status = Set(KeyShareStatus::Inactive);
    old_am.deactivated_at = Set(Some(now));
    old_am.update(txn).await?;
    let new_row = key_shares::ActiveModel {
        id: Set(new_id(now)),
        case_id: Set(case.id.clone()),
        public_key: Set(old.public_key.clone()),
        share_index: Set(old.share_index),
        user_id: Set(new_user.id.clone()),
        se_id: Set(old.se_id.clone()),
        status: Set(KeyShareStatus::Active),
        created_at: Set(now),
        deactivated_at: Set(None),
    }
    .insert(txn)
    .await?;
    let change_row = case_manager_changes::ActiveModel {
        id: Set(new_id(now)),
        case_id: Set(case.id.clone()),
        share_index: Set(old.share_index),
        from_user_id: Set(old_user.id.clone()),
        to_user_id: Set(new_user.id.clone()),
        se_id: Set(se.id.clone()),
        pin_reset_by: Set(officer.id.clone()),
        reason: Set(change.reason.clone()),
        at: Set(now),
    }
    .insert(txn)
    .await?;
    let mut se_am: secure_elements::ActiveModel = se.clone().into();
    se_am.holder_user_id = Set(Some(new_user.id.clone()));
    se_am.update(txn).await?;
    let mut case_am: cases::ActiveModel = case.clone().into();
    case_am.updated_at = Set(now);
    case_am.update(txn).await?;

    record_audit(
        txn,
        now,
        actor,
        "case.manager_replaced",
        &case.id,
        json!({
            "change_id": change_row.id,
            "share_index": old.share_index,
            "se_id": se.id, "se_serial": se.serial,
            "from_user_id": old_user.id, "from_username": old_user.username,
            "to_user_id": new_user.id, "to_username": new_user.username,
            "pin_reset_by": officer.id, "reason": change.reason,
        }),
    )
    .await?;
    enqueue(
        txn,
        now,
        subjects::CASE_MANAGER_REPLACED,
        json!({
            "case_id": case.id, "share_index": old.share_index, "se_id": se.id,
            "from_user_id": old_user.id, "to_user_id": new_user.id,
            "pin_reset_by": officer.id, "by": actor, "reason": change.reason,
        }),
    )
    .await?;
    Ok(new_row)
}

/// Archive a case: it is kept with its key shares and signs nothing new.
/// Runs inside the caller's write transaction `txn` (see [`Db::archive_case`]).
pub(crate) async fn archive_case_in(
    txn: &audit::Tx,
    case_id: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<cases::Model> {
    let case = find_case(txn, case_id).await?;
    if case.status == CaseStatus::Archived {
        return Err(Error::Conflict(format!(
            "case {} is already archived",
            case.name
        )));
    }
    let from = case.status;
    let mut am: cases::ActiveModel = case.into();
    am.status = Set(CaseStatus::Archived);
    am.updated_at = Set(now);
    let case = am.update(txn).await?;
    record_audit(
        txn,
        now,
        actor,
        "case.archived",
        &case.id,
        json!({"name": case.name, "from": from}),
    )
    .await?;
    enqueue(
        txn,
        now,
        subjects::CASE_ARCHIVED,
        json!({"case_id": case.id, "by": actor}),
    )
    .await?;
    Ok(case)
}

/// Delete a case. Allowed only when no key was generated for it (no public key, no key
/// share with a public key), or when the latest imported `BalanceAttestation` for the case's
/// address (highest block) shows it empty and is recent (see
/// [`crate::signing::ATTESTATION_MAX_AGE`]); never when signing requests exist (their
/// history must stay — archive instead).
/// Removes its key-share bindings, manager changes and keygen sessions with it.
/// Runs inside the caller's write transaction `txn` (see [`Db::delete_case`]).
pub(crate) async fn delete_case_in(
    txn: &audit::Tx,
    case_id: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let case = find_case(txn, case_id).await?;
    let generated = key_shares::Entity::find()
        .filter(key_shares::Column::CaseId.eq(case.id.as_str()))
        .filter(key_shares::Column::PublicKey.is_not_null())
        .count(txn)
        .await?;
    let attestation = if generated > 0 || case.public_key.is_some() {
        Some(crate::signing::deletion_evidence(txn, &case, now).await?)
    } else {
        None
    };
    let requests = signing_requests::Entity::find()
        .filter(signing_requests::Column::CaseId.eq(case.id.as_str()))
        .count(txn)
        .await?;
    if requests > 0 {
        return Err(Error::Conflict(format!(
            "case {} has signing history; archive it instead of deleting it",
            case.name
        )));
    }
    let sessions: Vec<String> = protocol_sessions::Entity::find()
        .filter(protocol_sessions::Column::CaseId.eq(case.id.as_str()))
        .all(txn)
        .await?
        .into_iter()
        .map(|s| s.id)
        .collect();
    if !sessions.is_empty() {
        session_participants::Entity::delete_many()
            .filter(session_participants::Column::SessionId.is_in(sessions.clone()))
            .exec(txn)
            .await?;
        protocol_sessions::Entity::delete_many()
            .filter(protocol_sessions::Column::Id.is_in(sessions))
            .exec(txn)
            .await?;
    }
    case_manager_changes::Entity::delete_many()
        .filter(case_manager_changes::Column::CaseId.eq(case.id.as_str()))
        .exec(txn)
        .await?;
    let shares = key_shares::Entity::delete_many()
        .filter(key_shares::Column::CaseId.eq(case.id.as_str()))
        .exec(txn)
        .await?;
    cases::Entity::delete_by_id(case.id.clone())
        .exec(txn)
        .await?;
    record_audit(
        txn,
        now,
        actor,
        "case.deleted",
        &case.id,
        json!({
            "name": case.name, "status": case.status, "public_key": case.public_key,
            "address": case.address, "key_share_rows": shares.rows_affected,
            "attestation": attestation.map(|a| json!({
                "id": a.envelope_id, "address": a.address, "block_number": a.block_number,
                "block_hash": a.block_hash,
            })),
        }),
    )
    .await?;
    enqueue(
        txn,
        now,
        subjects::CASE_DELETED,
        json!({"case_id": case.id, "by": actor}),
    )
    .await?;
    Ok(())
}
