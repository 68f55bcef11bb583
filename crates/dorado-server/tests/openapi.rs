//! The OpenAPI document is part of the contract: a change to it shows up
//! here, in review, instead of in a user's broken client.

#[test]
fn openapi_document_is_unchanged() {
    let doc = serde_json::to_value(dorado_server::openapi()).expect("the document serializes");
    insta::assert_json_snapshot!(doc);
}
