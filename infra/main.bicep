// redis-warden: everything `azd up` provisions. Deployed at subscription scope (the "home" subscription that
// hosts the Function App); each target subscription gets its own module (role assignment + Event Grid).
// No secret is created, read or passed anywhere: every caller authenticates with Entra ID.
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('azd environment name; names and tags every resource.')
param environmentName string

@description('Region for every regional resource. UK South by default (UK GDPR data residency).')
param location string = 'uksouth'

@description('Subscriptions the warden watches and remediates: comma-separated subscription ids.')
param targetSubscriptionIds string

@description('Existing Event Grid system topics (Microsoft.Resources.Subscriptions) to reuse, comma-separated resource ids. Azure allows one such topic per subscription; a target subscription without one here gets a new topic.')
param existingSystemTopicIds string = ''

@description('Resource group (in each target subscription) that holds a new system topic.')
param eventsResourceGroupName string = 'rg-redis-warden-events'

@description('Baseline document: a path inside the deployed package or inline JSON. Empty = the shipped default.')
param baseline string = ''

@description('Log Analytics workspace that cache diagnostic settings send to (resource id). Empty = the workspace this deployment creates.')
param cacheLogsWorkspaceId string = ''

@minValue(1)
@description('Authentication-anomaly alerts: failed authentications per cache and user/client in 15 minutes that raise an alert.')
param authAlertThreshold int = 10

@description('Authentication-anomaly alerts: client address ranges (CIDR, comma-separated) expected to connect to caches. Empty = no unexpected-client alerts.')
param allowedClientRanges string = ''

@allowed([
  'Off'
  'Audit'
  'Deny'
])
@description('Azure Policy built-ins for Redis assigned at each target subscription: Audit (default), Deny (refuses non-compliant caches, and any update of one) or Off.')
param policyMode string = 'Audit'

@description('Who receives alerts for audit records of kind alert, blocked and manual-action-required.')
param alertEmail string

@description('Dry-run: report what would be fixed, change nothing. On for a fresh deployment; see docs/deploy.md to switch.')
param dryRun bool = true

@minValue(1)
@maxValue(146000)
@description('Days every audit record and checkpoint stays immutable (time-based retention, locked after provisioning).')
param auditRetentionDays int = 365

@description('Object id of the person running azd (AZURE_PRINCIPAL_ID); may read the signing key\'s public half so the post-provision hook can print its fingerprint.')
param deployerPrincipalId string = ''

@description('Set by the post-provision hook once it has locked the audit retention policies (WORM): a locked policy is not declared again, because ARM refuses to update it.')
param auditPolicyLocked bool = false

@description('Set by the post-provision hook once it has locked the retention policy of the monthly assessment pack container (kept apart from auditPolicyLocked so a deployment locked before that container existed still declares its policy once).')
param packPolicyLocked bool = false

@description('Signing key expiry (Unix time). Default: two years from the first deployment; an existing key is never changed by a redeployment.')
param signingKeyExpiry int = dateTimeToEpoch(dateTimeAdd(utcNow(), 'P2Y'))

var tags = {
  'azd-env-name': environmentName
  application: 'redis-warden'
}
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var targetSubscriptions = split(replace(targetSubscriptionIds, ' ', ''), ',')
var existingTopics = empty(existingSystemTopicIds) ? [] : split(replace(existingSystemTopicIds, ' ', ''), ',')
// Known before deployment starts (module scopes below need that), so spelt out rather than read from outputs.
var resourceGroupName = 'rg-${environmentName}'
var ownWorkspaceId = '${subscription().id}/resourceGroups/${resourceGroupName}/providers/Microsoft.OperationalInsights/workspaces/log-${resourceToken}'
var workspaceForCacheLogs = empty(cacheLogsWorkspaceId) ? ownWorkspaceId : cacheLogsWorkspaceId

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: resourceGroupName
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    alertEmail: alertEmail
  }
}

// Unusual authentication events on the caches' connection logs (remediators/detections.py, infra/queries/).
module authAlerts 'modules/auth-alerts.bicep' = {
  name: 'auth-alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    workspaceId: workspaceForCacheLogs
    actionGroupId: monitoring.outputs.actionGroupId
    failedAuthThreshold: authAlertThreshold
    allowedClientRanges: empty(allowedClientRanges) ? [] : split(replace(allowedClientRanges, ' ', ''), ',')
  }
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
  }
}

// Audit records as typed rows: table RedisWardenAudit_CL (the trail's retention), DCE, DCR, Workbook.
module auditLogs 'modules/audit-logs.bicep' = {
  name: 'audit-logs'
  scope: rg
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    workspaceName: monitoring.outputs.workspaceName
    auditRetentionDays: auditRetentionDays
    appPrincipalId: identity.outputs.principalId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    workspaceId: monitoring.outputs.workspaceId
    auditRetentionDays: auditRetentionDays
    auditPolicyLocked: auditPolicyLocked
    packPolicyLocked: packPolicyLocked
    appPrincipalId: identity.outputs.principalId
  }
}

// ------------------------------------------------------------------------------------------ custom roles
// Exactly what the warden does (docs/deploy.md, "Permissions"), split by the scope each action is needed at.
// The test emulator reads these lists and the assignments below and refuses the warden anything outside them
// with ARM's 403 AuthorizationFailed (emulator/authorization.py), so the whole suite and `make demo` run
// with exactly this role; operation names as Microsoft's operations list spells them
// (emulator/rbac_operations.json).

// Read and fix caches (Azure Cache for Redis and Azure Managed Redis), their firewall rules, diagnostic settings
// and metric alerts; read private endpoints' DNS zone groups: assigned at each target subscription.
var remediatorActions = [
  'Microsoft.Cache/redis/read'
  'Microsoft.Cache/redis/write'
  'Microsoft.Cache/redis/firewallRules/read'
  'Microsoft.Cache/redis/firewallRules/write'
  'Microsoft.Cache/redis/firewallRules/delete'
  'Microsoft.Cache/redis/linkedServers/read'
  // ARM checks this on the status URL a Redis PATCH answers 202 with: both Azure-AsyncOperation and
  // Location point at locations/{location}/asyncOperations/{id} (recorded traffic, tests/conformance).
  'Microsoft.Cache/locations/asyncOperations/read'
  // ... and on the Azure-AsyncOperation status URL that Azure Managed Redis writes answer with.
  'Microsoft.Cache/locations/operationsStatus/read'
  'Microsoft.Cache/redisEnterprise/read'
  'Microsoft.Cache/redisEnterprise/write'
  'Microsoft.Cache/redisEnterprise/databases/read'
  'Microsoft.Cache/redisEnterprise/databases/write'
  'Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments/read'
  'Microsoft.Insights/diagnosticSettings/read'
  'Microsoft.Insights/diagnosticSettings/write'
  'Microsoft.Insights/diagnosticSettingsCategories/read'
  'Microsoft.Insights/metricAlerts/read'
  'Microsoft.Insights/metricAlerts/write'
  'Microsoft.Network/privateEndpoints/privateDnsZoneGroups/read'
  // The nsg rule: a VNet-injected cache's subnet and the network security group on it (remediators/arm/network.py).
  'Microsoft.Network/virtualNetworks/subnets/read'
  'Microsoft.Network/networkSecurityGroups/read'
  // auth-alerts: the scheduled query rules that watch the cache-logs workspace (remediators/arm/monitor.py).
  'Microsoft.Insights/scheduledQueryRules/read'
  // azure-policy: each cache's Azure Policy compliance state (POST policyStates/latest/queryResults).
  'Microsoft.PolicyInsights/policyStates/queryResults/action'
  // Scans of several subscriptions or a management group list caches with one Azure Resource Graph query
  // (remediators/arm/graph.py); ARG returns only rows of resources this role may read (the redis reads above).
  'Microsoft.ResourceGraph/resources/read'
]

// ARM's linked check when a diagnostic setting names a workspace as its destination. It would also let the
// holder read that workspace's shared keys, so it is assigned on the one workspace only, never on a
// subscription.
var workspaceLinkerActions = [
  'Microsoft.OperationalInsights/workspaces/sharedKeys/action'
]

// Metric alerts that notify the warden's action group: Azure Monitor checks read access to the group when an
// alert rule names it. Assigned on that one action group only (modules/action-group-access.bicep).
var alertNotifierActions = [
  'Microsoft.Insights/actionGroups/read'
]

// Sign audit checkpoints and read the key's public half (KeyVaultSigner.public_key_der). Narrower than
// "Key Vault Crypto User", which may also encrypt, decrypt, wrap and unwrap.
var signerDataActions = [
  'Microsoft.KeyVault/vaults/keys/read'
  'Microsoft.KeyVault/vaults/keys/sign/action'
]

// The person running azd reads the public half once so the post-provision hook can print the fingerprint.
var keyReaderDataActions = [
  'Microsoft.KeyVault/vaults/keys/read'
]

var workspaceSubscriptionId = split(workspaceForCacheLogs, '/')[2]
var workspaceResourceGroupName = split(workspaceForCacheLogs, '/')[4]

module remediatorRole 'modules/custom-role.bicep' = {
  name: 'role-remediator'
  scope: subscription(targetSubscriptions[0])
  params: {
    roleGuid: guid('redis-warden-remediator', environmentName, resourceToken)
    roleName: 'Redis Warden Remediator (${environmentName})'
    roleDescription: 'redis-warden: read Azure Cache for Redis and fix its properties, firewall rules and diagnostic settings.'
    actions: remediatorActions
    assignableScopes: [for sub in targetSubscriptions: '/subscriptions/${sub}']
  }
}

module workspaceLinkerRole 'modules/custom-role.bicep' = {
  name: 'role-workspace-linker'
  scope: subscription(workspaceSubscriptionId)
  params: {
    roleGuid: guid('redis-warden-workspace-linker', environmentName, resourceToken)
    roleName: 'Redis Warden Workspace Linker (${environmentName})'
    roleDescription: 'redis-warden: point cache diagnostic settings at one Log Analytics workspace.'
    actions: workspaceLinkerActions
    // Custom roles take subscriptions and resource groups as assignable scopes; the assignment itself is
    // made on the workspace resource (modules/workspace-access.bicep).
    assignableScopes: [
      '/subscriptions/${workspaceSubscriptionId}/resourceGroups/${workspaceResourceGroupName}'
    ]
  }
}

module alertNotifierRole 'modules/custom-role.bicep' = {
  name: 'role-alert-notifier'
  params: {
    roleGuid: guid('redis-warden-alert-notifier', environmentName, resourceToken)
    roleName: 'Redis Warden Alert Notifier (${environmentName})'
    roleDescription: 'redis-warden: let metric alerts on caches notify the warden\'s action group.'
    actions: alertNotifierActions
    assignableScopes: [
      rg.id
    ]
  }
}

module signerRole 'modules/custom-role.bicep' = {
  name: 'role-checkpoint-signer'
  params: {
    roleGuid: guid('redis-warden-checkpoint-signer', environmentName, resourceToken)
    roleName: 'Redis Warden Checkpoint Signer (${environmentName})'
    roleDescription: 'redis-warden: sign audit checkpoints with one Key Vault key.'
    dataActions: signerDataActions
    assignableScopes: [
      rg.id
    ]
  }
}

module keyReaderRole 'modules/custom-role.bicep' = {
  name: 'role-key-reader'
  params: {
    roleGuid: guid('redis-warden-key-reader', environmentName, resourceToken)
    roleName: 'Redis Warden Signing Key Reader (${environmentName})'
    roleDescription: 'redis-warden: read the public half of the checkpoint signing key.'
    dataActions: keyReaderDataActions
    assignableScopes: [
      rg.id
    ]
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    workspaceId: monitoring.outputs.workspaceId
    appPrincipalId: identity.outputs.principalId
    signerRoleGuid: signerRole.outputs.roleGuid
    deployerPrincipalId: deployerPrincipalId
    keyReaderRoleGuid: keyReaderRole.outputs.roleGuid
    keyExpiry: signingKeyExpiry
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    identityPrincipalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    appInsightsName: monitoring.outputs.appInsightsName
    workspaceId: monitoring.outputs.workspaceId
    targetSubscriptionIds: join(targetSubscriptions, ',')
    dryRun: dryRun
    baseline: baseline
    signingKeyId: keyVault.outputs.keyIdWithVersion
    cacheLogsWorkspaceId: workspaceForCacheLogs
    actionGroupId: monitoring.outputs.actionGroupId
    auditContainer: storage.outputs.auditContainer
    checkpointContainer: storage.outputs.checkpointContainer
    packContainer: storage.outputs.packContainer
    logsIngestionEndpoint: auditLogs.outputs.logsIngestionEndpoint
    auditRuleImmutableId: auditLogs.outputs.auditRuleImmutableId
  }
}

module workspaceAccess 'modules/workspace-access.bicep' = {
  name: 'workspace-access'
  scope: resourceGroup(workspaceSubscriptionId, workspaceResourceGroupName)
  params: {
    workspaceName: last(split(workspaceForCacheLogs, '/'))
    principalId: identity.outputs.principalId
    roleGuid: workspaceLinkerRole.outputs.roleGuid
  }
  // The workspace is named by a parameter (it may be the one `monitoring` creates): without this the
  // assignment races the workspace's creation on the first `azd up`.
  dependsOn: [
    monitoring
  ]
}

module actionGroupAccess 'modules/action-group-access.bicep' = {
  name: 'action-group-access'
  scope: rg
  params: {
    actionGroupName: monitoring.outputs.actionGroupName
    principalId: identity.outputs.principalId
    roleGuid: alertNotifierRole.outputs.roleGuid
  }
}

module targets 'modules/target-subscription.bicep' = [for (sub, i) in targetSubscriptions: {
  name: 'target-${i}-${take(sub, 8)}'
  scope: subscription(sub)
  params: {
    location: location
    tags: tags
    principalId: identity.outputs.principalId
    appClientId: identity.outputs.clientId
    remediatorRoleGuid: remediatorRole.outputs.roleGuid
    existingSystemTopicId: first(filter(existingTopics, t => toLower(split(t, '/')[2]) == toLower(sub))) ?? ''
    eventsResourceGroupName: eventsResourceGroupName
    homeSubscriptionId: subscription().subscriptionId
    homeResourceGroupName: rg.name
    storageAccountName: storage.outputs.name
    eventsQueueName: storage.outputs.eventsQueue
    deadLetterContainerName: storage.outputs.deadLetterContainer
  }
}]

// The preventive layer: Redis built-in policies at each target subscription (off with policyMode 'Off').
module policies 'modules/redis-policies.bicep' = [for (sub, i) in targetSubscriptions: if (policyMode != 'Off') {
  name: 'policies-${i}-${take(sub, 8)}'
  scope: subscription(sub)
  params: {
    policyMode: policyMode
  }
}]

output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output WARDEN_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output WARDEN_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output WARDEN_STORAGE_ACCOUNT string = storage.outputs.name
output WARDEN_AUDIT_CONTAINER string = storage.outputs.auditContainer
output WARDEN_CHECKPOINT_CONTAINER string = storage.outputs.checkpointContainer
output WARDEN_PACK_CONTAINER string = storage.outputs.packContainer
output WARDEN_SIGNING_KEY string = keyVault.outputs.keyIdWithVersion
output WARDEN_KEY_VAULT_NAME string = keyVault.outputs.vaultName
output WARDEN_LOG_ANALYTICS_WORKSPACE_RESOURCE_ID string = workspaceForCacheLogs
output WARDEN_REMEDIATOR_ROLE_GUID string = remediatorRole.outputs.roleGuid
output WARDEN_DRY_RUN bool = dryRun
output WARDEN_LOGS_INGESTION_ENDPOINT string = auditLogs.outputs.logsIngestionEndpoint
output WARDEN_LOGS_DCR_IMMUTABLE_ID string = auditLogs.outputs.auditRuleImmutableId
