"""This repository's CDK app: stacks composed from the hyperpod_cdk library."""
