//! AlterUserScramCredentials and DescribeUserScramCredentials (KIP-554), what `kafka-configs
//! --entity-type users --add-config 'SCRAM-SHA-512=[password=...]'` sends: credentials live
//! in the replicated metadata, salted and hashed. Validation and error codes as Kafka's
//! controller.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};

use super::access::Access;
use super::{str_bytes, Ctx};
use crate::metadata::commands::{MetadataCommand, ScramUpsertion};
use crate::protocol::error_codes as ec;
use crate::security::acl::Operation;
use crate::security::scram::{self, ScramCredential};

type Failure = (i16, String);

pub async fn alter(
    ctx: &Arc<Ctx>,
    access: Access,
    request: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    // Kafka: ALTER on the cluster, else every user named fails.
    if let Err(code) = access.cluster_code(Operation::Alter) {
        let users: BTreeSet<&str> = request
            .deletions
            .iter()
            .map(|d| d.name.as_str())
            .chain(request.upsertions.iter().map(|u| u.name.as_str()))
            .collect();
        let results = users
            .into_iter()
            .map(|user| {
                AlterUserScramCredentialsResult::default()
                    .with_user(str_bytes(user))
                    .with_error_code(code)
            })
            .collect();
        return AlterUserScramCredentialsResponse::default().with_results(results);
    }
    let image = ctx.metadata.current();
    let mut failures: BTreeMap<String, Failure> = BTreeMap::new();
    // Kafka: one (user, mechanism) at most once per request, whether deleted or upserted.
    let mut seen: BTreeMap<(String, i8), usize> = BTreeMap::new();
    let pairs = request
        .deletions
        .iter()
        .map(|d| (d.name.to_string(), d.mechanism))
        .chain(
            request
                .upsertions
                .iter()
                .map(|u| (u.name.to_string(), u.mechanism)),
        );
    for pair in pairs {
        *seen.entry(pair).or_default() += 1;
    }
    for ((name, _), count) in &seen {
        if *count > 1 {
            let message = "A user credential cannot be altered twice in the same request";
            failures.insert(name.clone(), (ec::DUPLICATE_RESOURCE, message.into()));
        }
    }
    let mut deletions = Vec::new();
    for deletion in &request.deletions {
        let name = deletion.name.to_string();
        match check_deletion(&image, &name, deletion.mechanism) {
            Ok(mechanism) => deletions.push((name, mechanism)),
            Err(failure) => {
                failures.entry(name).or_insert(failure);
            }
        }
    }
    let mut upsertions = Vec::new();
    for upsertion in &request.upsertions {
        let name = upsertion.name.to_string();
        let checked = check_upsertion(
            &name,
            upsertion.mechanism,
            upsertion.iterations,
            &upsertion.salt,
            &upsertion.salted_password,
        );
        match checked {
            Ok(upsertion) => upsertions.push(upsertion),
            Err(failure) => {
                failures.entry(name).or_insert(failure);
            }
        }
    }
    // A user's alterations are applied all or none.
    deletions.retain(|(user, _)| !failures.contains_key(user));
    upsertions.retain(|u| !failures.contains_key(&u.user));
    let changed: BTreeSet<String> = deletions
        .iter()
        .map(|(user, _)| user.clone())
        .chain(upsertions.iter().map(|u| u.user.clone()))
        .collect();
    if !changed.is_empty() {
        let command = MetadataCommand::AlterScramCredentials {
            upsertions,
            deletions,
        };
        if let Err(failure) = ctx.metadata.propose_for_client(command).await {
            for user in &changed {
                failures.insert(user.clone(), failure.clone());
            }
        }
    }
    let users: BTreeSet<&String> = seen.keys().map(|(user, _)| user).collect();
    let results = users
        .into_iter()
        .map(|user| {
            let (code, message) = match failures.get(user) {
                Some((code, message)) => (*code, Some(str_bytes(message))),
                None => (ec::NONE, None),
            };
            AlterUserScramCredentialsResult::default()
                .with_user(str_bytes(user))
                .with_error_code(code)
                .with_error_message(message)
        })
        .collect();
    AlterUserScramCredentialsResponse::default().with_results(results)
}

/// The checks deletions and upsertions share: a user name, a known SCRAM mechanism.
fn user_mechanism(name: &str, mechanism: i8) -> Result<crate::config::SaslMechanism, Failure> {
    if name.is_empty() {
        return Err((
            ec::UNACCEPTABLE_CREDENTIAL,
            "Username must not be empty".into(),
        ));
    }
    scram::mechanism_of_wire(mechanism).ok_or((
        ec::UNSUPPORTED_SASL_MECHANISM,
        "Unknown SCRAM mechanism".to_string(),
    ))
}

fn check_deletion(
    image: &crate::metadata::MetadataState,
    name: &str,
    mechanism: i8,
) -> Result<String, Failure> {
    let mechanism = user_mechanism(name, mechanism)?;
    let exists = image
        .scram_credentials
        .get(name)
        .is_some_and(|c| c.contains_key(mechanism.name()));
    if !exists {
        return Err((
            ec::RESOURCE_NOT_FOUND,
            "Attempt to delete a user credential that does not exist".into(),
        ));
    }
    Ok(mechanism.name().to_string())
}

fn check_upsertion(
    name: &str,
    mechanism: i8,
    iterations: i32,
    salt: &[u8],
    salted_password: &[u8],
) -> Result<ScramUpsertion, Failure> {
    let mechanism = user_mechanism(name, mechanism)?;
    if iterations < scram::ITERATIONS_MIN {
        return Err((
            ec::UNACCEPTABLE_CREDENTIAL,
            format!(
                "Too few iterations: {iterations} < {}",
                scram::ITERATIONS_MIN
            ),
        ));
    }
    if iterations > scram::ITERATIONS_MAX {
        return Err((
            ec::UNACCEPTABLE_CREDENTIAL,
            format!(
                "Too many iterations: {iterations} > {}",
                scram::ITERATIONS_MAX
            ),
        ));
    }
    if salt.is_empty() || salted_password.is_empty() {
        return Err((
            ec::UNACCEPTABLE_CREDENTIAL,
            "Salt and salted password must not be empty".into(),
        ));
    }
    Ok(ScramUpsertion {
        user: name.to_string(),
        mechanism: mechanism.name().to_string(),
        credential: ScramCredential::from_salted_password(
            mechanism,
            salt,
            salted_password,
            iterations,
        ),
    })
}

pub fn describe(
    ctx: &Ctx,
    access: Access,
    request: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    // Kafka: DESCRIBE on the cluster.
    if let Err(code) = access.cluster_code(Operation::Describe) {
        return DescribeUserScramCredentialsResponse::default().with_error_code(code);
    }
    let image = ctx.metadata.current();
    let users: Vec<String> = match &request.users {
        // Null (or, from older clients, empty): every user with a credential.
        None => image.scram_credentials.keys().cloned().collect(),
        Some(users) if users.is_empty() => image.scram_credentials.keys().cloned().collect(),
        Some(users) => users.iter().map(|u| u.name.to_string()).collect(),
    };
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for user in &users {
        *counts.entry(user.as_str()).or_default() += 1;
    }
    let mut results = Vec::new();
    let mut answered = BTreeSet::new();
    for user in &users {
        if !answered.insert(user.as_str()) {
            continue;
        }
        let result = DescribeUserScramCredentialsResult::default().with_user(str_bytes(user));
        let result = if counts[user.as_str()] > 1 {
            result
                .with_error_code(ec::DUPLICATE_RESOURCE)
                .with_error_message(Some(str_bytes(&format!(
                    "Cannot describe SCRAM credentials for the same user twice in a single request: {user}"
                ))))
        } else {
            match image.scram_credentials.get(user) {
                Some(credentials) => result.with_credential_infos(
                    credentials
                        .iter()
                        .filter_map(|(mechanism, credential)| {
                            let mechanism = crate::config::SaslMechanism::from_name(mechanism)?;
                            Some(
                                CredentialInfo::default()
                                    .with_mechanism(scram::wire_of_mechanism(mechanism))
                                    .with_iterations(credential.iterations),
                            )
                        })
                        .collect(),
                ),
                None => result
                    .with_error_code(ec::RESOURCE_NOT_FOUND)
                    .with_error_message(Some(str_bytes(&format!(
                        "Attempt to describe a user credential that does not exist: {user}"
                    )))),
            }
        };
        results.push(result);
    }
    DescribeUserScramCredentialsResponse::default().with_results(results)
}
