#!/usr/bin/env bash
# 99. Undo the lab: the namespace, the federated credential, the identity, the vault (purged, so
#     its name can be used again) and the resource group. Asks first unless YES=1.
set -euo pipefail
LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=00-variables.sh
source "$LAB_DIR/00-variables.sh"
: "${PURGE_VAULT:=1}"

if [[ "${YES:-}" != 1 ]]; then
  echo "This deletes namespace $NAMESPACE ($KUBE_CONTEXT), federated credential $FEDERATED_CREDENTIAL_NAME," \
    "identity $IDENTITY_NAME, Key Vault $KEYVAULT_NAME and resource group $RESOURCE_GROUP with all it holds."
  if [[ "$AKS_RESOURCE_GROUP" == "$RESOURCE_GROUP" ]]; then
    echo "The AKS cluster $AKS_CLUSTER is in $RESOURCE_GROUP too: it goes with it."
  fi
  answer=
  read -r -p "Delete? [y/N] " answer || true
  if [[ "$answer" != y && "$answer" != Y && "$answer" != yes ]]; then
    die "nothing deleted"
  fi
fi

if kubectl config get-contexts "$KUBE_CONTEXT" >/dev/null 2>&1; then
  say "namespace $NAMESPACE"
  kubectl --context "$KUBE_CONTEXT" delete namespace "$NAMESPACE" --ignore-not-found
else
  say "no kubeconfig context $KUBE_CONTEXT: namespace $NAMESPACE left alone"
fi

if az identity show --subscription "$SUBSCRIPTION_ID" --resource-group "$RESOURCE_GROUP" --name "$IDENTITY_NAME" \
  -o none 2>/dev/null; then
  if az identity federated-credential show --subscription "$SUBSCRIPTION_ID" --resource-group "$RESOURCE_GROUP" \
    --identity-name "$IDENTITY_NAME" --name "$FEDERATED_CREDENTIAL_NAME" -o none 2>/dev/null; then
    say "federated credential $FEDERATED_CREDENTIAL_NAME"
    az identity federated-credential delete --subscription "$SUBSCRIPTION_ID" --resource-group "$RESOURCE_GROUP" \
      --identity-name "$IDENTITY_NAME" --name "$FEDERATED_CREDENTIAL_NAME" --yes
  fi
  say "identity $IDENTITY_NAME"
  az identity delete --subscription "$SUBSCRIPTION_ID" --resource-group "$RESOURCE_GROUP" --name "$IDENTITY_NAME"
fi

if az keyvault show --subscription "$SUBSCRIPTION_ID" --resource-group "$RESOURCE_GROUP" --name "$KEYVAULT_NAME" \
  -o none 2>/dev/null; then
  say "Key Vault $KEYVAULT_NAME"
  az keyvault delete --subscription "$SUBSCRIPTION_ID" --resource-group "$RESOURCE_GROUP" --name "$KEYVAULT_NAME"
  if [[ "$PURGE_VAULT" == 1 ]]; then
    # A deleted vault keeps its name for 90 days unless purged.
    az keyvault purge --subscription "$SUBSCRIPTION_ID" --name "$KEYVAULT_NAME" --location "$LOCATION"
  fi
fi

group_exists=$(az group exists --subscription "$SUBSCRIPTION_ID" --name "$RESOURCE_GROUP")
if [[ "$group_exists" == true ]]; then
  say "resource group $RESOURCE_GROUP (deleted in the background)"
  az group delete --subscription "$SUBSCRIPTION_ID" --name "$RESOURCE_GROUP" --yes --no-wait
fi
say "done"
