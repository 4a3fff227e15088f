"""The ``slurm:`` section of the platform config (orchestrator: slurm only).

How HyperPod learns the Slurm layout, and what it does with ``slurm.conf``:

- ``configuration: api`` (default): ``Orchestrator.Slurm`` on the cluster and ``SlurmConfig``
  per instance group; HyperPod builds ``slurm.conf`` and mounts FSx itself. AWS recommends it for
  new clusters and keeps ``provisioning_parameters.json`` as the legacy path "for existing clusters;
  backward compatibility"
  (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-ref.html#sagemaker-hyperpod-ref-slurm-configuration).
- ``configuration: provisioning-parameters``: the legacy lifecycle-script path, for clusters
  deployed before; ``Orchestrator`` is create-only in ``AWS::SageMaker::Cluster``, so switching a
  running cluster through CloudFormation replaces it (docs/slurm.md, "Migrating").

``config_strategy`` defaults to ``Managed``: the API's own default and the strategy AWS describes
for "HyperPod to be the single source of truth" (same page, "Orchestrator.Slurm").
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from hyperpod_cdk.config.base import Sha256, _Model
from hyperpod_cdk.config.messages import register_hints

__all__ = ["SlurmAccounting", "SlurmContainers", "SlurmObservability", "SlurmSettings", "SlurmUser"]

# ClusterAccountingDatabase patterns (SageMaker API reference, API_ClusterAccountingDatabase).
# (The API's 1-255 length look-ahead is max_length here: pydantic's regex engine has no look-around.)
ENDPOINT_PATTERN = r"^[a-zA-Z0-9]([a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?)*$"
SECRET_ARN_PATTERN = r"^arn:aws[a-z\-]*:secretsmanager:[a-z0-9\-]*:[0-9]{12}:secret:.+$"
SCHEMA_NAME_PATTERN = r"^[a-zA-Z0-9$_]{1,64}$"
DB_INSTANCE_CLASS_PATTERN = r"^db\.[a-z0-9]+\.[a-z0-9]+$"


class SlurmAccounting(_Model):
    """Slurm accounting in an external MySQL-compatible database (``Orchestrator.Slurm.AccountingDatabase``).

    ``enabled: true`` creates an Amazon RDS for MariaDB instance here (retained with a final snapshot
    on stack delete); ``endpoint`` + ``secret_arn`` (and optionally ``name``, ``port``) import one.
    Without either, HyperPod keeps its default: MariaDB on the controller instance. AWS requires
    Continuous provisioning and AMIs released after 2026-08-30 for an external database, and a
    cluster cannot go back to the internal one
    (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-external-accounting-db-slurm.html).
    """

    enabled: bool = Field(default=False, description="Create an RDS for MariaDB accounting database in this stack.")
    instance_type: Annotated[str, Field(pattern=DB_INSTANCE_CLASS_PATTERN)] = Field(
        default="db.m5.large", description="RDS instance class (AWS's accounting template uses db.m5.large)."
    )
    allocated_storage_gib: Annotated[int, Field(ge=20, le=65536)] = Field(
        default=20, description="gp3 storage of the created database (RDS for MySQL minimum: 20 GiB)."
    )
    backup_retention_days: Annotated[int, Field(ge=1, le=35)] = Field(
        default=7, description="Automated backups of the created database."
    )
    endpoint: Annotated[str | None, Field(max_length=255, pattern=ENDPOINT_PATTERN)] = Field(
        default=None, description="Import: the database host name (e.g. an RDS endpoint)."
    )
    secret_arn: Annotated[str | None, Field(pattern=SECRET_ARN_PATTERN)] = Field(
        default=None, description="Import: the Secrets Manager secret with username and password."
    )
    name: Annotated[str | None, Field(pattern=SCHEMA_NAME_PATTERN)] = Field(
        default=None, description="Schema name; HyperPod's default is slurm_acct_db_<cluster id>."
    )
    port: Annotated[int | None, Field(ge=1, le=65535)] = Field(default=None, description="Database port (3306).")

    @model_validator(mode="after")
    def _create_or_import(self) -> SlurmAccounting:
        imported = self.endpoint is not None or self.secret_arn is not None
        if imported and (self.endpoint is None or self.secret_arn is None):
            missing = "endpoint" if self.endpoint is None else "secret_arn"
            raise ValueError(f"{missing}: importing an accounting database needs endpoint and secret_arn together")
        if imported and self.enabled:
            raise ValueError("enabled: creates a database; give endpoint/secret_arn to import one instead, not both")
        if not imported:
            for key in ("name", "port"):
                if key in self.model_fields_set and not self.enabled:
                    raise ValueError(f"{key}: set enabled: true, or endpoint and secret_arn to import a database")
        if imported:
            for key in ("instance_type", "allocated_storage_gib", "backup_retention_days"):
                if key in self.model_fields_set:
                    raise ValueError(f"{key}: only for a database created here (enabled: true)")
        return self

    @property
    def active(self) -> bool:
        """Whether the cluster gets an ``AccountingDatabase`` (created or imported)."""
        return self.enabled or self.endpoint is not None


# useradd's portable names (shadow-utils NAME_REGEX default), at most 32 characters.
USER_NAME_PATTERN = r"^[a-z_][a-z0-9_-]{0,31}$"
SSH_KEY_PATTERN = r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,3}( [^\n]*)?$"
RESERVED_USERS = ("root", "ubuntu", "slurm", "munge", "nobody")
register_hints(
    {
        USER_NAME_PATTERN: "a POSIX login name: lower-case letters, digits, _ and -, starting with a letter or _, "
        "at most 32 characters",
        SSH_KEY_PATTERN: "one OpenSSH public key line (ssh-ed25519, ssh-rsa or ecdsa-sha2-nistp256/384/521, then "
        "the base64 key and an optional comment)",
        ENDPOINT_PATTERN: "a host name (dot-separated labels of letters, digits and hyphens), such as an RDS endpoint",
        SCHEMA_NAME_PATTERN: "a database schema name: letters, digits, $ and _, at most 64 characters",
        DB_INSTANCE_CLASS_PATTERN: "an RDS instance class such as db.m5.large",
        SECRET_ARN_PATTERN: "a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)",
    }
)


class SlurmUser(_Model):
    """A POSIX user created on every Slurm node (same UID everywhere, home on FSx when there is FSx)."""

    name: Annotated[str, Field(pattern=USER_NAME_PATTERN)] = Field(description="Login name.")
    uid: Annotated[int, Field(ge=2000, le=60000)] = Field(
        description="UID and GID, 2000-60000 (above the AMI's own users, below nobody); the same on every node."
    )
    ssh_public_key: Annotated[str | None, Field(max_length=16384, pattern=SSH_KEY_PATTERN)] = Field(
        default=None, description="One OpenSSH public key for ~/.ssh/authorized_keys (ssh over an SSM session)."
    )


class SlurmContainers(_Model):
    """Containers in Slurm jobs, installed on every node by the API-driven lifecycle script."""

    enroot_pyxis: bool = Field(
        default=False,
        description="NVIDIA enroot + pyxis (srun --container-image); plugstack.conf is written where configless "
        "Slurm copies it to every node.",
    )
    docker: bool = Field(
        default=False,
        description="Docker Engine on every node; slurm.users join the docker group only with docker_users_are_root.",
    )
    docker_users_are_root: bool = Field(
        default=False,
        description="Add every slurm.users entry to the docker group. Membership of that group is root on every node "
        "(docker run -v /:/host --privileged), so it must be asked for explicitly.",
    )
    enroot_deb_sha256: dict[
        Annotated[str, Field(pattern=r"^enroot(\+caps)?_[0-9][0-9.]*-1_(amd64|arm64)\.deb$")],
        Sha256,
    ] = Field(
        default_factory=dict,
        description="sha256 of each enroot .deb (file name -> hex digest, e.g. enroot_3.4.1-1_amd64.deb and "
        "enroot+caps_3.4.1-1_amd64.deb) from the NVIDIA/enroot GitHub release. A node whose AMI has no enroot "
        "installs it only when both files of its architecture are pinned and match; otherwise it logs why and "
        "installs neither enroot nor pyxis (they would run as root unverified). Default: none pinned "
        "(current HyperPod DLAMIs ship enroot and pyxis).",
    )


class SlurmObservability(_Model):
    """Slurm metrics in Amazon Managed Service for Prometheus (monitoring/slurm_observability.py).

    The API-driven lifecycle script runs, on every node, the exporters and the collector that AWS's
    own Slurm observability scripts run (node exporter; DCGM and EFA exporters on compute nodes),
    and the collector remote-writes to an AMP workspace created here. Versions, ports and sources:
    docs/slurm.md, "Metrics".
    """

    enabled: bool = Field(default=False, description="Create the AMP workspace and run exporters + collector.")
    grafana: bool = Field(
        default=False,
        description="Also create an Amazon Managed Grafana workspace reading it (needs IAM Identity Center).",
    )

    @model_validator(mode="after")
    def _grafana_needs_metrics(self) -> SlurmObservability:
        if self.grafana and not self.enabled:
            raise ValueError("grafana: needs enabled: true (Grafana reads the AMP workspace)")
        return self


class SlurmSettings(_Model):
    """How HyperPod configures Slurm (orchestrator: slurm)."""

    configuration: Literal["api", "provisioning-parameters"] = Field(
        default="api",
        description="api: Orchestrator.Slurm and SlurmConfig per group (AWS's recommendation for new clusters). "
        "provisioning-parameters: the legacy provisioning_parameters.json, for clusters deployed that way.",
    )
    config_strategy: Literal["Managed", "Overwrite", "Merge"] = Field(
        default="Managed",
        description="configuration: api. How HyperPod treats slurm.conf: Managed (default; drift fails UpdateCluster), "
        "Overwrite (drift is overwritten), Merge (manual changes kept).",
    )
    accounting: SlurmAccounting = Field(
        default_factory=SlurmAccounting,
        description="configuration: api. External accounting database (needs hyperpod.node_provisioning_mode: "
        "Continuous); omitted: HyperPod's MariaDB on the controller.",
    )

    containers: SlurmContainers = Field(
        default_factory=SlurmContainers, description="configuration: api. enroot/pyxis and Docker (opt-in)."
    )
    observability: SlurmObservability = Field(
        default_factory=SlurmObservability,
        description="configuration: api. Node, GPU and EFA metrics to an AMP workspace (opt-in).",
    )
    users: list[SlurmUser] = Field(
        default_factory=list,
        description="configuration: api. POSIX users on every node; homes under /fsx/home with FSx, else /home.",
    )
    instance_metadata: Literal["all_users", "root_only"] = Field(
        default="all_users",
        description="Who on a node may reach the instance metadata service (169.254.169.254), and with it the "
        "execution role's credentials. root_only: an iptables owner rule installed by the lifecycle scripts; "
        "jobs then get no AWS credentials from the node (docs/slurm.md).",
    )

    @model_validator(mode="after")
    def _root_only_without_accounting(self) -> SlurmSettings:
        # slurmdbd runs as SlurmUser (maybe not root), and no AWS page says which process reads the
        # accounting secret with the controller's role (docs/slurm.md, "Who can read the database
        # password"); an IMDS rule for root only could stop accounting, so the pair is refused.
        if self.instance_metadata == "root_only" and self.accounting.active:
            raise ValueError(
                "instance_metadata: root_only cannot be combined with slurm.accounting (which process reads the "
                "database secret through IMDS is not documented); keep all_users or drop accounting"
            )
        return self

    @property
    def api_driven(self) -> bool:
        return self.configuration == "api"
