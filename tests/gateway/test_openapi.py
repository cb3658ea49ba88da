"""Unit tests of the OpenAPI generator (gateway/openapi.py)."""

import pytest
from openapi_spec_validator import validate

from gateway.openapi import _path_template, access_classes, build_document


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
    # DeleteProfile and DeleteDevice once both became DELETE /v1/{name}; one hid the other.
    assert len(ops) == len(set(ops)) == 58
    assert set(ops) == set(access_classes())
    assert paths["/v1/users/{name_users}/profiles/{name}"]["delete"]["operationId"].endswith(
        ".DeleteProfile"
    )
    assert paths["/v1/users/{name_users}/devices/{name}"]["delete"]["operationId"].endswith(
        ".DeleteDevice"
    )


def test_every_star_is_its_own_path_param_so_no_param_holds_a_slash():
    assert _path_template("/v1/{profile=users/*/profiles/*}/resumePoints/{title=titles/*}") == (
        "/v1/users/{profile_users}/profiles/{profile}/resumePoints/titles/{title}",
        [("profile_users", "^[^/]+$"), ("profile", "^[^/]+$"), ("title", "^[^/]+$")],
    )
    assert _path_template("/v1/{profile.name=users/*/profiles/*}")[0] == (
        "/v1/users/{profile_name_users}/profiles/{profile_name}"
    )
    with pytest.raises(ValueError, match="unsupported"):
        _path_template("/v1/{name=a/x*}")


def test_request_bodies_are_closed_and_envoy_text_errors_are_documented():
    doc = build_document()
    login = doc["paths"]["/v1/auth:login"]["post"]
    body = login["requestBody"]["content"]["application/json"]["schema"]
    assert body["additionalProperties"] is False
    assert doc["components"]["schemas"]["vod.catalog.v1.Title"]["additionalProperties"] is False
    assert set(login["responses"]["400"]["content"]) == {"application/json", "text/plain"}


def test_validation_rules_become_schema_keywords_and_optional_blanks_pass():
    doc = build_document()
    title = doc["components"]["schemas"]["vod.catalog.v1.Title"]["properties"]
    # Title.parent is optional: a movie has none and the transcoder prints it as "".
    assert title["parent"]["pattern"] == "^$|^titles/[a-z0-9][a-z0-9-]{0,62}$"
    params = doc["paths"]["/v1/titles/{name}"]["get"]["parameters"]
    assert params[0]["schema"]["pattern"] == "^[a-z0-9][a-z0-9-]{0,62}$"
    watch = doc["paths"]["/v1/jobs/{name}:watch"]["get"]["responses"]["200"]
    assert watch["content"]["application/json"]["schema"]["type"] == "array"
