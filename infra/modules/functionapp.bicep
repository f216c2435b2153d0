// The Function App: Flex Consumption, Python 3.11, one user-assigned identity for everything (storage,
// ARM, Key Vault, Application Insights). Identity-based AzureWebJobsStorage: no connection string exists.
param location string
param tags object
param resourceToken string
param identityId string
param identityClientId string
param identityPrincipalId string
param storageAccountName string
param deploymentContainerUrl string
param appInsightsName string
param workspaceId string
param targetSubscriptionIds string
param dryRun bool
param baseline string
param signingKeyId string
param cacheLogsWorkspaceId string
@description('The action group metric alerts on caches notify (monitoring.bicep creates it).')
param actionGroupId string
param auditContainer string
param checkpointContainer string
@description('The WORM container the monthly assessment pack is published to (storage.bicep).')
param packContainer string
param logsIngestionEndpoint string
param auditRuleImmutableId string

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: serverless plan; events wait in the queue through a zone outage
  name: 'plan-warden-${resourceToken}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

// Every setting the code reads is validated at start-up (remediators/settings.py; README "Settings").
// Flex Consumption sets the runtime in functionAppConfig and refuses FUNCTIONS_WORKER_RUNTIME and
// FUNCTIONS_EXTENSION_VERSION as app settings.
var baseSettings = [
  {
    name: 'AzureWebJobsStorage__blobServiceUri'
    value: storageAccount.properties.primaryEndpoints.blob
  }
  {
    name: 'AzureWebJobsStorage__queueServiceUri'
    value: storageAccount.properties.primaryEndpoints.queue
  }
  {
    name: 'AzureWebJobsStorage__tableServiceUri'
    value: storageAccount.properties.primaryEndpoints.table
  }
  {
    name: 'AzureWebJobsStorage__credential'
    value: 'managedidentity'
  }
  {
    name: 'AzureWebJobsStorage__clientId'
    value: identityClientId
  }
  {
    name: 'AZURE_CLIENT_ID'
    value: identityClientId
  }
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: appInsights.properties.ConnectionString
  }
  {
    // Application Insights has local auth off: telemetry is accepted only with an Entra token.
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'ClientId=${identityClientId};Authorization=AAD'
  }
  {
    name: 'WARDEN_SUBSCRIPTIONS'
    value: targetSubscriptionIds
  }
  {
    name: 'WARDEN_DRY_RUN'
    value: dryRun ? 'true' : 'false'
  }
  {
    name: 'WARDEN_SIGNING_KEY'
    value: signingKeyId
  }
  {
    name: 'WARDEN_LOG_ANALYTICS_WORKSPACE_RESOURCE_ID'
    value: cacheLogsWorkspaceId
  }
  {
    name: 'WARDEN_ACTION_GROUP_RESOURCE_ID'
    value: actionGroupId
  }
  {
    name: 'WARDEN_AUDIT_CONTAINER'
    value: auditContainer
  }
  {
    name: 'WARDEN_CHECKPOINT_CONTAINER'
    value: checkpointContainer
  }
  {
    // the monthly assessment pack (function monthly_assessment_pack; remediators/reporting/publish.py)
    name: 'WARDEN_PACK_CONTAINER'
    value: packContainer
  }
  {
    // audit records as typed rows in RedisWardenAudit_CL (remediators/audit/log_ingestion.py)
    name: 'WARDEN_LOGS_INGESTION_ENDPOINT'
    value: logsIngestionEndpoint
  }
  {
    name: 'WARDEN_LOGS_DCR_IMMUTABLE_ID'
    value: auditRuleImmutableId
  }
]
var baselineSetting = empty(baseline) ? [] : [
  {
    name: 'WARDEN_BASELINE'
    value: baseline
  }
]

resource app 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: azd deploy and POST /api/scans need the endpoint; HTTP routes need a function key
  // checkov:skip=CKV_AZURE_17: callers authenticate with function keys; client certificates would refuse them
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales from zero; queued work waits for an instance
  // checkov:skip=CKV_AZURE_213: no HTTP health path on a queue-driven Flex Consumption app
  name: 'func-warden-${resourceToken}'
  location: location
  tags: union(tags, {
    'azd-service-name': 'warden'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: concat(baseSettings, baselineSetting)
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: 40
        instanceMemoryMB: 2048
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// No basic publishing credentials: deployments (azd deploy) authenticate with Entra ID.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'scm'
  properties: {
    allow: false
  }
}

// Entra-only ingestion needs the identity to publish telemetry.
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource telemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, identityPrincipalId, monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
  }
}

resource appDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'warden-logs'
  scope: app
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'FunctionAppLogs'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

output name string = app.name
output id string = app.id
