//! ApiVersions, answered from the [`super::SUPPORTED`] table, with the features of v3+ (what
//! `kafka-features describe` and Admin `describeFeatures` read).

use kafka_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use super::{str_bytes, Ctx, SUPPORTED};
use crate::protocol::error_codes as ec;

/// A Kafka feature: the levels this broker supports and the one the cluster runs at. Nothing
/// here can change them, so UpdateFeatures is not offered.
struct Feature {
    name: &'static str,
    min: i16,
    max: i16,
    finalized: i16,
}

/// Every feature Kafka 4.x defines, at what this broker implements. Clients act on some of them:
/// kafka-clients' producer uses KIP-890 transactions from `transaction.version` 2 on.
const FEATURES: &[Feature] = &[
    // 27 is 4.1-IV1, the last level of Kafka 4.1, whose protocol (the messages of kafka-protocol
    // 0.18) this broker speaks. Its metadata is not KRaft's record log, so no other level means
    // anything here.
    Feature {
        name: "metadata.version",
        min: 27,
        max: 27,
        finalized: 27,
    },
    // 1: KIP-848 consumer groups (ConsumerGroupHeartbeat and ConsumerGroupDescribe).
    Feature {
        name: "group.version",
        min: 0,
        max: 1,
        finalized: 1,
    },
    // 0: the metadata voters are fixed at startup (no KIP-853 voter changes).
    Feature {
        name: "kraft.version",
        min: 0,
        max: 0,
        finalized: 0,
    },
    // 0: no transactions.
    Feature {
        name: "transaction.version",
        min: 0,
        max: 0,
        finalized: 0,
    },
    // 0: Raft leaders need no eligible leader replicas (KIP-966).
    Feature {
        name: "eligible.leader.replicas.version",
        min: 0,
        max: 0,
        finalized: 0,
    },
    // 0: no share groups (KIP-932) or streams groups (KIP-1071).
    Feature {
        name: "share.version",
        min: 0,
        max: 0,
        finalized: 0,
    },
    Feature {
        name: "streams.version",
        min: 0,
        max: 0,
        finalized: 0,
    },
];

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

pub fn handle(ctx: &Ctx, version: i16, _request: ApiVersionsRequest) -> ApiVersionsResponse {
    let response = ApiVersionsResponse::default()
        .with_error_code(ec::NONE)
        .with_api_keys(api_keys());
    // The epoch of Kafka's finalized features is the metadata offset they were read at; here,
    // the metadata log index this node has applied.
    let applied = ctx.metadata.raft().metrics().borrow().last_applied;
    with_features(response, version, applied.map(|log_id| log_id.index))
}

/// As Kafka: v3 leaves out supported features whose minimum is 0 (clients before KIP-1022 read
/// 0 as invalid), and only features above level 0 are finalized.
fn with_features(
    response: ApiVersionsResponse,
    version: i16,
    metadata_applied: Option<u64>,
) -> ApiVersionsResponse {
    if version < 3 {
        return response;
    }
    let supported = FEATURES
        .iter()
        .filter(|f| version >= 4 || f.min > 0)
        .map(|f| {
            SupportedFeatureKey::default()
                .with_name(str_bytes(f.name))
                .with_min_version(f.min)
                .with_max_version(f.max)
        })
        .collect();
    let response = response.with_supported_features(supported);
    // Without metadata applied yet, the finalized features are unknown (epoch -1).
    let Some(epoch) = metadata_applied else {
        return response;
    };
    let finalized = FEATURES
        .iter()
        .filter(|f| f.finalized > 0)
        .map(|f| {
            FinalizedFeatureKey::default()
                .with_name(str_bytes(f.name))
                .with_min_version_level(f.finalized)
                .with_max_version_level(f.finalized)
        })
        .collect();
    response
        .with_finalized_features_epoch(epoch as i64)
        .with_finalized_features(finalized)
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

    fn names(features: &[SupportedFeatureKey]) -> Vec<&str> {
        features.iter().map(|f| f.name.as_str()).collect()
    }

    #[test]
    fn lists_every_supported_api_and_features_by_version() {
        let base = || {
            ApiVersionsResponse::default()
                .with_error_code(ec::NONE)
                .with_api_keys(api_keys())
        };
        let v2 = with_features(base(), 2, Some(7));
        assert_eq!(v2.api_keys.len(), SUPPORTED.len());
        assert!(v2.supported_features.is_empty());
        assert_eq!(v2.finalized_features_epoch, -1);
        let produce = v2.api_keys.iter().find(|a| a.api_key == 0).unwrap();
        assert_eq!((produce.min_version, produce.max_version), (3, 13));

        let v3 = with_features(base(), 3, Some(7));
        assert_eq!(names(&v3.supported_features), ["metadata.version"]);
        assert_eq!(v3.finalized_features_epoch, 7);
        let finalized: Vec<(&str, i16)> = v3
            .finalized_features
            .iter()
            .map(|f| (f.name.as_str(), f.max_version_level))
            .collect();
        assert_eq!(finalized, [("metadata.version", 27), ("group.version", 1)]);

        let v4 = with_features(base(), 4, None);
        assert_eq!(v4.supported_features.len(), FEATURES.len());
        let transactions = v4
            .supported_features
            .iter()
            .find(|f| f.name.as_str() == "transaction.version")
            .unwrap();
        assert_eq!((transactions.min_version, transactions.max_version), (0, 0));
        assert_eq!(v4.finalized_features_epoch, -1);
        assert!(v4.finalized_features.is_empty());

        assert_eq!(
            unsupported_version_response().error_code,
            ec::UNSUPPORTED_VERSION
        );
    }
}
