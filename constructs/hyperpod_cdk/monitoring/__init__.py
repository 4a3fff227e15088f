"""AWS-side monitoring resources: the Amazon Managed Prometheus and Grafana workspaces."""
