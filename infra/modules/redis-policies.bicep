// Azure Policy as a preventive layer in front of the warden's corrective one (docs/deploy.md, "Azure Policy
// assignments"): the Redis built-ins that audit a property, assigned at one target subscription. Audit by
// default; Deny only when policyMode is 'Deny' (it refuses non-compliant creates and updates, including an
// unrelated PATCH of a non-compliant cache, which the warden then records as blocked). The private-link
// definitions only offer AuditIfNotExists. DeployIfNotExists/Modify built-ins are not assigned: they would
// write the same fields as the warden. The compliance state is read back into `report` (policyinsights).
targetScope = 'subscription'

@allowed([
  'Audit'
  'Deny'
])
param policyMode string

// Built-in definitions (reference/azure-policy, Azure/azure-policy at f4a50bac) and the effect each gets:
// policyMode where the definition's effect parameter allows Audit and Deny, else AuditIfNotExists.
var definitions = [
  {
    id: '22bee202-a82f-4305-9a2a-6d7f44d4dedb'
    name: 'Only secure connections to your Azure Cache for Redis should be enabled'
    effect: policyMode
  }
  {
    id: '470baccb-7e51-4549-8b1a-3e5be069f663'
    name: 'Azure Cache for Redis should disable public network access'
    effect: policyMode
  }
  {
    id: '3827af20-8f80-4b15-8300-6db0873ec901'
    name: 'Azure Cache for Redis should not use access keys for authentication'
    effect: policyMode
  }
  {
    id: '09aa11bb-87ec-409f-bf0b-49b7c1561a87'
    name: 'Azure Cache for Redis Enterprise should use customer-managed keys for encrypting disk data'
    effect: policyMode
  }
  {
    id: '7803067c-7d34-46e3-8c79-0ca68fc4036d'
    name: 'Azure Cache for Redis should use private link'
    effect: 'AuditIfNotExists'
  }
  {
    id: '960e650e-9ce3-4316-9590-8ee2c016ca2f'
    name: 'Azure Cache for Redis Enterprise should use private link'
    effect: 'AuditIfNotExists'
  }
]

resource assignments 'Microsoft.Authorization/policyAssignments@2024-04-01' = [for d in definitions: {
  name: 'redis-warden-${take(d.id, 8)}'
  properties: {
    displayName: 'redis-warden: ${d.name}'
    description: 'Assigned by redis-warden (infra/modules/redis-policies.bicep); its compliance state appears in the warden\'s report.'
    policyDefinitionId: tenantResourceId('Microsoft.Authorization/policyDefinitions', d.id)
    enforcementMode: 'Default'
    parameters: {
      effect: {
        value: d.effect
      }
    }
    nonComplianceMessages: [
      {
        message: 'redis-warden baseline: ${d.name}. See docs/baseline.md.'
      }
    ]
  }
}]

output assignmentIds array = [for (d, i) in definitions: assignments[i].id]
