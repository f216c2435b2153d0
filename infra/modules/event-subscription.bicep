// The warden's event subscription on a subscription's system topic (design section 1):
// write/delete success only (action events would fire on every listKeys), cache resources only, our own
// writes filtered out by app id, delivered to a queue (a Function endpoint would fail validation before the
// code is deployed), retried, then dead-lettered to a blob container.
param topicName string
param appClientId string
param storageAccountId string
param eventsQueueName string
param deadLetterContainerName string

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: topicName
}

resource warden 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: topic
  name: 'redis-warden'
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    deliveryWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      destination: {
        endpointType: 'StorageQueue'
        properties: {
          resourceId: storageAccountId
          queueName: eventsQueueName
          // Keep undelivered-to-code messages for 7 days (the queue default); the trigger drains faster.
          queueMessageTimeToLiveInSeconds: 604800
        }
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.Resources.ResourceWriteSuccess'
        'Microsoft.Resources.ResourceDeleteSuccess'
      ]
      enableAdvancedFilteringOnArrays: false
      advancedFilters: [
        {
          operatorType: 'StringContains'
          key: 'subject'
          values: [
            '/providers/Microsoft.Cache/'
          ]
        }
        {
          // Our own writes come back as events; they are dropped here (and again by the code).
          operatorType: 'StringNotIn'
          key: 'data.claims.appid'
          values: [
            appClientId
          ]
        }
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: storageAccountId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output id string = warden.id
