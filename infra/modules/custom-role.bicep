// One custom role definition. Custom roles are tenant-wide objects created at a subscription; main.bicep
// creates each at a subscription inside its assignable scopes and lists exactly the actions it needs.
targetScope = 'subscription'

@description('The role definition\'s name (a GUID, stable per environment).')
param roleGuid string
param roleName string
param roleDescription string
param actions array = []
param dataActions array = []
param assignableScopes array

resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: roleGuid
  properties: {
    roleName: roleName
    description: roleDescription
    type: 'CustomRole'
    permissions: [
      {
        actions: actions
        notActions: []
        dataActions: dataActions
        notDataActions: []
      }
    ]
    assignableScopes: assignableScopes
  }
}

output roleGuid string = role.name
