"""Where each Prometheus metric the alert rules and dashboards use comes from (checked 2026-12-06).

The HyperPod observability add-on scrapes DCGM exporter, node exporter (with its Amazon EFA
collector), kube-state-metrics, cAdvisor, the training operator and the inference operator; AWS's
own dashboards and alert rules for the add-on name these metrics.
"""

from __future__ import annotations

_AWS = (
    "aws/sagemaker-hyperpod-cluster-setup@b920fcf4 "
    "eks/cloudformation/resources/grafana-lambda-function/lambda_function"
)
CLUSTER_DASHBOARD = f"{_AWS}/dashboards/templates/cluster.json"
TRAINING_DASHBOARD = f"{_AWS}/dashboards/templates/training.json"
TASKS_DASHBOARD = f"{_AWS}/dashboards/templates/tasks.json"
INFERENCE_DASHBOARD = f"{_AWS}/dashboards/templates/inference.json"
AWS_ALERT_RULES = f"{_AWS}/rules/templates/alert-rules.yaml"
KSM_NODE = "kubernetes/kube-state-metrics docs/metrics/cluster/node-metrics.md (STABLE)"
KSM_POD = "kubernetes/kube-state-metrics docs/metrics/workload/pod-metrics.md (STABLE)"
INFERENCE_DOC = "https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-model-deployment-observability.html"

METRIC_SOURCES: dict[str, str] = {
    "DCGM_FI_DEV_XID_ERRORS": CLUSTER_DASHBOARD,
    "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS": CLUSTER_DASHBOARD,
    "DCGM_FI_DEV_ROW_REMAP_FAILURE": CLUSTER_DASHBOARD,
    "DCGM_FI_DEV_GPU_UTIL": CLUSTER_DASHBOARD,
    "DCGM_FI_DEV_FB_USED": CLUSTER_DASHBOARD,
    "DCGM_FI_DEV_GPU_TEMP": CLUSTER_DASHBOARD,
    "DCGM_FI_DEV_POWER_USAGE": CLUSTER_DASHBOARD,
    "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": CLUSTER_DASHBOARD,
    "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL": AWS_ALERT_RULES,
    "node_cpu_seconds_total": CLUSTER_DASHBOARD,
    "node_filesystem_avail_bytes": CLUSTER_DASHBOARD,
    "node_amazonefa_rx_drops": CLUSTER_DASHBOARD,
    "node_amazonefa_rdma_read_wr_err": CLUSTER_DASHBOARD,
    "node_amazonefa_tx_bytes": CLUSTER_DASHBOARD,
    "node_amazonefa_recv_bytes": CLUSTER_DASHBOARD,
    "kube_node_status_condition": KSM_NODE,
    "kube_node_spec_unschedulable": KSM_NODE,
    "kube_pod_container_status_restarts_total": KSM_POD,
    "hyperpod_training_operator_jobs_restarted_total": TRAINING_DASHBOARD,
    "hyperpod_training_operator_jobs_failed_total": TRAINING_DASHBOARD,
    "hyperpod_training_operator_jobs_created_total": TRAINING_DASHBOARD,
    "hyperpod_training_operator_jobs_successful_total": TRAINING_DASHBOARD,
    "container_cpu_usage_seconds_total": TASKS_DASHBOARD,
    "container_memory_working_set_bytes": TASKS_DASHBOARD,
    "model_invocations_total": INFERENCE_DOC,
    "model_errors_total": INFERENCE_DOC,
    "model_concurrent_requests": INFERENCE_DOC,
    "model_latency_milliseconds_bucket": INFERENCE_DOC,
    "model_ttfb_milliseconds_bucket": INFERENCE_DOC,
}
