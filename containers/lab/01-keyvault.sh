#!/usr/bin/env bash
# 1. The resource group and a Key Vault with RBAC authorization; the signed-in user becomes
#    Key Vault Secrets Officer and adds the demo secrets (random values, never printed).
set -euo pipefail
LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=00-variables.sh
source "$LAB_DIR/00-variables.sh"

say "resource group $RESOURCE_GROUP in $LOCATION"
az group create --subscription "$SUBSCRIPTION_ID" --name "$RESOURCE_GROUP" --location "$LOCATION" -o none

if az keyvault show --subscription "$SUBSCRIPTION_ID" --resource-group "$RESOURCE_GROUP" --name "$KEYVAULT_NAME" \
  -o none 2>/dev/null; then
  say "Key Vault $KEYVAULT_NAME exists"
else
  say "Key Vault $KEYVAULT_NAME (RBAC authorization)"
  az keyvault create --subscription "$SUBSCRIPTION_ID" --resource-group "$RESOURCE_GROUP" --name "$KEYVAULT_NAME" \
    --location "$LOCATION" --enable-rbac-authorization true -o none
fi
vault_id=$(az keyvault show --subscription "$SUBSCRIPTION_ID" --resource-group "$RESOURCE_GROUP" \
  --name "$KEYVAULT_NAME" --query id -o tsv)

# Set OPERATOR_OBJECT_ID (and OPERATOR_PRINCIPAL_TYPE=ServicePrincipal) when signed in as a service principal.
if [[ -z "${OPERATOR_OBJECT_ID:-}" ]]; then
  OPERATOR_OBJECT_ID=$(az ad signed-in-user show --query id -o tsv)
fi
say "Key Vault Secrets Officer on $KEYVAULT_NAME for $OPERATOR_OBJECT_ID"
az role assignment create --subscription "$SUBSCRIPTION_ID" --assignee-object-id "$OPERATOR_OBJECT_ID" \
  --assignee-principal-type "${OPERATOR_PRINCIPAL_TYPE:-User}" --role "Key Vault Secrets Officer" \
  --scope "$vault_id" -o none

for name in $DEMO_SECRETS; do
  value=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  say "secret $name"
  # -o none: `az keyvault secret set` would otherwise print the value.
  retry az keyvault secret set --vault-name "$KEYVAULT_NAME" --name "$name" --value "$value" -o none
done
say "done: $KEYVAULT_NAME holds $DEMO_SECRETS"
