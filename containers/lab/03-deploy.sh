#!/usr/bin/env bash
# 3. kvfs's own manifest (containers/kubernetes/sidecar.yaml) rendered for the lab: the vault, the
#    tenant, the identity's client id and the image replace its placeholders; then wait for the pod.
set -euo pipefail
LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=00-variables.sh
source "$LAB_DIR/00-variables.sh"
: "${MANIFEST:=$LAB_DIR/../kubernetes/sidecar.yaml}"

# The manifest's ServiceAccount, which the federated credential's subject must name.
if [[ "$SERVICE_ACCOUNT" != app ]]; then
  die "sidecar.yaml's ServiceAccount is 'app', not SERVICE_ACCOUNT=$SERVICE_ACCOUNT (02-identity.sh trusts that one)"
fi
if [[ "$IMAGE" == kvfs:latest ]]; then
  say "IMAGE is kvfs:latest: the cluster must be able to pull it (push kvfs to a registry and set IMAGE)"
fi

client_id=$(az identity show --subscription "$SUBSCRIPTION_ID" --resource-group "$RESOURCE_GROUP" \
  --name "$IDENTITY_NAME" --query clientId -o tsv)

say "credentials for $AKS_CLUSTER (context $KUBE_CONTEXT)"
az aks get-credentials --subscription "$SUBSCRIPTION_ID" --resource-group "$AKS_RESOURCE_GROUP" --name "$AKS_CLUSTER" \
  --context "$KUBE_CONTEXT" --overwrite-existing

if ! kubectl --context "$KUBE_CONTEXT" get namespace "$NAMESPACE" -o name >/dev/null 2>&1; then
  say "namespace $NAMESPACE"
  kubectl --context "$KUBE_CONTEXT" create namespace "$NAMESPACE"
fi

# A sed replacement string treats \, & and the delimiter specially.
sed_escape() {
  printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'
}

say "applying $MANIFEST for vault $KEYVAULT_NAME, tenant $TENANT_ID, client id $client_id, image $IMAGE"
sed -e "s|my-vault|$(sed_escape "$KEYVAULT_NAME")|g" \
  -e "s|00000000-0000-0000-0000-000000000000|$(sed_escape "$TENANT_ID")|g" \
  -e "s|11111111-1111-1111-1111-111111111111|$(sed_escape "$client_id")|g" \
  -e "s|kvfs:latest|$(sed_escape "$IMAGE")|g" \
  "$MANIFEST" | kubectl --context "$KUBE_CONTEXT" apply -n "$NAMESPACE" -f -

say "waiting up to $WAIT_TIMEOUT for pod/app (Ready once kvfs has mounted every object)"
if ! kubectl --context "$KUBE_CONTEXT" wait -n "$NAMESPACE" --for=condition=Ready pod/app --timeout="$WAIT_TIMEOUT"; then
  # kvfs's log names the object or the sign-in at fault; the app's log is not shown (it prints a secret).
  kubectl --context "$KUBE_CONTEXT" describe -n "$NAMESPACE" pod/app >&2 || true
  kubectl --context "$KUBE_CONTEXT" logs -n "$NAMESPACE" pod/app -c kvfs --tail=50 >&2 || true
  die "pod/app in $NAMESPACE is not Ready"
fi
say "done: ./04-list-secrets.sh shows what the app sees"
