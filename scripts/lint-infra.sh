#!/usr/bin/env bash
# Lint the AWS SAM template (infra/template.yaml) with `sam validate --lint`
# and `cfn-lint`. Works offline: the AWS settings below are dummies that only
# satisfy the tools' need for a region and credentials.
#
# Usage: scripts/lint-infra.sh
#   VENV_BIN  directory holding the `sam` and `cfn-lint` executables
#             (default: .venv/bin, relative to the repository root)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

venv_bin="${VENV_BIN:-.venv/bin}"
template="infra/template.yaml"

for tool in sam cfn-lint; do
    if [[ ! -x "$venv_bin/$tool" ]]; then
        echo "error: $venv_bin/$tool not found (set VENV_BIN to the directory holding sam and cfn-lint)" >&2
        exit 1
    fi
done

export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_DEFAULT_REGION=us-east-1
export SAM_CLI_TELEMETRY=0

# sam prints "<path> is a valid SAM Template" on success; show its output
# only when it fails.
if ! sam_output="$("$venv_bin/sam" validate --lint --template "$template" 2>&1)"; then
    printf '%s\n' "$sam_output" >&2
    echo "error: sam validate --lint $template failed" >&2
    exit 1
fi
echo "ok: sam validate --lint $template"

"$venv_bin/cfn-lint" "$template"
echo "ok: cfn-lint $template"
