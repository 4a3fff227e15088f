#!/usr/bin/env python3
"""Integration test: HyperPod on Slurm with FSx (integ/configs/slurm.yaml), deployed for real.

Asserts, after the deploy: the HyperPod cluster is InService and the controller, login and compute
groups each have a Running node (API-driven Slurm: HyperPod's SlurmConfig setup, the /fsx mount from
InstanceStorageConfigs and the slurm_api lifecycle script included, since a node whose setup fails
never runs). Run: README, "Integration tests".
"""

from __future__ import annotations

from hyperpod_integ import build, cluster_in_service, nodes_running


def add_assertions(test, config) -> None:  # type: ignore[no-untyped-def]
    cluster_in_service(test, config).next(nodes_running(test, config))


if __name__ == "__main__":
    app, _ = build("slurm.yaml", add_assertions)
    app.synth()
