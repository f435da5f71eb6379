"""Service-account tokens: mounted into pods, authenticated, and held to RBAC."""

from __future__ import annotations

import pytest
from kubernetes import client

from e2e import harness
from e2e.tests import manifests

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

IN_CLUSTER_LIST_PODS = """
import os, ssl, urllib.error, urllib.request
base = '/var/run/secrets/kubernetes.io/serviceaccount'
token = open(base + '/token').read()
namespace = open(base + '/namespace').read()
url = 'https://%s:%s/api/v1/namespaces/%s/pods' % (
    os.environ['KUBERNETES_SERVICE_HOST'], os.environ['KUBERNETES_SERVICE_PORT'], namespace)
request = urllib.request.Request(url, headers={'Authorization': 'Bearer ' + token})
try:
    urllib.request.urlopen(request, context=ssl.create_default_context(cafile=base + '/ca.crt'))
    code = 200
except urllib.error.HTTPError as error:
    code = error.code
open('/dev/termination-log', 'w').write(str(code))
"""


def test_pod_token_without_permissions_gets_403(cluster: harness.Cluster, namespace: str) -> None:
    cluster.core.create_namespaced_service_account(namespace, {"metadata": {"name": "nobody"}})
    cluster.core.create_namespaced_pod(
        namespace,
        manifests.pod(
            "curious",
            manifests.container(IN_CLUSTER_LIST_PODS, env=cluster.api_env()),
            serviceAccountName="nobody",
        ),
    )

    pod = cluster.wait_pod_phase(namespace, "curious", "Succeeded", "Failed")

    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.message) == (0, "403")


def test_token_request_is_denied_by_rbac_until_granted(
    cluster: harness.Cluster, namespace: str
) -> None:
    cluster.core.create_namespaced_service_account(namespace, {"metadata": {"name": "reader"}})
    token = cluster.core.create_namespaced_service_account_token(
        "reader", namespace, {"spec": {"expirationSeconds": 600}}
    ).status.token
    configuration = client.Configuration()
    configuration.host = cluster.api_client.configuration.host
    configuration.ssl_ca_cert = cluster.api_client.configuration.ssl_ca_cert
    configuration.api_key = {"authorization": f"Bearer {token}"}
    as_reader = client.CoreV1Api(client.ApiClient(configuration))

    with pytest.raises(client.ApiException) as denied:
        as_reader.list_namespaced_pod(namespace)
    assert denied.value.status == 403

    cluster.rbac.create_namespaced_role(
        namespace,
        {
            "metadata": {"name": "pod-reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
        },
    )
    cluster.rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "reader"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "pod-reader",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
        },
    )

    def allowed() -> bool:
        # The authorizer's RBAC view follows the new binding by a watch: until then, 403.
        try:
            return as_reader.list_namespaced_pod(namespace) is not None
        except client.ApiException as exc:
            if exc.status != 403:
                raise
            return False

    harness.wait_for("the RoleBinding to apply", allowed, timeout=30)
