"""Unit tests of the OpenAPI generator (gateway/openapi.py)."""

from openapi_spec_validator import validate

from gateway.openapi import _path_template, build_document


def test_document_is_valid_openapi_30():
    doc = build_document()
    validate(doc)
    assert doc["openapi"] == "3.0.3"
    assert build_document() is doc  # cached


def test_path_template_becomes_path_param_with_pattern():
    assert _path_template("/v1/{name=titles/*}") == ("/v1/titles/{name}", [("name", "^[^/]+$")])
    assert _path_template("/v1/titles/{id}") == ("/v1/titles/{id}", [("id", "^[^/]+$")])


def test_internal_rpcs_are_excluded_and_protected_ones_need_bearer():
    ops = [op for item in build_document()["paths"].values() for op in item.values()]
    assert ops
    assert all(op["security"] == [{"bearer": []}] for op in ops if "security" in op)
    assert all("200" in op["responses"] and "503" in op["responses"] for op in ops)


def test_public_rpc_has_no_security_and_distinct_resources_do_not_collide():
    paths = build_document()["paths"]
    assert "security" not in paths["/v1/auth:login"]["post"]
    ops = [op["operationId"] for item in paths.values() for op in item.values()]
    assert len(ops) == len(set(ops)) == 57
