// The checkpoint signing key: EC P-256 (Key Vault has no Ed25519), HSM-backed, never exportable. The app's
// identity may only sign with this one key and read its public half; nobody gets a secret.
param location string
param tags object
param resourceToken string
param workspaceId string
param appPrincipalId string
param signerRoleGuid string
param deployerPrincipalId string
param keyReaderRoleGuid string
param keyExpiry int

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: Flex Consumption without VNet integration has no fixed outbound address to allow
  // checkov:skip=CKV_AZURE_189: same reason; RBAC only, one key, sign-only custom role
  name: 'kv-warden-${take(resourceToken, 12)}'
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'premium'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

// Created once: ARM returns an existing key unchanged, so a redeployment never rotates it behind the
// pinned fingerprint's back (rotation is a documented manual step, docs/deploy.md).
resource signingKey 'Microsoft.KeyVault/vaults/keys@2023-07-01' = {
  parent: vault
  name: 'audit-checkpoint-signing'
  properties: {
    kty: 'EC-HSM'
    curveName: 'P-256'
    keyOps: [
      'sign'
      'verify'
    ]
    attributes: {
      enabled: true
      exportable: false
      exp: keyExpiry
    }
    // Versions created later (a manual rotation) expire after two years too; a notice comes 30 days before.
    // No automatic rotation: a new version has a new fingerprint that reviewers must pin first.
    rotationPolicy: {
      attributes: {
        expiryTime: 'P2Y'
      }
      lifetimeActions: [
        {
          trigger: {
            timeBeforeExpiry: 'P30D'
          }
          action: {
            type: 'notify'
          }
        }
      ]
    }
  }
}

resource appSigns 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(signingKey.id, appPrincipalId, signerRoleGuid)
  scope: signingKey
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', signerRoleGuid)
  }
}

resource deployerReads 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(signingKey.id, deployerPrincipalId, keyReaderRoleGuid)
  scope: signingKey
  properties: {
    principalId: deployerPrincipalId
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyReaderRoleGuid)
  }
}

// Who signed what, and any refused attempt, lands in the workspace.
resource vaultDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'warden-logs'
  scope: vault
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'AuditEvent'
        enabled: true
      }
    ]
  }
}

output vaultName string = vault.name
output keyIdWithVersion string = signingKey.properties.keyUriWithVersion
