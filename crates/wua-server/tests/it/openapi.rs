//! docs/openapi.json against the code: every example round-trips through the `wua_types::api`
//! type its schema names; every component schema has exactly its type's fields, required
//! fields and enum values; every request example is sent to a live server and answered with a
//! status the document lists, in the type it documents; every route answers the errors it
//! lists in the `ApiError` shape; and the document covers exactly the router's routes.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wua_types::api::{
    AgentConfig, ApiError, Approval, ApprovalAction, ApprovalChanges, ApprovalRule, AuditEntry, Computer,
    ComputerDetail, ComputerUpdate, CreateApprovalRule, CreateEnrolmentKey, CreateGroup, EnrolmentKey, Group,
    GroupSummary, MoveComputer, Page, RegisterRequest, RegisterResponse, ReportAck, ReportBatch, ReportBody,
    ReportEvent, ReportRecord, UpdateState, UpdateStatus,
};
use wua_types::{HResult, OperationResultCode, UpdateOperation};

use crate::support::{TestServer, update};

/// The router's routes, (method, path) with OpenAPI's `{param}`. This list must follow
/// crates/wua-server/src/app.rs: `the_document_covers_exactly_the_routes` checks it against
/// app.rs's `.route(...)` calls and against the document, so a route added to the router
/// without being listed here and documented fails. (Axum also answers HEAD on GET routes;
/// only the repository's HEAD is listed, as the document describes it.)
const ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/v1/agent/register"),
    ("GET", "/api/v1/agent/config"),
    ("GET", "/api/v1/groups"),
    ("POST", "/api/v1/groups"),
    ("GET", "/api/v1/groups/{name}"),
    ("DELETE", "/api/v1/groups/{name}"),
    ("POST", "/api/v1/groups/{name}/approvals"),
    ("GET", "/api/v1/computers"),
    ("GET", "/api/v1/computers/{id}"),
    ("DELETE", "/api/v1/computers/{id}"),
    ("PUT", "/api/v1/computers/{id}/group"),
    ("GET", "/api/v1/computers/{id}/events"),
    ("GET", "/api/v1/enrolment-keys"),
    ("POST", "/api/v1/enrolment-keys"),
    ("DELETE", "/api/v1/enrolment-keys/{id}"),
    ("GET", "/api/v1/updates/{id}/status"),
    ("GET", "/api/v1/rules"),
    ("POST", "/api/v1/rules"),
    ("DELETE", "/api/v1/rules/{id}"),
    ("GET", "/api/v1/audit"),
    ("POST", "/api/v1/agent/reports"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/repo/{path}"),
    ("HEAD", "/repo/{path}"),
];

// The ids the document's examples use that a live server cannot have; the live tests
// substitute them (see `Live::substitute`).
/// The example enrolment key (`wua_e_...`): replaced by a key the test makes.
const EXAMPLE_KEY: &str = "wua_e_8c1f3a5e7b9d0c2e_3b7e1f9a3b7e1f9a3b7e1f9a3b7e1f9a3b7e1f9a3b7e1f9a3b7e1f9a3b7e1f9a";
/// Its id: replaced by that key's id.
const EXAMPLE_KEY_ID: &str = "8c1f3a5e7b9d0c2e";
/// The example computer id: replaced by a computer the test registers.
const EXAMPLE_COMPUTER: &str = "5b8f2d7e-3c41-4a9e-9d2f-0c6e1a7b8f90";
/// The example update ids: replaced by the test repository's published updates 1 and 2.
const EXAMPLE_UPDATES: [&str; 2] = ["6f1c9a52-8d3e-4b7a-a1f0-2e4d5c6b7a81", "c2e4a6b8-1d3f-4a5c-9e7b-3f5d7b9a1c24"];
/// The example rule id (the path of `DELETE /api/v1/rules/{id}`): replaced by a rule the test
/// makes. Short, so it replaces a whole parameter only, never text in a body.
const EXAMPLE_RULE_ID: &str = "12";

fn document() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `v`, or what its `$ref` points at.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("a $ref outside the document: {r}"));
            resolve(doc, doc.pointer(pointer).unwrap_or_else(|| panic!("{r} points nowhere")))
        }
        None => v,
    }
}

/// Every operation: (METHOD, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((method.to_uppercase(), path.clone(), op));
        }
    }
    out
}

fn operation<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    let op = &doc["paths"][path][method.to_lowercase()];
    assert!(op.is_object(), "{method} {path} is not in docs/openapi.json");
    op
}

/// Deserializes `v` into `T` and serializes it back.
fn round_trip<T: Serialize + DeserializeOwned>(v: &Value) -> Result<Value, String> {
    let t: T = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
    serde_json::to_value(&t).map_err(|e| e.to_string())
}

/// `v` through the Rust type the component schema `name` documents.
fn through_type(name: &str, v: &Value) -> Result<Value, String> {
    let variant = |kind: &str| {
        if v.get("kind") != Some(&json!(kind)) {
            return Err(format!("{name} has kind {kind:?}: {v}"));
        }
        round_trip::<ReportBody>(v)
    };
    match name {
        "ApiError" => round_trip::<ApiError>(v),
        "RegisterRequest" => round_trip::<RegisterRequest>(v),
        "RegisterResponse" => round_trip::<RegisterResponse>(v),
        "AgentConfig" => round_trip::<AgentConfig>(v),
        "ReportBatch" => round_trip::<ReportBatch>(v),
        "ReportEvent" => round_trip::<ReportEvent>(v),
        "ReportBody" => round_trip::<ReportBody>(v),
        "ScanReport" => variant("scan"),
        "OutcomeReport" => variant("outcome"),
        "RebootReport" => variant("reboot"),
        "UpdateOperation" => round_trip::<UpdateOperation>(v),
        "OperationResultCode" => round_trip::<OperationResultCode>(v),
        "ReportAck" => round_trip::<ReportAck>(v),
        "CreateGroup" => round_trip::<CreateGroup>(v),
        "Group" => round_trip::<Group>(v),
        "GroupSummary" => round_trip::<GroupSummary>(v),
        "ApprovalAction" => round_trip::<ApprovalAction>(v),
        "Approval" => round_trip::<Approval>(v),
        "ApprovalChanges" => round_trip::<ApprovalChanges>(v),
        "Computer" => round_trip::<Computer>(v),
        "ComputerPage" => round_trip::<Page<Computer>>(v),
        "MoveComputer" => round_trip::<MoveComputer>(v),
        "UpdateState" => round_trip::<UpdateState>(v),
        "ComputerDetail" => round_trip::<ComputerDetail>(v),
        "ComputerUpdate" => round_trip::<ComputerUpdate>(v),
        "UpdateStatus" => round_trip::<UpdateStatus>(v),
        "CreateEnrolmentKey" => round_trip::<CreateEnrolmentKey>(v),
        "EnrolmentKey" => round_trip::<EnrolmentKey>(v),
        "CreateApprovalRule" => round_trip::<CreateApprovalRule>(v),
        "ApprovalRule" => round_trip::<ApprovalRule>(v),
        "ReportRecord" => round_trip::<ReportRecord>(v),
        "ReportRecordPage" => round_trip::<Page<ReportRecord>>(v),
        "AuditEntry" => round_trip::<AuditEntry>(v),
        "AuditPage" => round_trip::<Page<AuditEntry>>(v),
        // Not an API type: the repository's own signed metadata, served as stored.
        "TufMetadata" => match (v.pointer("/signed/_type"), v.get("signatures")) {
            (Some(Value::String(_)), Some(Value::Array(_))) => Ok(v.clone()),
            _ => Err(format!("not signed TUF metadata: {v}")),
        },
        other => Err(format!("no Rust type is known for schema {other}; add it to through_type")),
    }
}

/// `v` through the type `schema` documents: a component, an array of one, or a string.
fn through_schema(schema: &Value, v: &Value) -> Result<Value, String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/components/schemas/").ok_or_else(|| format!("$ref {r} is not a schema"))?;
        return through_type(name, v);
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("array") => {
            let items = v.as_array().ok_or_else(|| format!("not an array: {v}"))?;
            items.iter().map(|i| through_schema(&schema["items"], i)).collect::<Result<Vec<_>, _>>().map(Value::Array)
        }
        Some("string") => v.is_string().then(|| v.clone()).ok_or_else(|| format!("not a string: {v}")),
        _ => Err(format!("the schema {schema} names no type")),
    }
}

/// `v` with the documented `default` of every property it leaves out (what the type fills in
/// when it parses `v`).
fn with_defaults(doc: &Value, schema: &Value, v: &Value) -> Value {
    let schema = resolve(doc, schema);
    if let Some(alternatives) = schema.get("oneOf").and_then(Value::as_array) {
        let chosen = alternatives.iter().find(|a| resolve(doc, a)["properties"]["kind"]["const"] == v["kind"]);
        return chosen.map_or_else(|| v.clone(), |a| with_defaults(doc, a, v));
    }
    match (v, schema.get("properties").and_then(Value::as_object), schema.get("items")) {
        (Value::Object(fields), Some(properties), _) => {
            let mut out = fields.clone();
            for (name, s) in properties {
                match fields.get(name) {
                    Some(field) => {
                        out.insert(name.clone(), with_defaults(doc, s, field));
                    }
                    None => {
                        if let Some(default) = resolve(doc, s).get("default") {
                            out.insert(name.clone(), default.clone());
                        }
                    }
                }
            }
            Value::Object(out)
        }
        (Value::Array(items), _, Some(s)) => Value::Array(items.iter().map(|i| with_defaults(doc, s, i)).collect()),
        _ => v.clone(),
    }
}

/// Every media type of a request body or response: (where, media type, its object).
fn media_types(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (method, path, op) in operations(doc) {
        if let Some(body) = op.get("requestBody") {
            for (media, m) in resolve(doc, body)["content"].as_object().unwrap() {
                out.push((format!("{method} {path} request"), media.clone(), m));
            }
        }
        for (status, response) in op["responses"].as_object().unwrap() {
            if let Some(content) = resolve(doc, response).get("content") {
                for (media, m) in content.as_object().unwrap() {
                    out.push((format!("{method} {path} {status}"), media.clone(), m));
                }
            }
        }
    }
    out
}

/// A media type's examples, by name (`example` is named "example").
fn examples(m: &Value) -> Vec<(String, &Value)> {
    let mut out: Vec<(String, &Value)> = Vec::new();
    if let Some(e) = m.get("example") {
        out.push(("example".into(), e));
    }
    for (name, e) in m.get("examples").and_then(Value::as_object).into_iter().flatten() {
        out.push((name.clone(), &e["value"]));
    }
    out
}

#[test]
fn every_example_round_trips_through_its_type() {
    let doc = document();
    let mut checked = 0;
    for (place, media, m) in media_types(&doc) {
        let all = examples(m);
        assert!(!all.is_empty(), "{place} {media} has no example");
        for (name, example) in all {
            match media.as_str() {
                "application/json" => {
                    let back = through_schema(&m["schema"], example)
                        .unwrap_or_else(|e| panic!("{place} example {name}: {e}\n{example}"));
                    let expected = with_defaults(&doc, &m["schema"], example);
                    assert_eq!(back, expected, "{place} example {name} does not round-trip");
                    // D-2's three fields agree with each other.
                    if m["schema"]["$ref"] == "#/components/schemas/ApiError" {
                        let e: ApiError = serde_json::from_value(example.clone()).unwrap();
                        assert_eq!(ApiError::new(e.code(), e.error.clone()), e, "{place} example {name}");
                    }
                }
                "text/plain" | "application/octet-stream" => {
                    assert!(example.is_string(), "{place} {media} example {name} is not text")
                }
                other => panic!("{place}: media type {other} is not expected"),
            }
            checked += 1;
        }
    }
    // A component's own example.
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        if let Some(example) = schema.get("example") {
            assert_eq!(&through_type(name, example).unwrap(), example, "schema {name}'s example");
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} examples");
}

#[test]
fn every_body_and_error_is_documented_with_its_type() {
    let doc = document();
    for (method, path, op) in operations(&doc) {
        let place = format!("{method} {path}");
        if let Some(body) = op.get("requestBody") {
            let body = resolve(&doc, body);
            assert_eq!(body["required"], true, "{place}");
            let content = body["content"].as_object().unwrap();
            assert_eq!(content.keys().collect::<Vec<_>>(), ["application/json"], "{place}");
            assert!(content["application/json"]["schema"]["$ref"].is_string(), "{place}: the body names a type");
        }
        let responses = op["responses"].as_object().unwrap();
        assert!(responses.keys().any(|s| s.starts_with('2')), "{place} lists no success");
        for (status, response) in responses {
            let response = resolve(&doc, response);
            assert!(response["description"].is_string(), "{place} {status}");
            let code: u16 = status.parse().unwrap_or_else(|_| panic!("{place}: status {status}"));
            // Every error of the API is an ApiError. The static repository answers its own
            // errors without a body, as any static host does; 408 comes from the server's
            // time-out around every route.
            let api = path.starts_with("/api/") || code == 408;
            if code >= 400 && api {
                let content = response["content"].as_object().unwrap_or_else(|| panic!("{place} {status}: no body"));
                assert_eq!(content.keys().collect::<Vec<_>>(), ["application/json"], "{place} {status}");
                assert_eq!(content["application/json"]["schema"]["$ref"], "#/components/schemas/ApiError");
            }
        }
        // The statuses every API route can answer.
        if path.starts_with("/api/") {
            for status in ["408", "500", "503"] {
                assert!(responses.contains_key(status), "{place} does not list {status}");
            }
            let secured = !op["security"].as_array().unwrap().is_empty();
            for status in ["401", "403"] {
                assert_eq!(responses.contains_key(status), secured || status == "401", "{place} {status}");
            }
            if op.get("requestBody").is_some() {
                for status in ["400", "413", "415"] {
                    assert!(responses.contains_key(status), "{place} does not list {status}");
                }
            }
            let params = op.get("parameters").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
            if !params.is_empty() {
                assert!(responses.contains_key("400"), "{place} takes parameters and does not list 400");
            }
        }
    }
}

// ---- the component schemas against the types ----

/// A value for `schema` with every property present.
fn sample(doc: &Value, schema: &Value) -> Value {
    let schema = resolve(doc, schema);
    if let Some(c) = schema.get("const") {
        return c.clone();
    }
    if let Some(e) = schema.get("enum") {
        return e[0].clone();
    }
    if let Some(alternatives) = schema.get("oneOf") {
        return sample(doc, &alternatives[0]);
    }
    match schema["type"].as_str() {
        Some("object") => Value::Object(
            schema["properties"].as_object().unwrap().iter().map(|(k, s)| (k.clone(), sample(doc, s))).collect(),
        ),
        Some("array") => json!([sample(doc, &schema["items"])]),
        Some("string") => json!("x"),
        Some("integer") => json!(schema.get("minimum").and_then(Value::as_i64).unwrap_or(0)),
        Some("boolean") => json!(true),
        _ => panic!("no sample for {schema}"),
    }
}

fn names<T: Serialize>(values: &[T]) -> BTreeSet<String> {
    values.iter().map(|v| serde_json::to_value(v).unwrap().as_str().unwrap().to_owned()).collect()
}

/// Every `ApprovalAction` (a new variant does not compile here until it is listed).
fn approval_actions() -> Vec<ApprovalAction> {
    let all = [ApprovalAction::Install, ApprovalAction::Uninstall, ApprovalAction::Optional];
    for a in all {
        match a {
            ApprovalAction::Install | ApprovalAction::Uninstall | ApprovalAction::Optional => {}
        }
    }
    all.to_vec()
}

/// Every `UpdateState` (the same).
fn update_states() -> Vec<UpdateState> {
    use UpdateState::*;
    let all = [Installed, Needed, Failed, PendingReboot, NotApplicable, NoStatus];
    for s in all {
        match s {
            Installed | Needed | Failed | PendingReboot | NotApplicable | NoStatus => {}
        }
    }
    all.to_vec()
}

/// Every `ReportBody` variant and the schema that documents it (the same).
fn report_variants() -> Vec<(ReportBody, &'static str)> {
    let all = [
        ReportBody::Scan { needed: vec![], installed: vec![] },
        ReportBody::Outcome {
            update_id: "u".into(),
            revision_number: 1,
            operation: UpdateOperation::Installation,
            result_code: OperationResultCode::Succeeded,
            hresult: HResult(0),
            reboot_required: false,
        },
        ReportBody::Reboot { required: false },
    ];
    all.into_iter()
        .map(|b| {
            let schema = match b {
                ReportBody::Scan { .. } => "ScanReport",
                ReportBody::Outcome { .. } => "OutcomeReport",
                ReportBody::Reboot { .. } => "RebootReport",
            };
            (b, schema)
        })
        .collect()
}

#[test]
fn the_component_schemas_are_the_types() {
    let doc = document();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let enums: [(&str, BTreeSet<String>); 4] = [
        ("UpdateOperation", names(UpdateOperation::ALL)),
        ("OperationResultCode", names(OperationResultCode::ALL)),
        ("ApprovalAction", names(&approval_actions())),
        ("UpdateState", names(&update_states())),
    ];
    for (name, values) in &enums {
        let listed: BTreeSet<String> =
            schemas[*name]["enum"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
        assert_eq!(&listed, values, "schema {name}'s enum");
    }
    // ReportBody: one alternative per variant, tagged by `kind`.
    let mapping = schemas["ReportBody"]["discriminator"]["mapping"].as_object().unwrap();
    let alternatives: BTreeSet<&str> =
        schemas["ReportBody"]["oneOf"].as_array().unwrap().iter().map(|r| r["$ref"].as_str().unwrap()).collect();
    assert_eq!(mapping.len(), report_variants().len());
    for (body, schema) in report_variants() {
        let kind = serde_json::to_value(&body).unwrap()["kind"].as_str().unwrap().to_owned();
        let target = format!("#/components/schemas/{schema}");
        assert_eq!(mapping[&kind], json!(target), "ReportBody kind {kind}");
        assert!(alternatives.contains(target.as_str()), "ReportBody lacks {schema}");
        assert_eq!(schemas[schema]["properties"]["kind"]["const"], json!(kind), "{schema}");
    }
    for (name, schema) in schemas {
        if schema.get("type") != Some(&json!("object")) || name == "TufMetadata" {
            assert!(
                schema.get("enum").is_some() || schema.get("oneOf").is_some() || name == "TufMetadata",
                "schema {name}"
            );
            continue;
        }
        // The types refuse unknown fields.
        assert_eq!(schema["additionalProperties"], false, "schema {name}");
        let properties: BTreeSet<&str> = schema["properties"].as_object().unwrap().keys().map(String::as_str).collect();
        let required: BTreeSet<&str> =
            schema["required"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
        assert!(required.is_subset(&properties), "schema {name}: required names an unknown property");
        // Every property is a field of the type, and the type has no other: a value with every
        // property parses, and serializes back with exactly those.
        let full = sample(&doc, schema);
        let back = through_type(name, &full).unwrap_or_else(|e| panic!("schema {name}: {e}\n{full}"));
        let fields: BTreeSet<&str> = back.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(fields, properties, "schema {name}: the type's fields");
        // Exactly the required properties cannot be left out.
        for p in &properties {
            let mut without = full.clone();
            without.as_object_mut().unwrap().remove(*p);
            let parsed = through_type(name, &without);
            assert_eq!(parsed.is_err(), required.contains(p), "schema {name}: is {p} required? {parsed:?}");
        }
        // Every enum value of a property parses.
        for (p, s) in schema["properties"].as_object().unwrap() {
            for value in resolve(&doc, s).get("enum").and_then(Value::as_array).into_iter().flatten() {
                let mut with = full.clone();
                with[p] = value.clone();
                through_type(name, &with).unwrap_or_else(|e| panic!("schema {name}: {p} = {value}: {e}"));
            }
        }
    }
}

// ---- the routes ----

/// The routes app.rs registers: `.route("PATH", get(..).post(..))` and the repository's
/// `nest_service("/repo", ..)` (GET and HEAD on any path under it).
fn routes_in_app_rs() -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/app.rs")).unwrap();
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices(".route(\"") {
        let rest = &text[i + ".route(".len()..];
        let path = rest[1..].split('"').next().unwrap();
        // The call's arguments, to its closing parenthesis.
        let mut depth = 0;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth < 0
            })
            .map(|(j, _)| j)
            .unwrap();
        let args = &rest[..end];
        for method in ["get", "post", "put", "delete", "patch"] {
            for (j, _) in args.match_indices(&format!("{method}(")) {
                let before = args[..j].chars().next_back();
                if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    out.insert((method.to_uppercase(), path.to_owned()));
                }
            }
        }
    }
    assert!(text.contains("nest_service(\"/repo\""), "app.rs no longer mounts /repo");
    out.insert(("GET".into(), "/repo/{path}".into()));
    out.insert(("HEAD".into(), "/repo/{path}".into()));
    out
}

#[test]
fn the_document_covers_exactly_the_routes() {
    let doc = document();
    let listed: BTreeSet<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(listed.len(), ROUTES.len(), "ROUTES lists a route twice");
    let documented: BTreeSet<(String, String)> = operations(&doc).into_iter().map(|(m, p, _)| (m, p)).collect();
    let missing: Vec<_> = listed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&listed).collect();
    assert!(missing.is_empty(), "routes docs/openapi.json does not document: {missing:?}");
    assert!(extra.is_empty(), "docs/openapi.json documents routes the router does not have: {extra:?}");
    let in_app = routes_in_app_rs();
    let missing: Vec<_> = in_app.difference(&listed).collect();
    let extra: Vec<_> = listed.difference(&in_app).collect();
    assert!(missing.is_empty(), "app.rs has routes ROUTES lacks (document them): {missing:?}");
    assert!(extra.is_empty(), "ROUTES lists routes app.rs does not have: {extra:?}");
    for (_, path, op) in operations(&doc) {
        // Every path parameter is declared, with an example.
        let declared: BTreeSet<&str> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .map(|p| {
                assert!(p.get("example").is_some(), "{path}: parameter {} has no example", p["name"]);
                p["name"].as_str().unwrap()
            })
            .collect();
        let in_path: BTreeSet<&str> =
            path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect();
        assert_eq!(declared, in_path, "{path}");
    }
    // The example ids the live tests substitute are the document's.
    let text = doc.to_string();
    for id in [EXAMPLE_KEY, EXAMPLE_KEY_ID, EXAMPLE_COMPUTER, EXAMPLE_UPDATES[0], EXAMPLE_UPDATES[1]] {
        assert!(text.contains(id), "docs/openapi.json no longer uses the example id {id}");
    }
    let rule = &operation(&doc, "DELETE", "/api/v1/rules/{id}")["parameters"][0];
    assert_eq!(rule["example"], EXAMPLE_RULE_ID, "the example rule id");
}

/// A server with what the examples need, and the ids to put in place of the examples'.
struct Live {
    server: TestServer,
    computer_token: String,
    /// Replaced wherever they occur (long ids).
    substitutions: Vec<(&'static str, String)>,
    /// Replaced when they are a whole parameter.
    parameters: Vec<(&'static str, String)>,
}

impl Live {
    /// A server with published updates 1 and 2, groups `ring-1` and `retired`, an enrolment key
    /// for `ring-1` that allows client-side targeting, a computer registered with it, and an
    /// approval rule.
    async fn start(edit: impl FnOnce(&mut wua_server::ServerConfig)) -> Live {
        let server = TestServer::start_with(2, edit).await;
        server.group("ring-1").await;
        server.group("retired").await;
        let key = server
            .admin(
                "POST",
                "/api/v1/enrolment-keys",
                Some(r#"{"group":"ring-1","allow_client_targeting":true,"description":"openapi"}"#),
            )
            .await;
        let (key_text, key_id) = (key["key"].as_str().unwrap().to_owned(), key["id"].as_str().unwrap().to_owned());
        let (computer, computer_token) = server.register(&key_text, "openapi-setup").await;
        let rule = r#"{"name":"openapi","groups":["ring-1"],"action":"optional"}"#;
        let rule_id = server.admin("POST", "/api/v1/rules", Some(rule)).await["id"].to_string();
        // What the examples name that this server cannot have: the enrolment key (the
        // register example's `enrolment_key`), its id (the revoke example's path), the
        // computer id (paths of the computer routes, the list's `after`) and the update ids
        // (report events, approvals, the status path), and the rule id (the path of the rule's
        // deletion). Group names, machine ids, event keys, times and the cursors `after` and
        // `before` are sent as the document has them.
        let substitutions = vec![
            (EXAMPLE_KEY, key_text),
            (EXAMPLE_KEY_ID, key_id),
            (EXAMPLE_COMPUTER, computer),
            (EXAMPLE_UPDATES[0], update(1)),
            (EXAMPLE_UPDATES[1], update(2)),
        ];
        let parameters = vec![(EXAMPLE_RULE_ID, rule_id)];
        Live { server, computer_token, substitutions, parameters }
    }

    fn substitute(&self, text: &str) -> String {
        self.substitutions.iter().fold(text.to_owned(), |t, (from, to)| t.replace(from, to))
    }

    /// The token an operation's security names.
    fn token(&self, op: &Value) -> Option<String> {
        let security = op["security"].as_array().unwrap();
        let scheme = security.first().and_then(|s| s.as_object()).and_then(|s| s.keys().next().cloned());
        match scheme.as_deref() {
            None => None,
            Some("adminToken") => Some(self.server.admin.clone()),
            Some("computerToken") => Some(self.computer_token.clone()),
            Some(other) => panic!("unknown security scheme {other}"),
        }
    }

    /// `path` with each path parameter's example, and each query parameter's example.
    fn url(&self, path: &str, op: &Value, value: impl Fn(&Value) -> String) -> String {
        let mut url = path.to_owned();
        let mut query = Vec::new();
        for p in op["parameters"].as_array().into_iter().flatten() {
            let name = p["name"].as_str().unwrap();
            match p["in"].as_str().unwrap() {
                "path" => url = url.replace(&format!("{{{name}}}"), &value(p)),
                "query" => query.push(format!("{name}={}", value(p))),
                _ => {}
            }
        }
        if !query.is_empty() {
            url = format!("{url}?{}", query.join("&"));
        }
        url
    }

    fn example_url(&self, path: &str, op: &Value) -> String {
        self.url(path, op, |p| {
            let example = match &p["example"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            match self.parameters.iter().find(|(from, _)| *from == example) {
                Some((_, to)) => to.clone(),
                None => self.substitute(&example),
            }
        })
    }
}

/// An answer: status, content type, body.
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

/// Sends a request; `json_body` is sent as `application/json`, `raw_body` without a content type.
async fn send(
    server: &TestServer,
    method: &str,
    url: &str,
    token: Option<&str>,
    json_body: Option<&str>,
    raw_body: Option<&str>,
) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = server.client.request(method, server.url(url));
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(b) = json_body {
        req = req.header("content-type", "application/json").body(b.to_owned());
    }
    if let Some(b) = raw_body {
        req = req.body(b.to_owned());
    }
    let response = req.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    Answer { status, content_type, body: response.text().await.unwrap() }
}

/// Checks an answer against the operation: its status is listed, and its body is what that
/// status documents (the type of its JSON, text, or nothing).
fn check_answer(doc: &Value, place: &str, method: &str, op: &Value, answer: &Answer) {
    let status = answer.status.to_string();
    let response = op["responses"]
        .get(&status)
        .unwrap_or_else(|| panic!("{place}: status {status} is not listed: {}", answer.body));
    let response = resolve(doc, response);
    let Some(content) = response.get("content").and_then(Value::as_object) else {
        assert!(answer.body.is_empty(), "{place} {status}: the document says no body: {}", answer.body);
        return;
    };
    if method == "HEAD" {
        assert!(answer.body.is_empty(), "{place}");
        return;
    }
    let media = answer.content_type.split(';').next().unwrap().trim();
    let m = content.get(media).unwrap_or_else(|| panic!("{place} {status}: content type {media} is not documented"));
    match media {
        "application/json" => {
            let value: Value = serde_json::from_str(&answer.body).unwrap_or_else(|e| panic!("{place}: {e}"));
            let back = through_schema(&m["schema"], &value)
                .unwrap_or_else(|e| panic!("{place} {status}: the answer is not the documented type: {e}\n{value}"));
            assert_eq!(back, value, "{place} {status}: the answer has fields its type does not");
        }
        "text/plain" => assert!(!answer.body.is_empty(), "{place} {status}"),
        _ => {}
    }
}

/// The routes in an order that creates before it reads and deletes: the agent's routes (so
/// that the computer has events and status to show), then the others in ROUTES's order, then
/// the deletions.
fn live_order() -> Vec<(&'static str, &'static str)> {
    let mut routes = ROUTES.to_vec();
    routes.sort_by_key(|(method, path)| match (*method, path.starts_with("/api/v1/agent/")) {
        ("DELETE", _) => 2,
        (_, true) => 0,
        _ => 1,
    });
    routes
}

#[tokio::test]
async fn every_request_example_is_answered_as_documented() {
    let doc = document();
    let live = Live::start(|_| {}).await;
    let mut sent = 0;
    for (method, path) in live_order() {
        let op = operation(&doc, method, path);
        let token = live.token(op);
        let url = live.example_url(path, op);
        let bodies: Vec<(String, Option<String>)> = match op.get("requestBody") {
            Some(body) => examples(&resolve(&doc, body)["content"]["application/json"])
                .into_iter()
                .map(|(name, e)| (name, Some(live.substitute(&e.to_string()))))
                .collect(),
            None => vec![("(no body)".to_owned(), None)],
        };
        for (name, body) in bodies {
            let place = format!("{method} {url} example {name}");
            let answer = send(&live.server, method, &url, token.as_deref(), body.as_deref(), None).await;
            // The examples are valid requests on this server: each succeeds.
            assert!((200..300).contains(&answer.status), "{place}: {} {}", answer.status, answer.body);
            check_answer(&doc, &place, method, op, &answer);
            sent += 1;
        }
    }
    assert!(sent >= ROUTES.len());
}

/// A request whose body arrives slower than the time-out; the raw answer.
async fn slow_request(server: &TestServer, path: &str, token: &str) -> String {
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 64\r\nConnection: close\r\n\r\n{{"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(20), tcp.read_to_string(&mut answer)).await.unwrap().unwrap();
    answer
}

#[tokio::test]
async fn every_route_answers_the_errors_it_lists() {
    let doc = document();
    let live = Live::start(|c| {
        c.limits.body_bytes = 4096;
        c.limits.report_body_bytes = 8192;
        c.limits.request_timeout_seconds = 1;
    })
    .await;
    let server = &live.server;
    let big = json!({ "x": "x".repeat(10_000) }).to_string();
    let mut checked = 0;
    for &(method, path) in ROUTES {
        let op = operation(&doc, method, path);
        let url = live.example_url(path, op);
        let token = live.token(op);
        let mut tries: Vec<(String, Answer)> = Vec::new();
        // Without a token, and with the other kind of token.
        let other = match &token {
            Some(t) if *t == server.admin => Some(live.computer_token.clone()),
            Some(_) => Some(server.admin.clone()),
            None => None,
        };
        let body = op.get("requestBody").map(|_| "{}");
        if let Some(other) = other {
            tries.push(("no token".into(), send(server, method, &url, None, body, None).await));
            tries.push(("the other token".into(), send(server, method, &url, Some(&other), body, None).await));
        }
        if op.get("requestBody").is_some() {
            let t = token.as_deref();
            tries.push(("malformed JSON".into(), send(server, method, &url, t, Some("{"), None).await));
            tries.push(("no content type".into(), send(server, method, &url, t, None, Some("{}")).await));
            tries.push(("too large".into(), send(server, method, &url, t, Some(&big), None).await));
        }
        if path == "/api/v1/agent/register" {
            let unknown =
                json!({"enrolment_key": format!("wua_e_{}_{}", "0".repeat(16), "1".repeat(64)), "machine_id": "m"});
            tries.push((
                "an unknown key".into(),
                send(server, method, &url, None, Some(&unknown.to_string()), None).await,
            ));
        }
        let params = op["parameters"].as_array().into_iter().flatten();
        if params.clone().any(|p| p["in"] == "path") {
            // A path parameter that is not UTF-8.
            let bad = live.url(path, op, |p| if p["in"] == "path" { "%FF".into() } else { "1".into() });
            tries.push(("%FF in the path".into(), send(server, method, &bad, token.as_deref(), body, None).await));
        }
        if params.clone().any(|p| p["in"] == "query") {
            let bad = format!("{path}?limit=x");
            tries.push(("a bad query".into(), send(server, method, &bad, token.as_deref(), None, None).await));
        }
        for (what, answer) in tries {
            let place = format!("{method} {path} ({what})");
            assert!(answer.status >= 400, "{place}: {} {}", answer.status, answer.body);
            check_answer(&doc, &place, method, op, &answer);
            checked += 1;
        }
    }
    assert!(checked > 50, "{checked}");
    // A body slower than the time-out: 408, in the documented shape.
    let answer = slow_request(server, "/api/v1/groups", &server.admin).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap();
    let op = operation(&doc, "POST", "/api/v1/groups");
    let answer = Answer { status: 408, content_type: "application/json".into(), body: body.to_owned() };
    check_answer(&doc, "POST /api/v1/groups (slow body)", "POST", op, &answer);
}
