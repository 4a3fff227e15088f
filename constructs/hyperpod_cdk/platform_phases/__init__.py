"""The phases :class:`~hyperpod_cdk.platform.HyperPodPlatform` builds in order, one module each."""
