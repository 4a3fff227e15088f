#!/usr/bin/env bash
# Build and push a training image to the platform's ECR repository, or print that registry.
#   images/image.sh registry CONFIG          -> <account>.dkr.ecr.<region>.amazonaws.com/<name>/
#   images/image.sh push CONFIG fsdp|neuron  -> builds images/<variant>, pushes <registry>fsdp:<tag>
# Needs the AWS CLI and credentials; `push` also needs Docker with buildx. The registry comes from
# the stack output TrainingImageRegistry (REGISTRY=... overrides it).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
py="${PY:-python3}"

platform() {  # prints "<stack name> <region>" for the config
  "$py" -c 'import sys
from hyperpod_cdk.config import load_config
c = load_config(sys.argv[1])
print(f"{c.name}-platform {c.region}")' "$1"
}

registry() {
  local stack region value
  if [[ -n "${REGISTRY:-}" ]]; then
    value="$REGISTRY"
  else
    read -r stack region < <(platform "$1")
    value="$(aws cloudformation describe-stacks --region "$region" --stack-name "$stack" \
      --query "Stacks[0].Outputs[?OutputKey=='TrainingImageRegistry'].OutputValue" --output text)"
    if [[ -z "$value" || "$value" == "None" ]]; then
      echo "error: stack $stack has no TrainingImageRegistry output (kubernetes.examples.image_repository: true, then make deploy)" >&2
      exit 1
    fi
  fi
  # `make jobs` writes this into YAML in front of "fsdp:<tag>": a host[:port] and path ending in "/",
  # nothing else (an empty or odd value made a Docker Hub short name; review round 8, tools, L4).
  if [[ ! "$value" =~ ^[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._-]+)*/$ ]]; then
    echo "error: registry '$value' is not <host>/<path>/ (fix REGISTRY or the stack output TrainingImageRegistry)" >&2
    exit 2
  fi
  echo "$value"
}

push() {
  local config="$1" variant="$2" tag
  case "$variant" in
    fsdp) tag="pytorch2.7.1" ;;
    neuron) tag="neuronx-llama3" ;;
    *) echo "error: IMAGE must be fsdp or neuron (got '$variant')" >&2; exit 2 ;;
  esac
  local reg host region
  reg="$(registry "$config")"
  host="${reg%%/*}"
  # The ECR password goes only to an ECR registry host (<account>.dkr.ecr.<region>.amazonaws.com[.cn],
  # the pattern of specs/images.py ECR_REGISTRY): a mistyped or planted REGISTRY would otherwise
  # receive a 12-hour ECR token (fifth review, L6).
  if [[ ! "$host" =~ ^[0-9]{12}\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$ ]]; then
    echo "error: registry host '$host' is not an ECR registry (<account>.dkr.ecr.<region>.amazonaws.com); fix REGISTRY or the stack output" >&2
    exit 2
  fi
  region="${BASH_REMATCH[1]}"
  aws ecr get-login-password --region "$region" | docker login --username AWS --password-stdin "$host"
  if [[ "$variant" == neuron ]]; then
    # The Neuron DLC lives in AWS's DLC account; pulling it needs a login there too.
    aws ecr get-login-password --region us-east-2 \
      | docker login --username AWS --password-stdin 763104351884.dkr.ecr.us-east-2.amazonaws.com
  fi
  # HyperPod GPU and Trainium nodes are x86_64. Tags are immutable: a rebuild needs a new tag (TAG=...).
  docker buildx build --platform linux/amd64 --push -t "${reg}fsdp:${TAG:-$tag}" "$here/$variant"
  echo "pushed ${reg}fsdp:${TAG:-$tag}"
}

case "${1:-}" in
  registry) registry "${2:?config}" ;;
  push) push "${2:?config}" "${3:-fsdp}" ;;
  *) echo "usage: $0 registry CONFIG | push CONFIG [fsdp|neuron]" >&2; exit 2 ;;
esac
