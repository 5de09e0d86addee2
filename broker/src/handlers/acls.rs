//! CreateAcls, DescribeAcls and DeleteAcls (what `kafka-acls` sends): bindings live in the
//! replicated metadata. Without `authorizer.class.name` they answer SECURITY_DISABLED, as
//! Kafka does. Creating and deleting need ALTER on the cluster, describing DESCRIBE.

use std::sync::Arc;

use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{
    ApiKey, CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse,
};

use super::{str_bytes, Ctx};
use crate::metadata::commands::{MetadataCommand, MetadataResult};
use crate::protocol::error_codes as ec;
use crate::security::acl::{AclBinding, AclFilter, AclWire, FilterWire, Operation};
use crate::security::Session;

const DISABLED: &str = "No Authorizer is configured.";

/// The request's refusal as a code and message, if any: no authorizer, or no permission.
fn refusal(
    ctx: &Ctx,
    session: &Arc<Session>,
    api: ApiKey,
    operation: Operation,
) -> Option<(i16, String)> {
    if ctx.config.authorizer.is_none() {
        return Some((ec::SECURITY_DISABLED, DISABLED.into()));
    }
    match ctx.access(session, api).cluster_code(operation) {
        Ok(()) => None,
        Err(code) => Some((code, "Cluster authorization failed.".into())),
    }
}

pub async fn create(
    ctx: &Arc<Ctx>,
    session: &Arc<Session>,
    request: CreateAclsRequest,
) -> CreateAclsResponse {
    let result = |code: i16, message: Option<&str>| {
        AclCreationResult::default()
            .with_error_code(code)
            .with_error_message(message.map(str_bytes))
    };
    if let Some((code, message)) = refusal(ctx, session, ApiKey::CreateAcls, Operation::Alter) {
        let results = request
            .creations
            .iter()
            .map(|_| result(code, Some(message.as_str())))
            .collect();
        return CreateAclsResponse::default().with_results(results);
    }
    let checked: Vec<Result<AclBinding, String>> = request
        .creations
        .iter()
        .map(|c| {
            AclBinding::from_wire(&AclWire {
                resource_type: c.resource_type,
                resource_name: &c.resource_name,
                pattern_type: c.resource_pattern_type,
                principal: &c.principal,
                host: &c.host,
                operation: c.operation,
                permission: c.permission_type,
            })
        })
        .collect();
    let valid: Vec<AclBinding> = checked
        .iter()
        .filter_map(|c| c.as_ref().ok())
        .cloned()
        .collect();
    let applied = match valid.is_empty() {
        true => Ok(MetadataResult::Done),
        false => {
            let command = MetadataCommand::CreateAcls { acls: valid };
            ctx.metadata.propose_for_client(command).await
        }
    };
    let results = checked
        .iter()
        .map(|checked| match (checked, &applied) {
            (Err(message), _) => result(ec::INVALID_REQUEST, Some(message.as_str())),
            (Ok(_), Err((code, message))) => result(*code, Some(message.as_str())),
            (Ok(_), Ok(_)) => result(ec::NONE, None),
        })
        .collect();
    CreateAclsResponse::default().with_results(results)
}

pub fn describe(
    ctx: &Ctx,
    session: &Arc<Session>,
    request: DescribeAclsRequest,
) -> DescribeAclsResponse {
    let error = |code: i16, message: &str| {
        DescribeAclsResponse::default()
            .with_error_code(code)
            .with_error_message(Some(str_bytes(message)))
    };
    if let Some((code, message)) = refusal(ctx, session, ApiKey::DescribeAcls, Operation::Describe)
    {
        return error(code, &message);
    }
    let filter = AclFilter::from_wire(&FilterWire {
        resource_type: request.resource_type_filter,
        resource_name: request.resource_name_filter.as_deref(),
        pattern_type: request.pattern_type_filter,
        principal: request.principal_filter.as_deref(),
        host: request.host_filter.as_deref(),
        operation: request.operation,
        permission: request.permission_type,
    });
    let filter = match filter {
        Ok(filter) => filter,
        Err(message) => return error(ec::INVALID_REQUEST, &message),
    };
    let image = ctx.metadata.current();
    // The bindings are ordered by resource, so each resource's are adjacent.
    let mut resources: Vec<DescribeAclsResource> = Vec::new();
    for acl in image.acls.iter().filter(|acl| filter.matches(acl)) {
        let description = AclDescription::default()
            .with_principal(str_bytes(&acl.principal))
            .with_host(str_bytes(&acl.host))
            .with_operation(acl.operation.code())
            .with_permission_type(acl.permission.code());
        let same = resources.last().is_some_and(|r| {
            r.resource_type == acl.resource_type.code()
                && r.pattern_type == acl.pattern_type.code()
                && r.resource_name.as_str() == acl.resource_name
        });
        if !same {
            resources.push(
                DescribeAclsResource::default()
                    .with_resource_type(acl.resource_type.code())
                    .with_resource_name(str_bytes(&acl.resource_name))
                    .with_pattern_type(acl.pattern_type.code()),
            );
        }
        if let Some(resource) = resources.last_mut() {
            resource.acls.push(description);
        }
    }
    DescribeAclsResponse::default().with_resources(resources)
}

pub async fn delete(
    ctx: &Arc<Ctx>,
    session: &Arc<Session>,
    request: DeleteAclsRequest,
) -> DeleteAclsResponse {
    let failure = |code: i16, message: &str| {
        DeleteAclsFilterResult::default()
            .with_error_code(code)
            .with_error_message(Some(str_bytes(message)))
    };
    if let Some((code, message)) = refusal(ctx, session, ApiKey::DeleteAcls, Operation::Alter) {
        let results = request
            .filters
            .iter()
            .map(|_| failure(code, &message))
            .collect();
        return DeleteAclsResponse::default().with_filter_results(results);
    }
    let checked: Vec<Result<AclFilter, String>> = request
        .filters
        .iter()
        .map(|f| {
            AclFilter::from_wire(&FilterWire {
                resource_type: f.resource_type_filter,
                resource_name: f.resource_name_filter.as_deref(),
                pattern_type: f.pattern_type_filter,
                principal: f.principal_filter.as_deref(),
                host: f.host_filter.as_deref(),
                operation: f.operation,
                permission: f.permission_type,
            })
        })
        .collect();
    let valid: Vec<AclFilter> = checked
        .iter()
        .filter_map(|f| f.as_ref().ok())
        .cloned()
        .collect();
    let applied = match valid.is_empty() {
        true => Ok(Vec::new()),
        false => match ctx
            .metadata
            .propose_for_client(MetadataCommand::DeleteAcls { filters: valid })
            .await
        {
            Ok(MetadataResult::DeletedAcls(deleted)) => Ok(deleted),
            Ok(other) => Err((
                ec::UNKNOWN_SERVER_ERROR,
                format!("DeleteAcls answered {other:?}"),
            )),
            Err(failure) => Err(failure),
        },
    };
    // The command's answers come in the order of the valid filters.
    let mut deleted = match &applied {
        Ok(deleted) => deleted.clone().into_iter(),
        Err(_) => Vec::new().into_iter(),
    };
    let results = checked
        .iter()
        .map(|checked| match (checked, &applied) {
            (Err(message), _) => failure(ec::INVALID_REQUEST, message),
            (Ok(_), Err((code, message))) => failure(*code, message),
            (Ok(_), Ok(_)) => DeleteAclsFilterResult::default().with_matching_acls(
                deleted
                    .next()
                    .unwrap_or_default()
                    .iter()
                    .map(matching)
                    .collect(),
            ),
        })
        .collect();
    DeleteAclsResponse::default().with_filter_results(results)
}

fn matching(acl: &AclBinding) -> DeleteAclsMatchingAcl {
    DeleteAclsMatchingAcl::default()
        .with_resource_type(acl.resource_type.code())
        .with_resource_name(str_bytes(&acl.resource_name))
        .with_pattern_type(acl.pattern_type.code())
        .with_principal(str_bytes(&acl.principal))
        .with_host(str_bytes(&acl.host))
        .with_operation(acl.operation.code())
        .with_permission_type(acl.permission.code())
}
