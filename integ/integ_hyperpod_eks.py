#!/usr/bin/env python3
"""Integration test: HyperPod on EKS with FSx (integ/configs/eks.yaml), deployed for real.

Asserts, after the deploy: the HyperPod cluster is InService, every instance group has a Running
node, and the training operator add-on is ACTIVE (EKS reports an add-on ACTIVE only when its
workloads run, so this is the operator's pod being up:
https://docs.aws.amazon.com/eks/latest/APIReference/API_Addon.html). Run: README, "Integration tests".
"""

from __future__ import annotations

from hyperpod_integ import build, cluster_in_service, nodes_running, waiting_call

TRAINING_OPERATOR = "amazon-sagemaker-hyperpod-training-operator"


def add_assertions(test, config) -> None:  # type: ignore[no-untyped-def]
    operator = waiting_call(
        test,
        "EKS",
        "describeAddon",
        {"clusterName": config.eks_config.cluster_name, "addonName": TRAINING_OPERATOR},
        "eks:DescribeAddon",
        {"addon": {"status": "ACTIVE"}},
    )
    cluster_in_service(test, config).next(nodes_running(test, config)).next(operator)


if __name__ == "__main__":
    app, _ = build("eks.yaml", add_assertions)
    app.synth()
