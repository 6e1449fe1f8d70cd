//! `/admin/limit-config/{get,update}`: upstream's rule-based limit config, with its defaults,
//! key metadata and bounds (upstream's `LimitConfigGetResponse`).

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use fluxer_core::model::{DEFAULT_LIMIT_RULE, LIMIT_CATEGORIES, LIMIT_KEYS, LimitConfig, acl};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::AdminAuth;
use super::body::RawBody;
use crate::error::ApiResult;
use crate::state::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/limit-config/get", post(get_config))
        .route("/admin/limit-config/update", post(update_config))
}

/// `POST /admin/limit-config/update`.
#[derive(Deserialize)]
struct LimitConfigUpdate {
    limit_config: LimitConfig,
}

fn response(s: &ApiState, config: &LimitConfig) -> Json<Value> {
    let defaults = s.fluxer.default_limits();
    // Upstream's `modifiedFields`: the keys a rule sets to something else than the default.
    let rules: Vec<Value> = config
        .rules
        .iter()
        .map(|rule| {
            let mut value = serde_json::to_value(rule).unwrap_or(Value::Null);
            let modified: Vec<&String> = rule
                .limits
                .iter()
                .filter(|(k, v)| defaults.get(*k) != Some(*v))
                .map(|(k, _)| k)
                .collect();
            if !modified.is_empty() {
                value["modifiedFields"] = json!(modified);
            }
            value
        })
        .collect();
    let limit_config = json!({
        "traitDefinitions": config.trait_definitions,
        "rules": rules,
    });
    let mut metadata = Map::new();
    let mut bounds = Map::new();
    for k in LIMIT_KEYS {
        let description = if k.enforced {
            format!("{}; applied by this server.", k.label)
        } else {
            format!("{}; kept for clients, not applied by this server.", k.label)
        };
        let mut entry = json!({
            "key": k.key,
            "label": k.label,
            "description": description,
            "category": k.category,
            "scope": k.scope,
            "isToggle": k.toggle,
            "min": k.min,
            "max": k.max,
        });
        if let Some(unit) = k.unit {
            entry["unit"] = json!(unit);
        }
        metadata.insert(k.key.to_owned(), entry);
        bounds.insert(k.key.to_owned(), json!({ "min": k.min, "max": k.max }));
    }
    let categories: Map<String, Value> = LIMIT_CATEGORIES
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    Json(json!({
        "limit_config_json": serde_json::to_string_pretty(&limit_config).unwrap_or_default(),
        "limit_config": limit_config,
        "self_hosted": true,
        "defaults": { DEFAULT_LIMIT_RULE: defaults },
        "metadata": metadata,
        "categories": categories,
        "limit_keys": LIMIT_KEYS.iter().map(|k| k.key).collect::<Vec<_>>(),
        "bounds": bounds,
    }))
}

async fn get_config(State(s): State<ApiState>, auth: AdminAuth) -> ApiResult<Json<Value>> {
    let config = s.fluxer.get_limit_config(&auth.0).await?;
    Ok(response(&s, &config))
}

async fn update_config(
    State(s): State<ApiState>,
    auth: AdminAuth,
    body: RawBody,
) -> ApiResult<Json<Value>> {
    let update: LimitConfigUpdate = body.parse_for(&auth, acl::INSTANCE_LIMIT_CONFIG_UPDATE)?;
    let config = s
        .fluxer
        .update_limit_config(&auth.0, update.limit_config)
        .await?;
    Ok(response(&s, &config))
}
