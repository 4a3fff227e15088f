"""SlurmAccountingDatabase: the external database a HyperPod Slurm cluster's slurmdbd writes to.

What AWS documents, and what this construct does with it:

- HyperPod connects slurmdbd to "an external MySQL-compatible database that you own, such as an
  Amazon RDS instance"; HyperPod "does not create, host, or manage the database" and the
  credentials travel in a Secrets Manager secret with the user name and password
  (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-external-accounting-db-slurm.html,
  API_ClusterAccountingDatabase). So this stack creates it.
- AWS's own accounting template (aws/sagemaker-hyperpod-cluster-setup
  ``slurm/cloudformation/slurm-accounting-db-template.yaml``) uses RDS for MariaDB, db.m5.large,
  20 GiB, port 3306, a DB subnet group over private subnets in two AZs, a security group that
  admits the cluster's security group on the database port only, an RDS-managed master secret
  (``ManageMasterUserPassword``; its ARN is ``MasterUserSecret.SecretArn``), storage encryption,
  no public access, ``DeletionPolicy``/``UpdateReplacePolicy: Snapshot`` and no deletion protection.
  The same choices here, written independently; the storage is encrypted with the platform's
  customer managed key, which the stack retains (rule HyperPod-RET1), so the final snapshot stays
  readable after ``cdk destroy``.
- Why ``Snapshot`` and not ``Retain`` (review round 15, H1): a retained instance keeps its DB subnet
  group, its security group and the subnets they name in use, RDS and EC2 refuse to delete those
  (``InvalidDBSubnetGroupStateFault``, ``DependencyViolation``), and ``cdk destroy`` ends
  ``DELETE_FAILED`` (rule HyperPod-RET4). With ``Snapshot`` CloudFormation deletes the instance after
  a final snapshot, so job history, fair-share and QOS data (the point of an external database)
  survives in the snapshot, and the network around it deletes normally
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html).
- Why no deletion protection: "The database can't be deleted when deletion protection is enabled"
  (API_CreateDBInstance, ``DeletionProtection``), CloudFormation included, so with it on the
  stack delete would fail at the instance instead. What it guards against is covered otherwise: a
  stack delete or replacement snapshots first (above), and a hand-made ``DeleteDBInstance`` must
  name a final snapshot unless it says ``SkipFinalSnapshot`` (API_DeleteDBInstance).
- The master secret is RDS-managed: "If you delete a DB instance that manages a secret in Secrets
  Manager, the secret and its associated metadata are also deleted"
  (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-secrets-manager.html), so it cannot
  be kept. A restored snapshot keeps the old password; turning on ``ManageMasterUserPassword`` on
  the restored instance makes RDS set a new one in a new secret (API_ModifyDBInstance);
  docs/deploy.md, "What stays after cdk destroy", has the steps.
- "The database must be reachable from the subnets and security groups that you configure for
  the cluster" (API_ClusterAccountingDatabase): the only security group HyperPod gives the controller
  is the node security group, so the ingress rule names that group; a narrower rule ("the
  controller only") would need the controller's address, which is not known before it exists.
"""

from __future__ import annotations

from typing import Unpack

from aws_cdk import CfnDeletionPolicy, Stack, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from constructs import Construct

from hyperpod_cdk._cdk_util import closed_security_group
from hyperpod_cdk.errors import HyperPodConfigError, checked_props, typed_props
from hyperpod_cdk.network.placement import VpcPlacementProps
from hyperpod_cdk.rules.acknowledge import acknowledge
from hyperpod_cdk.rules.suppress import skip_checkov

__all__ = ["DEFAULT_PORT", "SlurmAccountingDatabase"]

DEFAULT_PORT = 3306
ENGINE = "mariadb"  # AWS's accounting template; Slurm's accounting storage supports MySQL/MariaDB.


@typed_props
class SlurmAccountingDatabase(Construct):
    """An RDS for MariaDB instance for Slurm accounting, open to the HyperPod nodes on its port only.

    On stack delete and on replacement CloudFormation deletes the instance after a final snapshot
    (``Snapshot`` policies, like AWS's template), and automated backups are kept ``backup_retention_days``
    while it runs. :attr:`endpoint` (the instance's address),
    :attr:`port` and :attr:`secret_arn` (the RDS-managed master secret) go into
    ``Orchestrator.Slurm.AccountingDatabase``.

    Args:
        vpc, subnets: :class:`~hyperpod_cdk.network.placement.VpcPlacementProps`: the platform VPC and
            private subnets in at least two AZs (an RDS DB subnet group needs two).
        node_security_group: the HyperPod node security group (the controller's only group).
        encryption_key: customer managed key for the storage.
        instance_type: RDS instance class (default db.m5.large, as AWS's template).
        allocated_storage_gib: 20 (default) to 65536 GiB of gp3.
        backup_retention_days: 1-35 (default 7).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        node_security_group: ec2.ISecurityGroup,
        encryption_key: kms.IKey,
        instance_type: str = "db.m5.large",
        allocated_storage_gib: int = 20,
        backup_retention_days: int = 7,
        **placement: Unpack[VpcPlacementProps],
    ) -> None:
        vpc, subnets = placement["vpc"], placement["subnets"]
        with checked_props(scope, construct_id):
            azs = {s.availability_zone for s in subnets}
            if len(subnets) < 2 or (not any(Token.is_unresolved(a) for a in azs) and len(azs) < 2):
                raise HyperPodConfigError("subnets", "an RDS DB subnet group needs private subnets in at least two AZs")
            if not 20 <= allocated_storage_gib <= 65536:
                raise HyperPodConfigError("allocated_storage_gib", "must be 20-65536 GiB")
            if not 1 <= backup_retention_days <= 35:
                raise HyperPodConfigError("backup_retention_days", "must be 1-35 days")
        super().__init__(scope, construct_id)
        self.port = DEFAULT_PORT
        subnet_group = rds.CfnDBSubnetGroup(
            self,
            "SubnetGroup",
            db_subnet_group_description="Slurm accounting database (HyperPod)",
            subnet_ids=[s.subnet_id for s in subnets],
        )
        self.security_group = closed_security_group(
            self, vpc, "Slurm accounting database: MariaDB port from the HyperPod nodes only"
        )
        self.security_group.add_ingress_rule(
            node_security_group, ec2.Port.tcp(self.port), "slurmdbd on the HyperPod controller"
        )
        self.resource = rds.CfnDBInstance(
            self,
            "Resource",
            engine=ENGINE,
            db_instance_class=instance_type,
            allocated_storage=str(allocated_storage_gib),
            storage_type="gp3",
            db_subnet_group_name=subnet_group.ref,
            vpc_security_groups=[self.security_group.security_group_id],
            port=str(self.port),
            master_username="slurmadmin",
            # RDS creates and rotates the secret; HyperPod reads user name and password from it.
            manage_master_user_password=True,
            # The secret with the platform's customer managed key, not aws/secretsmanager: who may decrypt the
            # password is then in the key's and the readers' policies (grant_read_secret) (review M4).
            master_user_secret=rds.CfnDBInstance.MasterUserSecretProperty(kms_key_id=encryption_key.key_arn),
            storage_encrypted=True,
            kms_key_id=encryption_key.key_arn,
            publicly_accessible=False,
            # Off, as in AWS's template: it would make CloudFormation's delete fail (module docstring).
            deletion_protection=False,
            backup_retention_period=backup_retention_days,
            copy_tags_to_snapshot=True,
            auto_minor_version_upgrade=True,
        )
        # Accounting history survives stack delete and replacement in a final snapshot; the instance
        # itself goes, so its subnet group and security group can too (aws/sagemaker-hyperpod-cluster-setup
        # slurm/cloudformation/slurm-accounting-db-template.yaml, AccountingDbInstance: Snapshot/Snapshot).
        self.resource.cfn_options.deletion_policy = CfnDeletionPolicy.SNAPSHOT
        self.resource.cfn_options.update_replace_policy = CfnDeletionPolicy.SNAPSHOT
        self.endpoint = self.resource.attr_endpoint_address
        self.secret_arn = self.resource.attr_master_user_secret_secret_arn
        self._key = encryption_key
        acknowledge(
            self.resource,
            "AwsSolutions-RDS3",
            "single-AZ like AWS's own HyperPod accounting template; slurmctld queues records while "
            "slurmdbd is unreachable, and backups are on",
        )
        acknowledge(
            self.resource,
            "AwsSolutions-RDS11",
            "the standard MariaDB port is what HyperPod's AccountingDatabase.Port defaults to; the "
            "security group admits only the HyperPod nodes",
        )
        acknowledge(
            self.resource,
            "AwsSolutions-RDS10",
            "deletion protection would make cdk destroy fail at the instance; DeletionPolicy and "
            "UpdateReplacePolicy Snapshot keep the data in a final snapshot, as AWS's accounting template does",
        )
        skip_checkov(
            self.resource,
            "CKV_AWS_293",
            "deletion protection would make cdk destroy fail; Snapshot policies keep the data in a final snapshot",
        )
        acknowledge(
            self.resource,
            "AwsSolutions-SMG4",
            "the master secret is managed and rotated by RDS (ManageMasterUserPassword)",
        )

    def grant_read_secret(self, grantee: iam.IGrantable) -> None:
        """``secretsmanager:GetSecretValue`` on the managed secret (for the Controller group's role only:
        slurmdbd runs there), and ``kms:Decrypt`` on its key only through Secrets Manager for this secret
        (the encryption context Secrets Manager uses is ``SecretARN``:
        https://docs.aws.amazon.com/secretsmanager/latest/userguide/
        security-encryption.html)."""
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            resource_arns=[self.secret_arn],
        )
        stack = Stack.of(self)
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                sid="AccountingSecretKey",
                actions=["kms:Decrypt"],
                resources=[self._key.key_arn],
                conditions={
                    "StringEquals": {
                        "kms:ViaService": f"secretsmanager.{stack.region}.amazonaws.com",
                        "kms:EncryptionContext:SecretARN": self.secret_arn,
                    }
                },
            )
        )
