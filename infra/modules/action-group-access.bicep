// The read access Azure Monitor checks on an action group when a metric alert names it, granted on the
// warden's own action group only.
param actionGroupName string
param principalId string
param roleGuid string

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' existing = {
  name: actionGroupName
}

resource notifier 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(actionGroup.id, principalId, roleGuid)
  scope: actionGroup
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleGuid)
  }
}
