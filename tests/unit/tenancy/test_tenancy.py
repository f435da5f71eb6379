"""The operator's tenancy decisions: the namespace's organization, the creator, the
runner's ACL rules."""

from __future__ import annotations

from kuberun.contract import keys, request, spec
from kuberun.contract.caller import Caller, Organization
from kuberun_operator import manifests, tenancy


def namespace(labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None):
    return {
        "metadata": {"name": "team-a", "labels": labels or {}, "annotations": annotations or {}}
    }


def test_the_binding_is_the_namespace_label_and_its_display_name() -> None:
    bound = tenancy.binding(
        namespace(
            {tenancy.ORGANIZATION_LABEL: "acme"}, {tenancy.ORGANIZATION_NAME_ANNOTATION: "Acme"}
        )
    )
    assert bound == tenancy.Binding("team-a", Organization(id="acme", name="Acme"))
    assert bound.cache_scope == "acme"
    unbound = tenancy.binding(namespace())
    assert unbound.organization is None and unbound.cache_scope == "namespace:team-a"


def test_the_charts_mapping_binds_namespaces_without_the_label() -> None:
    mapped = {"team-a": Organization(id="initech", name="Initech")}
    assert tenancy.binding(namespace(), mapped).organization == mapped["team-a"]
    labelled = tenancy.binding(namespace({tenancy.ORGANIZATION_LABEL: "acme"}), mapped)
    assert labelled.organization == Organization(id="acme")  # the label wins


def test_spec_organization_is_accepted_only_when_it_is_the_namespaces() -> None:
    acme = tenancy.Binding("team-a", Organization(id="acme"))
    assert tenancy.check_organization(None, acme) is None
    assert tenancy.check_organization("acme", acme) is None
    refused = tenancy.check_organization("globex", acme)
    assert refused is not None and "'globex' refused" in refused and "'acme'" in refused
    unbound = tenancy.check_organization("acme", tenancy.Binding("team-a", None))
    assert unbound is not None and "bound to no organization" in unbound
    assert tenancy.check_organization(None, tenancy.Binding("team-a", None)) is None


def test_the_creator_comes_from_the_stamped_annotation() -> None:
    stamp = tenancy.CREATED_BY_ANNOTATION
    assert tenancy.creator({}) is None
    assert tenancy.creator({"annotations": {stamp: "ada@example.com"}}) == Caller(
        user_id="ada@example.com", email="ada@example.com", name="ada@example.com"
    )
    sa = "system:serviceaccount:team-a:bot"
    assert tenancy.creator({"annotations": {stamp: sa}}) == Caller(user_id=sa, name=sa)


def test_acl_rules_reset_then_allow_the_namespace_and_its_organization_only() -> None:
    rules = tenancy.acl_rules(tenancy.Binding("team-a", Organization(id="acme")), "pw")
    assert rules[:3] == ["reset", "on", ">pw"]
    patterns = [r for r in rules if r.startswith("~")]
    assert patterns == [
        f"~{keys.namespace_pattern('team-a')}",
        f"~{keys.cache_pattern('acme')}",
    ]
    assert "-@all" in rules and rules.index("-@all") < rules.index("+xadd")
    assert not any(r in rules for r in ("+@all", "+keys", "+scan", "+acl", "+config", "+xread"))
    assert "+xrange" in rules  # a rejected resend is read back (its own namespace only)
    assert tenancy.acl_user("team-a") == "kuberun-ns-team-a"


def test_the_request_carries_the_bound_organization_and_the_creator() -> None:
    ref = manifests.ExecutionRef("run", "team-a", "uid-1")
    execution = spec.ExecutionSpec(source=spec.Source(inline="x = 1"), caller="forged")
    raw = manifests.run_request(
        ref,
        execution,
        1,
        organization=Organization(id="acme", name="Acme"),
        creator=Caller(user_id="ada"),
    )
    parsed = request.RunRequest.model_validate_json(raw)
    assert parsed.organization == Organization(id="acme", name="Acme")
    assert parsed.caller is not None and parsed.caller.user_id == "ada"
