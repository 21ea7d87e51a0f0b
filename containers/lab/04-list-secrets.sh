#!/usr/bin/env bash
# 4. What the application container sees under /kv/secrets: names, modes, owners and sizes,
#    never the values.
set -euo pipefail
LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=00-variables.sh
source "$LAB_DIR/00-variables.sh"

listing=$(kubectl --context "$KUBE_CONTEXT" exec -n "$NAMESPACE" app -c app -- ls -l /kv/secrets)
printf '%s\n' "$listing"
printf '\n%s\n' "sizes:"
# `ls -l` columns: mode, links, owner, group, size, then three of date and time, then the name.
printf '%s\n' "$listing" | awk '
  /^[-d]/ {
    kind = substr($1, 1, 1); size = $5
    for (i = 0; i < 8; i++) sub(/^[^ ]+ +/, "")
    if (kind == "d") printf "  %s/\t(folder)\n", $0
    else printf "  %s\t%s bytes\n", $0, size
  }'
