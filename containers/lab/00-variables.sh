#!/usr/bin/env bash
# The lab's names, each overridable from the environment (RESOURCE_GROUP=my-rg ./01-keyvault.sh).
# Sourced by every numbered script, which has already set -euo pipefail: a failing `az` lookup
# below stops the script that sourced this file. Sourced into an interactive shell (to see or
# reuse the names), it leaves that shell's options alone.
[[ $- == *i* ]] || set -euo pipefail

: "${RESOURCE_GROUP:=kvfs-lab}"                    # holds the vault and the identity
: "${LOCATION:=westeurope}"
: "${AKS_CLUSTER:=kvfs-lab-aks}"                   # an existing cluster: --enable-oidc-issuer --enable-workload-identity
: "${AKS_RESOURCE_GROUP:=$RESOURCE_GROUP}"         # the cluster's resource group
: "${KUBE_CONTEXT:=$AKS_CLUSTER}"                  # the context 03-deploy.sh writes to your kubeconfig
: "${IDENTITY_NAME:=kvfs-lab-identity}"            # the user-assigned managed identity kvfs signs in as
: "${NAMESPACE:=kvfs-lab}"
: "${SERVICE_ACCOUNT:=app}"                        # sidecar.yaml's ServiceAccount is `app`
: "${FEDERATED_CREDENTIAL_NAME:=kvfs-lab-federated}"
: "${IMAGE:=kvfs:latest}"                          # an image of kvfs the cluster can pull
: "${DEMO_SECRETS:=db-password api-key}"           # sidecar.yaml's class mounts db-password
: "${WAIT_TIMEOUT:=300s}"                          # for the pod to become Ready
: "${RETRY_ATTEMPTS:=30}"                          # role assignments take minutes to reach the vault
: "${RETRY_DELAY:=10}"                             # seconds between attempts

# Looked up only when not given. A plain assignment, so that a failing `az` stops the script.
if [[ -z "${SUBSCRIPTION_ID:-}" ]]; then
  SUBSCRIPTION_ID=$(az account show --query id -o tsv)
fi
if [[ -z "${TENANT_ID:-}" ]]; then
  TENANT_ID=$(az account show --subscription "$SUBSCRIPTION_ID" --query tenantId -o tsv)
fi
# Vault names are global (3-24 characters): the subscription's first 8 hex digits make a collision unlikely.
: "${KEYVAULT_NAME:=kvfslab-${SUBSCRIPTION_ID:0:8}}"

export RESOURCE_GROUP LOCATION AKS_CLUSTER AKS_RESOURCE_GROUP KUBE_CONTEXT IDENTITY_NAME NAMESPACE SERVICE_ACCOUNT \
  FEDERATED_CREDENTIAL_NAME IMAGE DEMO_SECRETS WAIT_TIMEOUT RETRY_ATTEMPTS RETRY_DELAY SUBSCRIPTION_ID TENANT_ID \
  KEYVAULT_NAME

say() {
  printf '==> %s\n' "$*" >&2
}

die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# retry COMMAND...: run COMMAND until it succeeds, at most RETRY_ATTEMPTS times, RETRY_DELAY seconds apart.
retry() {
  local attempt=1
  until "$@"; do
    if ((attempt >= RETRY_ATTEMPTS)); then
      return 1
    fi
    say "attempt $attempt of $RETRY_ATTEMPTS failed (Azure RBAC may still be propagating); again in ${RETRY_DELAY}s"
    sleep "$RETRY_DELAY"
    attempt=$((attempt + 1))
  done
}
