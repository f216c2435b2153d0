// Authentication-anomaly alerts over the caches' connection logs (docs/deploy.md, "Authentication-anomaly
// alerts"): scheduled query rules on the cache-logs workspace, one per detection in remediators/detections.py.
// Each query is loaded from infra/queries/ (the file tests/infra/test_auth_alert_queries.py evaluates), with the threshold and the
// allowed ranges substituted. The unexpected-client rules exist only when allowed ranges are configured.
param location string
param tags object
param resourceToken string
param workspaceId string
param actionGroupId string

@minValue(1)
@description('Failed authentications per cache and user (or client) in one window that raise an alert.')
param failedAuthThreshold int = 10

@description('Client address ranges (CIDR) expected to connect to caches; empty = no unexpected-client alerts.')
param allowedClientRanges array = []

var threshold = string(failedAuthThreshold)
var ranges = string(allowedClientRanges)
var detections = [
  {
    id: 'acr-failed-entra-auth'
    query: replace(loadTextContent('../queries/acr-failed-entra-auth.kql'), '{{THRESHOLD}}', threshold)
    description: 'Azure Cache for Redis: Microsoft Entra authentications failed more often than the threshold.'
    needsRanges: false
  }
  {
    id: 'acr-unexpected-client'
    query: replace(loadTextContent('../queries/acr-unexpected-client.kql'), '{{ALLOWED_RANGES}}', ranges)
    description: 'Azure Cache for Redis: a client connected from outside the allowed ranges.'
    needsRanges: true
  }
  {
    id: 'amr-failed-auth'
    query: replace(loadTextContent('../queries/amr-failed-auth.kql'), '{{THRESHOLD}}', threshold)
    description: 'Azure Managed Redis: authentications failed more often than the threshold.'
    needsRanges: false
  }
  {
    id: 'amr-unexpected-client'
    query: replace(loadTextContent('../queries/amr-unexpected-client.kql'), '{{ALLOWED_RANGES}}', ranges)
    description: 'Azure Managed Redis: a new connection from outside the allowed ranges.'
    needsRanges: true
  }
]
var deployed = filter(detections, d => !d.needsRanges || !empty(allowedClientRanges))

resource alerts 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [for d in deployed: {
  name: 'alert-warden-${d.id}-${resourceToken}'
  location: location
  tags: union(tags, {
    'warden-detection': d.id
  })
  kind: 'LogAlert'
  properties: {
    displayName: 'redis-warden: ${d.id}'
    description: d.description
    severity: 1
    enabled: true
    scopes: [
      workspaceId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: d.query
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
        actionGroupId
      ]
    }
  }
}]

output alertIds array = [for (d, i) in deployed: alerts[i].id]
