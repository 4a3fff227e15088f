"""Shared storage: FSx for Lustre (HyperPodFsxLustre)."""
