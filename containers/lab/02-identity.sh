#!/usr/bin/env bash
# 2. The user-assigned managed identity kvfs signs in as: Key Vault Secrets User on the vault, and
#    a federated credential trusting the cluster's service account token.
set -euo pipefail
LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=00-variables.sh
source "$LAB_DIR/00-variables.sh"

say "managed identity $IDENTITY_NAME"
az identity create --subscription "$SUBSCRIPTION_ID" --resource-group "$RESOURCE_GROUP" --name "$IDENTITY_NAME" \
  --location "$LOCATION" -o none
client_id=$(az identity show --subscription "$SUBSCRIPTION_ID" --resource-group "$RESOURCE_GROUP" \
  --name "$IDENTITY_NAME" --query clientId -o tsv)
principal_id=$(az identity show --subscription "$SUBSCRIPTION_ID" --resource-group "$RESOURCE_GROUP" \
  --name "$IDENTITY_NAME" --query principalId -o tsv)
vault_id=$(az keyvault show --subscription "$SUBSCRIPTION_ID" --resource-group "$RESOURCE_GROUP" \
  --name "$KEYVAULT_NAME" --query id -o tsv)

say "Key Vault Secrets User on $KEYVAULT_NAME for $IDENTITY_NAME (client id $client_id)"
# The principal type spares a Microsoft Graph lookup, which fails while a new identity replicates.
az role assignment create --subscription "$SUBSCRIPTION_ID" --assignee-object-id "$principal_id" \
  --assignee-principal-type ServicePrincipal --role "Key Vault Secrets User" --scope "$vault_id" -o none

issuer=$(az aks show --subscription "$SUBSCRIPTION_ID" --resource-group "$AKS_RESOURCE_GROUP" --name "$AKS_CLUSTER" \
  --query oidcIssuerProfile.issuerUrl -o tsv)
if [[ -z "$issuer" ]]; then
  die "$AKS_CLUSTER has no OIDC issuer: az aks update -g $AKS_RESOURCE_GROUP -n $AKS_CLUSTER --enable-oidc-issuer --enable-workload-identity"
fi
workload_identity=$(az aks show --subscription "$SUBSCRIPTION_ID" --resource-group "$AKS_RESOURCE_GROUP" \
  --name "$AKS_CLUSTER" --query securityProfile.workloadIdentity.enabled -o tsv)
if [[ "$workload_identity" != true ]]; then
  die "$AKS_CLUSTER has no workload identity webhook: az aks update -g $AKS_RESOURCE_GROUP -n $AKS_CLUSTER --enable-workload-identity"
fi

subject="system:serviceaccount:${NAMESPACE}:${SERVICE_ACCOUNT}"
say "federated credential $FEDERATED_CREDENTIAL_NAME: $issuer, $subject"
az identity federated-credential create --subscription "$SUBSCRIPTION_ID" --resource-group "$RESOURCE_GROUP" \
  --identity-name "$IDENTITY_NAME" --name "$FEDERATED_CREDENTIAL_NAME" --issuer "$issuer" --subject "$subject" \
  --audiences api://AzureADTokenExchange -o none
say "done: client id $client_id"
