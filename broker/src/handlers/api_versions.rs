//! ApiVersions, answered from the [`super::SUPPORTED`] table.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use super::SUPPORTED;
use crate::protocol::error_codes as ec;

fn api_keys() -> Vec<ApiVersion> {
    SUPPORTED
        .iter()
        .map(|spec| {
            ApiVersion::default()
                .with_api_key(spec.key as i16)
                .with_min_version(spec.min)
                .with_max_version(spec.max)
        })
        .collect()
}

/// No supported or finalized features are sent: librdkafka 2.0.2 (Debian's kcat) misreads
/// non-empty tagged fields in this response.
pub fn handle(_version: i16, _request: ApiVersionsRequest) -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(ec::NONE)
        .with_api_keys(api_keys())
}

/// For a request version newer than we know: the client retries with the highest version
/// listed in this v0 body.
pub fn unsupported_version_response() -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(ec::UNSUPPORTED_VERSION)
        .with_api_keys(api_keys())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_supported_api() {
        let response = handle(3, ApiVersionsRequest::default());
        assert_eq!(response.error_code, 0);
        assert_eq!(response.api_keys.len(), SUPPORTED.len());
        assert!(response.supported_features.is_empty());
        let produce = response.api_keys.iter().find(|a| a.api_key == 0).unwrap();
        assert_eq!((produce.min_version, produce.max_version), (3, 13));
        assert_eq!(
            unsupported_version_response().error_code,
            ec::UNSUPPORTED_VERSION
        );
    }
}
