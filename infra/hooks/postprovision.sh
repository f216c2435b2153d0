#!/bin/sh
# azd postprovision hook (azure.yaml). Two jobs, both idempotent:
#  1. LOCK the time-based retention policies on the audit, checkpoint and assessment pack containers. An unlocked policy can
#     be deleted by anyone with write access to the account, so it is not WORM. Locking is IRREVERSIBLE: a
#     locked policy cannot be removed or shortened (only extended), and the storage account cannot be
#     deleted while it holds blobs still under retention. Set WARDEN_AUDIT_LOCK=false in the azd environment
#     only for a throwaway test environment (docs/deploy.md).
#  2. Print the signing key's fingerprint (SHA-256 of the DER SubjectPublicKeyInfo, as
#     remediators.audit.signing.key_fingerprint computes it) and store it in the azd environment as
#     WARDEN_SIGNING_KEY_FINGERPRINT. Bicep cannot compute it: ARM does not return a key's public half.
# Inputs are the deployment outputs azd exports: AZURE_RESOURCE_GROUP, WARDEN_STORAGE_ACCOUNT,
# WARDEN_AUDIT_CONTAINER, WARDEN_CHECKPOINT_CONTAINER, WARDEN_PACK_CONTAINER, WARDEN_SIGNING_KEY.
set -eu

: "${AZURE_RESOURCE_GROUP:?missing deployment output AZURE_RESOURCE_GROUP}"
: "${WARDEN_STORAGE_ACCOUNT:?missing deployment output WARDEN_STORAGE_ACCOUNT}"
: "${WARDEN_SIGNING_KEY:?missing deployment output WARDEN_SIGNING_KEY}"
AUDIT="${WARDEN_AUDIT_CONTAINER:-audit}"
CHECKPOINTS="${WARDEN_CHECKPOINT_CONTAINER:-audit-checkpoints}"
PACKS="${WARDEN_PACK_CONTAINER:-audit-packs}"

lock_policy() {
    container="$1"
    state=$(az storage container immutability-policy show --resource-group "$AZURE_RESOURCE_GROUP" \
        --account-name "$WARDEN_STORAGE_ACCOUNT" --container-name "$container" --query state --output tsv)
    if [ "$state" = "Locked" ]; then
        echo "retention policy on '$container' is already locked"
        return 0
    fi
    etag=$(az storage container immutability-policy show --resource-group "$AZURE_RESOURCE_GROUP" \
        --account-name "$WARDEN_STORAGE_ACCOUNT" --container-name "$container" --query etag --output tsv)
    if [ -z "$etag" ]; then
        echo "no retention policy found on '$container'; refusing to continue" >&2
        exit 1
    fi
    az storage container immutability-policy lock --resource-group "$AZURE_RESOURCE_GROUP" \
        --account-name "$WARDEN_STORAGE_ACCOUNT" --container-name "$container" --if-match "$etag" --output none
    state=$(az storage container immutability-policy show --resource-group "$AZURE_RESOURCE_GROUP" \
        --account-name "$WARDEN_STORAGE_ACCOUNT" --container-name "$container" --query state --output tsv)
    if [ "$state" != "Locked" ]; then
        echo "retention policy on '$container' is '$state' after the lock call" >&2
        exit 1
    fi
    echo "retention policy on '$container' is now LOCKED (WORM; irreversible)"
}

if [ "${WARDEN_AUDIT_LOCK:-true}" = "false" ]; then
    echo "WARDEN_AUDIT_LOCK=false: audit retention policies left UNLOCKED (not WORM). Test environments only."
else
    lock_policy "$AUDIT"
    lock_policy "$CHECKPOINTS"
    lock_policy "$PACKS"
    # ARM refuses a PUT of a locked immutability policy, so the next `azd provision` must not declare it:
    # main.parameters.json passes these to main.bicep as auditPolicyLocked (storage.bicep then skips the
    # audit and checkpoint policies) and packPolicyLocked (the pack container's). Two flags, because a
    # deployment locked before the pack container existed has the first set and must still create the second.
    if command -v azd >/dev/null 2>&1; then
        azd env set WARDEN_AUDIT_POLICY_LOCKED true
        azd env set WARDEN_PACK_POLICY_LOCKED true
    fi
fi

sha256_hex() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 "$1" | cut -d' ' -f1
    else
        openssl dgst -sha256 -r "$1" | cut -d' ' -f1
    fi
}

# base64 or base64url text (padding optional) -> bytes on stdout
b64_decode() {
    text=$(printf '%s' "$1" | tr '_-' '/+')
    case $((${#text} % 4)) in
        2) text="$text==" ;;
        3) text="$text=" ;;
    esac
    if printf 'AA==' | base64 -d >/dev/null 2>&1; then
        printf '%s' "$text" | base64 -d
    else
        printf '%s' "$text" | openssl base64 -d -A
    fi
}

# The fingerprint is SHA-256 over the DER SubjectPublicKeyInfo. For a P-256 key that is a fixed 27-byte
# header (id-ecPublicKey, prime256v1, uncompressed point 0x04) followed by X and Y, 32 bytes each, so it
# is rebuilt here from the key's public JWK without depending on any tool's key export format.
workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
if ! jwk=$(az keyvault key show --id "$WARDEN_SIGNING_KEY" --query "[key.crv, key.x, key.y]" --output tsv); then
    echo "could not read the signing key's public half: the deployer needs the 'Redis Warden Signing Key" >&2
    echo "Reader' role (set AZURE_PRINCIPAL_ID and provision again); see docs/deploy.md" >&2
    exit 1
fi
# shellcheck disable=SC2086
set -- $jwk
if [ "$#" -ne 3 ] || [ "$1" != "P-256" ]; then
    echo "the signing key is not an EC P-256 key (got: $jwk)" >&2
    exit 1
fi
b64_decode "$2" >"$workdir/x"
b64_decode "$3" >"$workdir/y"
if [ "$(wc -c <"$workdir/x" | tr -d ' ')" != 32 ] || [ "$(wc -c <"$workdir/y" | tr -d ' ')" != 32 ]; then
    echo "the signing key's coordinates are not 32 bytes each" >&2
    exit 1
fi
printf '\060\131\060\023\006\007\052\206\110\316\075\002\001\006\010\052\206\110\316\075\003\001\007\003\102\000\004' \
    >"$workdir/spki.der"
cat "$workdir/x" "$workdir/y" >>"$workdir/spki.der"
fingerprint=$(sha256_hex "$workdir/spki.der")
echo "signing key: $WARDEN_SIGNING_KEY"
echo "signing key fingerprint (pin it outside the audit storage): $fingerprint"
if command -v azd >/dev/null 2>&1; then
    azd env set WARDEN_SIGNING_KEY_FINGERPRINT "$fingerprint"
fi
