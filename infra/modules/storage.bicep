// The app's storage: queues, leases, the state table, the WORM audit containers (records, checkpoints and
// the monthly assessment packs) and the Event Grid dead-letter container. Entra ID only: shared keys are off, so no connection string exists to leak.
param location string
param tags object
param resourceToken string
param workspaceId string
param auditRetentionDays int
@description('True once the post-provision hook locked the retention policies: they are then left out (ARM refuses to update a locked policy, so declaring it again would fail the provision).')
param auditPolicyLocked bool = false
@description('True once the post-provision hook locked the pack container\'s retention policy. Separate from auditPolicyLocked: a deployment whose audit policies were locked before the pack container existed must still declare its new policy once.')
param packPolicyLocked bool = false
param appPrincipalId string

// Names the code reads (remediators/settings.py) and the host's `-poison` queues (created below).
var eventsQueue = 'warden-events'
var workQueue = 'warden-work'
var stateTable = 'wardenstate'
var auditContainer = 'audit'
var checkpointContainer = 'audit-checkpoints'
var packContainer = 'audit-packs'
var leaseContainer = 'warden-leases'
var deadLetterContainer = 'warden-deadletter'
var deploymentContainer = 'app-package'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: Flex Consumption without VNet integration has no fixed outbound address to allow
  // checkov:skip=CKV_AZURE_59: same reason; every data call needs an Entra token (shared keys off)
  // checkov:skip=CKV_AZURE_43: false positive, the name is 'stwarden' + uniqueString(), 21 lower-case characters
  name: 'stwarden${resourceToken}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    // Zone- and geo-redundant; the secondary for UK South is UK West, so data stays in the UK.
    name: 'Standard_GZRS'
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    isLocalUserEnabled: false
    isSftpEnabled: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
          keyType: 'Account'
        }
        file: {
          enabled: true
          keyType: 'Account'
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource audit 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: auditContainer
  properties: {
    publicAccess: 'None'
  }
}

// Time-based retention; NOT WORM until locked. infra/hooks/postprovision.sh locks it (irreversible).
// allowProtectedAppendWrites: new blocks may be appended to the day's append blob; existing blocks can
// never be changed or deleted.
resource auditPolicy 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2023-05-01' = if (!auditPolicyLocked) {
  parent: audit
  name: 'default'
  properties: {
    immutabilityPeriodSinceCreationInDays: auditRetentionDays
    allowProtectedAppendWrites: true
  }
}

resource checkpoints 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: checkpointContainer
  properties: {
    publicAccess: 'None'
  }
}

// Checkpoints are block blobs created once (`overwrite=False`): plain retention, no appends.
resource checkpointPolicy 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2023-05-01' = if (!auditPolicyLocked) {
  parent: checkpoints
  name: 'default'
  properties: {
    immutabilityPeriodSinceCreationInDays: auditRetentionDays
    allowProtectedAppendWrites: false
  }
}

// The monthly assessment packs (function monthly_assessment_pack): block blobs created once with
// If-None-Match: *, under <YYYY-MM>/. Same retention as the records the packs are built from.
resource packs 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: packContainer
  properties: {
    publicAccess: 'None'
  }
}

resource packPolicy 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2023-05-01' = if (!packPolicyLocked) {
  parent: packs
  name: 'default'
  properties: {
    immutabilityPeriodSinceCreationInDays: auditRetentionDays
    allowProtectedAppendWrites: false
  }
}

resource leases 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: leaseContainer
  properties: {
    publicAccess: 'None'
  }
}

resource deadLetter 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deadLetterContainer
  properties: {
    publicAccess: 'None'
  }
}

resource deployment 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainer
  properties: {
    publicAccess: 'None'
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource events 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: eventsQueue
}

resource work 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: workQueue
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource state 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: stateTable
}

// The Functions host's own containers (locks and timer schedules; function keys) and poison queues, created
// here rather than by the host so that every data role below can be scoped to what it grants.
resource hostLocks 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: 'azure-webjobs-hosts'
  properties: {
    publicAccess: 'None'
  }
}

resource hostSecrets 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: 'azure-webjobs-secrets'
  properties: {
    publicAccess: 'None'
  }
}

resource eventsPoison 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: '${eventsQueue}-poison'
}

resource workPoison 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: '${workQueue}-poison'
}

// ---------------------------------------------------------------------------------------------- data roles
// Built-in role ids (docs: "Azure built-in roles"). Each assignment is scoped to one container, queue or
// table the app uses: never the account, so the identity cannot read the Event Grid dead-letter blobs or
// anything else that lands in the account later. Retention on the audit containers still forbids
// delete/overwrite there whatever the role allows.
var blobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
var queueDataContributor = '974c5e8b-45b9-4653-ba55-5ba5b6e8ce6d'
var tableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'

// Audit appends, checkpoints, monthly packs, per-cache leases, the host's locks and keys, and the deployment package.
resource appBlobAudit 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(audit.id, appPrincipalId, blobDataContributor)
  scope: audit
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributor)
  }
}

resource appBlobCheckpoints 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(checkpoints.id, appPrincipalId, blobDataContributor)
  scope: checkpoints
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributor)
  }
}

resource appBlobPacks 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(packs.id, appPrincipalId, blobDataContributor)
  scope: packs
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributor)
  }
}

resource appBlobLeases 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(leases.id, appPrincipalId, blobDataContributor)
  scope: leases
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributor)
  }
}

resource appBlobHostLocks 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostLocks.id, appPrincipalId, blobDataContributor)
  scope: hostLocks
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributor)
  }
}

resource appBlobHostSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostSecrets.id, appPrincipalId, blobDataContributor)
  scope: hostSecrets
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributor)
  }
}

resource appBlobDeployment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(deployment.id, appPrincipalId, blobDataContributor)
  scope: deployment
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributor)
  }
}

// Queue triggers read/delete messages, the engine enqueues work items, the host moves failures to -poison.
resource appQueueEvents 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(events.id, appPrincipalId, queueDataContributor)
  scope: events
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', queueDataContributor)
  }
}

resource appQueueWork 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(work.id, appPrincipalId, queueDataContributor)
  scope: work
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', queueDataContributor)
  }
}

resource appQueueEventsPoison 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventsPoison.id, appPrincipalId, queueDataContributor)
  scope: eventsPoison
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', queueDataContributor)
  }
}

resource appQueueWorkPoison 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workPoison.id, appPrincipalId, queueDataContributor)
  scope: workPoison
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', queueDataContributor)
  }
}

// Only the state table (dedup, breaker, snapshots, scan progress).
resource appTable 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(state.id, appPrincipalId, tableDataContributor)
  scope: state
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', tableDataContributor)
  }
}

// ---------------------------------------------------------------------------------------------- diagnostics
var storageLogs = [
  {
    category: 'StorageRead'
    enabled: true
  }
  {
    category: 'StorageWrite'
    enabled: true
  }
  {
    category: 'StorageDelete'
    enabled: true
  }
]
var storageMetrics = [
  {
    category: 'Transaction'
    enabled: true
  }
]

resource blobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'warden-logs'
  scope: blobService
  properties: {
    workspaceId: workspaceId
    logs: storageLogs
    metrics: storageMetrics
  }
}

resource queueDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'warden-logs'
  scope: queueService
  properties: {
    workspaceId: workspaceId
    logs: storageLogs
    metrics: storageMetrics
  }
}

resource tableDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'warden-logs'
  scope: tableService
  properties: {
    workspaceId: workspaceId
    logs: storageLogs
    metrics: storageMetrics
  }
}

output name string = account.name
output id string = account.id
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
output tableEndpoint string = account.properties.primaryEndpoints.table
output deploymentContainerUrl string = '${account.properties.primaryEndpoints.blob}${deployment.name}'
output eventsQueue string = events.name
output workQueue string = work.name
output auditContainer string = audit.name
output checkpointContainer string = checkpoints.name
output packContainer string = packs.name
output leaseContainer string = leases.name
output deadLetterContainer string = deadLetter.name
output stateTable string = state.name
