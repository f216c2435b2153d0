// The warden's one identity: a user-assigned managed identity, so the ARM role assignments survive a
// redeployment of the app and the same client id can be excluded from our own Event Grid events.
param location string
param tags object
param resourceToken string

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-warden-${resourceToken}'
  location: location
  tags: tags
}

output id string = identity.id
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
