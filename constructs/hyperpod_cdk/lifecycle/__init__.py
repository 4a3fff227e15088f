"""Lifecycle scripts: the construct that uploads them (HyperPodLifecycleScripts) and, in the wheel,
the scripts themselves (hyperpod_cdk.lifecycle.scripts, built from the repository's lifecycle_scripts/)."""
