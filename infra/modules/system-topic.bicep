// A subscription's Azure Resource Manager events. Global, like the subscription it reports on. Its
// system-assigned identity delivers to our queue, so no key or SAS is stored in the event subscription.
param name string
param tags object

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: name
  location: 'global'
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: subscription().id
    topicType: 'Microsoft.Resources.Subscriptions'
  }
}

output principalId string = topic.identity.principalId
