// Logs for people: Log Analytics + workspace-based Application Insights (Entra-only ingestion), an action
// group that emails a person, and one scheduled query alert on the audit records that need a human.
param location string
param tags object
param resourceToken string
param alertEmail string

resource workspace 'Microsoft.OperationalInsights/workspaces@2022-10-01' = {
  name: 'log-${resourceToken}'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 90
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${resourceToken}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    // Only Entra-authenticated telemetry (APPLICATIONINSIGHTS_AUTHENTICATION_STRING): the connection string
    // alone cannot be used to write fake audit lines into the alert's input.
    DisableLocalAuth: true
  }
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-warden-${resourceToken}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'warden'
    enabled: true
    emailReceivers: [
      {
        name: 'compliance-contact'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// docs/audit.md section 6: each audit record is logged by `redis_warden.audit` as "audit-record <JSON>",
// which the Functions host forwards to Application Insights as a trace.
var auditAlertQuery = '''
traces
| where message startswith "audit-record "
| extend r = parse_json(substring(message, strlen("audit-record ")))
| extend kind = tostring(r.kind)
| where kind in ("alert", "blocked", "manual-action-required")
| project timestamp, kind, cache_id = tostring(r.cache_id), rule = tostring(r.rule), detail = tostring(r.detail)
'''

resource auditAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-warden-audit-${resourceToken}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'redis-warden: audit records that need a person'
    description: 'An audit record of kind alert, blocked or manual-action-required was written.'
    severity: 2
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      allOf: [
        {
          query: auditAlertQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

output workspaceId string = workspace.id
output workspaceName string = workspace.name
output appInsightsName string = appInsights.name
output appInsightsId string = appInsights.id
output actionGroupId string = actionGroup.id
output actionGroupName string = actionGroup.name
