// Everything one watched subscription needs: the remediator role assignment, and the Event Grid system
// topic (new, or the existing one: Azure allows one Microsoft.Resources.Subscriptions topic per
// subscription) with our event subscription delivering to the warden-events queue.
targetScope = 'subscription'

param location string
param tags object
param principalId string
param appClientId string
param remediatorRoleGuid string
@description('Resource id of this subscription\'s existing system topic, or empty to create one.')
param existingSystemTopicId string
param eventsResourceGroupName string
param homeSubscriptionId string
param homeResourceGroupName string
param storageAccountName string
param eventsQueueName string
param deadLetterContainerName string

var createTopic = empty(existingSystemTopicId)
var topicResourceGroupName = createTopic ? eventsResourceGroupName : split(existingSystemTopicId, '/')[4]
var topicName = createTopic ? 'evgt-redis-warden-${subscription().subscriptionId}' : last(split(existingSystemTopicId, '/'))

resource remediator 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, remediatorRoleGuid)
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', remediatorRoleGuid)
  }
}

resource eventsGroup 'Microsoft.Resources/resourceGroups@2024-03-01' = if (createTopic) {
  name: eventsResourceGroupName
  location: location
  tags: tags
}

module topic 'system-topic.bicep' = if (createTopic) {
  name: 'warden-system-topic'
  scope: resourceGroup(eventsResourceGroupName)
  dependsOn: [
    eventsGroup
  ]
  params: {
    name: topicName
    tags: tags
  }
}

// An existing topic must already have its system-assigned identity switched on (docs/deploy.md).
resource existingTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: topicName
  scope: resourceGroup(topicResourceGroupName)
}

// The topic's own identity may put messages on the one queue and write dead letters to the one container.
// Two declarations, one per case, so ARM never evaluates a reference to a topic that does not exist.
module deliveryRolesNewTopic 'event-delivery-roles.bicep' = if (createTopic) {
  name: 'warden-event-delivery-new-${take(subscription().subscriptionId, 8)}'
  scope: resourceGroup(homeSubscriptionId, homeResourceGroupName)
  params: {
    topicPrincipalId: topic.outputs.principalId
    storageAccountName: storageAccountName
    eventsQueueName: eventsQueueName
    deadLetterContainerName: deadLetterContainerName
  }
}

module deliveryRolesExistingTopic 'event-delivery-roles.bicep' = if (!createTopic) {
  name: 'warden-event-delivery-existing-${take(subscription().subscriptionId, 8)}'
  scope: resourceGroup(homeSubscriptionId, homeResourceGroupName)
  params: {
    topicPrincipalId: existingTopic.identity.principalId
    storageAccountName: storageAccountName
    eventsQueueName: eventsQueueName
    deadLetterContainerName: deadLetterContainerName
  }
}

module eventSubscription 'event-subscription.bicep' = {
  name: 'warden-event-subscription'
  scope: resourceGroup(topicResourceGroupName)
  dependsOn: [
    topic
    deliveryRolesNewTopic
    deliveryRolesExistingTopic
  ]
  params: {
    topicName: topicName
    appClientId: appClientId
    storageAccountId: resourceId(homeSubscriptionId, homeResourceGroupName, 'Microsoft.Storage/storageAccounts', storageAccountName)
    eventsQueueName: eventsQueueName
    deadLetterContainerName: deadLetterContainerName
  }
}

output systemTopicName string = topicName
output systemTopicResourceGroup string = topicResourceGroupName
