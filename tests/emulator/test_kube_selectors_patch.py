"""Label/field selector parsing and the three patch formats, table-driven."""

from __future__ import annotations

import pytest

from emulator.kube.errors import BadRequest
from emulator.kube.patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from emulator.kube.selectors import (
    fields_match,
    from_label_selector,
    parse_field_selector,
    parse_label_selector,
    selector_string,
)

LABELS = {"app": "web", "tier": "front", "rev": "7"}


@pytest.mark.parametrize(("text", "expected"), [
    ("", True), ("app=web", True), ("app==web", True), ("app!=web", False), ("zone!=a", True),
    ("app in (web,api)", True), ("app in (api)", False), ("app notin (api)", True),
    ("zone notin (a)", True), ("app", True), ("!app", False), ("!zone", True),
    ("app=web,tier=front", True), ("app=web,tier=back", False), ("rev>5", True), ("rev<5", False),
    ("  app = web , tier in ( front ) ", True), ("app=", False), ("app in ()", False),
])
def test_label_selector_semantics(text: str, expected: bool) -> None:
    assert parse_label_selector(text).matches(LABELS) is expected


@pytest.mark.parametrize(("text", "why"), [
    ("app in web", "expected: '('"), ("=web", "found '='"), ("app in (web", "expected: ')'"),
    ("app=web tier=x", "expected: ',' or 'end of string'"),
])
def test_label_selector_errors_are_bad_requests(text: str, why: str) -> None:
    with pytest.raises(BadRequest, match="^unable to parse requirement: ") as err:
        parse_label_selector(text)
    assert why in str(err.value)


def test_label_selector_objects() -> None:
    sel = {"matchLabels": {"app": "web"},
           "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]},
                                {"key": "zone", "operator": "DoesNotExist"}]}
    assert from_label_selector(sel).matches(LABELS)
    assert not from_label_selector({"matchLabels": {"app": "api"}}).matches(LABELS)
    assert from_label_selector({}).matches({}), "an empty selector matches everything"
    assert not from_label_selector(None).matches(LABELS), "a null selector matches nothing"
    assert selector_string(sel) == "app=web,tier in (front),!zone"


def test_field_selectors() -> None:
    pod = {"metadata": {"name": "p", "namespace": "apps"}, "spec": {"nodeName": "w1"},
           "status": {"phase": "Running"}}
    allowed = ("metadata.name", "spec.nodeName", "status.phase", "spec.hostNetwork")
    reqs = parse_field_selector("spec.nodeName=w1,status.phase!=Failed", allowed)
    assert fields_match(pod, reqs)
    assert not fields_match(pod, parse_field_selector("spec.nodeName==w2", allowed))
    assert fields_match(pod, parse_field_selector("spec.hostNetwork=false", allowed))
    with pytest.raises(BadRequest, match="^field label not supported: spec.x$"):
        parse_field_selector("spec.x=1", allowed)


def test_merge_patch_is_rfc7386() -> None:
    doc = {"a": {"b": 1, "c": 2}, "l": [1, 2]}
    assert merge_patch(doc, {"a": {"b": None, "d": 3}, "l": [3]}) == {"a": {"c": 2, "d": 3},
                                                                       "l": [3]}
    assert doc == {"a": {"b": 1, "c": 2}, "l": [1, 2]}, "the target is not modified"


def test_strategic_merge_patch_merges_keyed_lists_and_directives() -> None:
    doc = {"spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}],
                    "finalizers": ["x"]},
           "metadata": {"finalizers": ["f1"]}}
    out = strategic_merge_patch(doc, {
        "spec": {"containers": [{"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"}],
                 "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}]},
        "metadata": {"finalizers": ["f2"]}})
    assert [(c["name"], c["image"]) for c in out["spec"]["containers"]] == [
        ("a", "a:1"), ("b", "b:2"), ("c", "c:1")]
    assert out["metadata"]["finalizers"] == ["f1", "f2"]
    out = strategic_merge_patch(out, {"spec": {"containers": [{"name": "a", "$patch": "delete"}]},
                                      "$deleteFromPrimitiveList/x": []})
    assert [c["name"] for c in out["spec"]["containers"]] == ["b", "c"]
    out = strategic_merge_patch(out, {"spec": {"$patch": "replace", "replicas": 1}})
    assert out["spec"] == {"replicas": 1}


def test_json_patch_operations_and_errors() -> None:
    doc = {"a": [1, 2], "m": {"k~/": "v"}}
    out = json_patch(doc, [
        {"op": "add", "path": "/a/-", "value": 3}, {"op": "add", "path": "/a/0", "value": 0},
        {"op": "replace", "path": "/m/k~0~1", "value": "w"},
        {"op": "copy", "from": "/m", "path": "/n"}, {"op": "move", "from": "/n", "path": "/o"},
        {"op": "remove", "path": "/a/1"}, {"op": "test", "path": "/a", "value": [0, 2, 3]}])
    assert out == {"a": [0, 2, 3], "m": {"k~/": "w"}, "o": {"k~/": "w"}}
    with pytest.raises(PatchError, match="testing value /a failed"):
        json_patch(doc, [{"op": "test", "path": "/a", "value": []}])
    with pytest.raises(PatchError, match="Unexpected kind: frobnicate"):
        json_patch(doc, [{"op": "frobnicate", "path": "/a"}])
