"""EKS authentication shared by the Lambda handlers and the ops CLI: a bearer token and a kubeconfig.

Standard library only (the boto3 session is passed in), so that the synth copies this one file into
each handler's asset (``hyperpod_cdk.kubernetes.handler_assets``) and the CLI imports it from the
package. Presigning is local: no request is sent.

Token format: ``k8s-aws-v1.`` + base64url (unpadded) of a presigned STS ``GetCallerIdentity`` URL whose
signed headers include ``x-k8s-aws-id: <cluster name>``, which is what the EKS authenticator checks
(https://github.com/kubernetes-sigs/aws-iam-authenticator#api-authorization-from-outside-a-cluster).
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

# What `aws eks get-token` presigns with; EKS accepts such a token for 15 minutes after signing.
TOKEN_EXPIRES_SECONDS = 60
CLUSTER_ID_HEADER = "x-k8s-aws-id"
TOKEN_PREFIX = "k8s-aws-v1."


def eks_token(session: Any, cluster_name: str, region: str) -> str:
    """A Kubernetes bearer token for the EKS cluster ``cluster_name`` (``session``: a boto3 Session)."""
    sts = session.client("sts", region_name=region)

    def add_cluster_header(request: Any, **_: Any) -> None:
        request.headers[CLUSTER_ID_HEADER] = cluster_name

    sts.meta.events.register_first("before-sign.sts.GetCallerIdentity", add_cluster_header)
    url = sts.generate_presigned_url(
        "get_caller_identity", Params={}, ExpiresIn=TOKEN_EXPIRES_SECONDS, HttpMethod="GET"
    )
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode("utf-8")).decode("ascii").rstrip("=")


def write_kubeconfig(
    path: Path, *, cluster_name: str, endpoint: str, ca_data: str, token: str, user: str = "hyperpod-cdk"
) -> Path:
    """A kubeconfig (JSON is valid YAML) readable only by this process's user (mode 0600)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": user}}],
        "current-context": cluster_name,
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(config, out)
    return path
