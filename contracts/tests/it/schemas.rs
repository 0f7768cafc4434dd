//! The committed JSON Schemas must be exactly what the code generates.

use std::collections::BTreeMap;
use std::path::PathBuf;

#[test]
fn schemas_are_not_stale() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(contracts::schema::SCHEMA_DIR);
    let generated: BTreeMap<String, String> =
        contracts::schema::all().unwrap().into_iter().collect();
    let mut committed = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.ends_with(".json") {
            committed.insert(name, std::fs::read_to_string(&path).unwrap());
        }
    }
    let fix = "run `cargo run -p custody-contracts --bin gen-schemas` and commit the result";
    for (name, text) in &generated {
        match committed.get(name) {
            None => panic!("schema {name} is missing from {}; {fix}", dir.display()),
            Some(old) if old != text => panic!("schema {name} is stale; {fix}"),
            Some(_) => {}
        }
    }
    for name in committed.keys() {
        assert!(
            generated.contains_key(name),
            "schema {name} no longer corresponds to a type; {fix}"
        );
    }
    assert_eq!(generated.len(), 19);
}

#[test]
fn schemas_describe_the_wire_names() {
    let all: BTreeMap<String, String> = contracts::schema::all().unwrap().into_iter().collect();
    let request = &all["SigningRequest.v1.json"];
    for field in [
        "request_id",
        "unsigned_tx",
        "signing_hash",
        "summary",
        "approved_by",
    ] {
        assert!(request.contains(field), "{field}");
    }
    assert!(request.contains("\"additionalProperties\": false"));
    assert!(all["Envelope.v2.json"].contains("signing_request"));
    assert!(all["CaseCreated.v1.json"].contains("urn:custody:CaseCreated/v1"));
}
