// Audit records as typed rows in Log Analytics (docs/audit.md section 6): the custom table
// RedisWardenAudit_CL with the trail's retention, the data collection endpoint and rule the app sends rows
// through (Logs Ingestion API), the one role that lets the app's identity send to this rule only, and the
// Workbook reviewers open over the table. Columns: remediators/audit/log_ingestion.py COLUMNS (a test
// compares the two).
param location string
param tags object
param resourceToken string
param workspaceName string
@description('Days the audit trail is kept (the WORM retention); the table keeps its rows as long.')
param auditRetentionDays int
param appPrincipalId string

var auditColumns = [
  {
    name: 'TimeGenerated'
    type: 'datetime'
  }
  {
    name: 'Kind'
    type: 'string'
  }
  {
    name: 'CacheId'
    type: 'string'
  }
  {
    name: 'CacheName'
    type: 'string'
  }
  {
    name: 'ResourceGroup'
    type: 'string'
  }
  {
    name: 'SubscriptionId'
    type: 'string'
  }
  {
    name: 'Rule'
    type: 'string'
  }
  {
    name: 'Severity'
    type: 'string'
  }
  {
    name: 'FindingStatus'
    type: 'string'
  }
  {
    name: 'Effect'
    type: 'string'
  }
  {
    name: 'CorrelationId'
    type: 'string'
  }
  {
    name: 'EventId'
    type: 'string'
  }
  {
    name: 'ScanId'
    type: 'string'
  }
  {
    name: 'DriftActorOid'
    type: 'string'
  }
  {
    name: 'DriftActorAppId'
    type: 'string'
  }
  {
    name: 'RequestId'
    type: 'string'
  }
  {
    name: 'OutcomeCode'
    type: 'string'
  }
  {
    name: 'OutcomeMessage'
    type: 'string'
  }
  {
    name: 'ExemptionId'
    type: 'string'
  }
  {
    name: 'ExemptionExpires'
    type: 'datetime'
  }
  {
    name: 'Detail'
    type: 'string'
  }
  {
    name: 'Baseline'
    type: 'string'
  }
  {
    name: 'Writer'
    type: 'string'
  }
  {
    name: 'Chain'
    type: 'string'
  }
  {
    name: 'Seq'
    type: 'long'
  }
  {
    name: 'Hash'
    type: 'string'
  }
  {
    name: 'PrevHash'
    type: 'string'
  }
  {
    name: 'Record'
    type: 'dynamic'
  }
]

// Monitoring Metrics Publisher: the built-in role the Logs Ingestion API checks on the rule.
var metricsPublisherRole = '3913510d-42f4-4e42-8a64-420c390055eb'

resource workspace 'Microsoft.OperationalInsights/workspaces@2022-10-01' existing = {
  name: workspaceName
}

resource auditTable 'Microsoft.OperationalInsights/workspaces/tables@2022-10-01' = {
  parent: workspace
  name: 'RedisWardenAudit_CL'
  properties: {
    plan: 'Analytics'
    // interactive retention is at most 730 days; the total (with long-term retention) matches the trail's
    retentionInDays: min(auditRetentionDays, 730)
    totalRetentionInDays: auditRetentionDays
    schema: {
      name: 'RedisWardenAudit_CL'
      description: 'redis-warden audit records (one row per record; the trail in storage is the record of truth)'
      columns: auditColumns
    }
  }
}

resource ingestionEndpoint 'Microsoft.Insights/dataCollectionEndpoints@2022-06-01' = {
  name: 'dce-warden-${resourceToken}'
  location: location
  tags: tags
  properties: {
    description: 'Logs Ingestion endpoint for redis-warden audit records'
    networkAcls: {
      publicNetworkAccess: 'Enabled' // Flex Consumption without VNet integration; Entra auth is required
    }
  }
}

resource auditRule 'Microsoft.Insights/dataCollectionRules@2022-06-01' = {
  name: 'dcr-warden-audit-${resourceToken}'
  location: location
  tags: tags
  properties: {
    description: 'redis-warden audit records into RedisWardenAudit_CL'
    dataCollectionEndpointId: ingestionEndpoint.id
    streamDeclarations: {
      'Custom-RedisWardenAudit': {
        columns: auditColumns
      }
    }
    destinations: {
      logAnalytics: [
        {
          name: 'auditWorkspace'
          workspaceResourceId: workspace.id
        }
      ]
    }
    dataFlows: [
      {
        streams: [
          'Custom-RedisWardenAudit'
        ]
        destinations: [
          'auditWorkspace'
        ]
        transformKql: 'source'
        outputStream: 'Custom-RedisWardenAudit_CL'
      }
    ]
  }
  dependsOn: [
    auditTable
  ]
}

resource appSendsAuditRows 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: auditRule
  name: guid(auditRule.id, appPrincipalId, metricsPublisherRole)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', metricsPublisherRole)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource auditWorkbook 'Microsoft.Insights/workbooks@2022-04-01' = {
  name: guid(resourceGroup().id, 'redis-warden-audit-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'redis-warden: audit posture'
    category: 'workbook'
    sourceId: workspace.id
    serializedData: loadTextContent('../workbook/redis-warden.workbook.json')
  }
}

output logsIngestionEndpoint string = ingestionEndpoint.properties.logsIngestion.endpoint
output auditRuleImmutableId string = auditRule.properties.immutableId
output auditStream string = 'Custom-RedisWardenAudit'
output auditTableName string = auditTable.name
