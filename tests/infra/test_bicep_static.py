"""What infra/ must get right (issue 6, design section 6), read statically from the parsed Bicep."""

from __future__ import annotations

import re

import pytest

from remediators import settings as app_settings

from . import bicep

STORAGE = "modules/storage.bicep"
FUNCTION_APP = "modules/functionapp.bicep"


def test_every_bicep_file_parses_and_every_module_path_exists() -> None:
    files = bicep.bicep_files()
    assert bicep.INFRA / "main.bicep" in files
    for path in files:
        doc = bicep.parse(path)
        for symbol, module in (doc.get("modules") or {}).items():
            target = (path.parent / module["detail"]["path"]).resolve()
            assert target.exists(), f"{path.name}: module {symbol} points at missing {target}"


def test_every_type_and_api_version_exists_in_the_bicep_type_index() -> None:
    index = bicep.type_index()
    missing = [f"{r.file}:{r.symbol} {r.type}@{r.api_version}" for r in bicep.resources()
               if f"{r.type}@{r.api_version}".lower() not in index]
    assert not missing, f"type@apiVersion not in reference/bicep-types index: {missing}"


def test_property_names_exist_in_the_vendored_type_data() -> None:
    checked = 0
    problems: list[str] = []
    for res in bicep.resources():
        if res.existing:
            continue
        found = bicep.resource_body_type(res.type, res.api_version)
        if found is None:
            continue
        types, body = found
        checked += 1
        problems += [f"{res.file}:{res.symbol} ({res.type}) {p}"
                     for p in bicep.unknown_properties(types, body, res.config, "")]
    assert checked >= 15, "most resources should have vendored type data to check against"
    assert not problems, "\n".join(problems)


def test_the_property_check_catches_a_misspelt_property() -> None:
    types, body = bicep.resource_body_type("Microsoft.Storage/storageAccounts", "2023-05-01")  # type: ignore[misc]
    bad = {"name": "x", "properties": {"minimumTlsVersion": "TLS1_2", "allowSharedKeyAcess": False}}
    assert list(bicep.unknown_properties(types, body, bad, "")) == ["properties.allowSharedKeyAcess"]


# ---------------------------------------------------------------------------------------------- storage


def test_storage_account_is_tls12_private_blobs_and_entra_only() -> None:
    props = bicep.one("Microsoft.Storage/storageAccounts", STORAGE).config["properties"]
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert props["allowBlobPublicAccess"] is False
    assert props["allowSharedKeyAccess"] is False
    assert props["supportsHttpsTrafficOnly"] is True


def test_queues_table_and_containers_are_the_ones_the_code_uses() -> None:
    variables = bicep.parsed(STORAGE)["variables"]
    names = {k: v["value"] for k, v in variables.items() if isinstance(v["value"], str)}
    assert names["eventsQueue"] == app_settings.EVENTS_QUEUE
    assert names["workQueue"] == app_settings.WORK_QUEUE
    assert names["stateTable"] == app_settings.STATE_TABLE
    assert names["leaseContainer"] == app_settings.LEASE_CONTAINER
    defaults = app_settings.Settings(subscriptions=frozenset())
    assert names["auditContainer"] == defaults.audit_container
    assert names["checkpointContainer"] == defaults.checkpoint_container
    assert names["packContainer"] == defaults.pack_container
    queues = {r.config["name"] for r in bicep.of_type("Microsoft.Storage/storageAccounts/queueServices/queues")}
    # The -poison queues are created here (not by the host) so their data role can be scoped to them.
    assert queues == {"eventsQueue", "workQueue", "${eventsQueue}-poison", "${workQueue}-poison"}
    containers = {r.config["name"] for r in bicep.of_type("Microsoft.Storage/storageAccounts/blobServices/containers")}
    assert {"auditContainer", "checkpointContainer", "packContainer", "leaseContainer",
            "deadLetterContainer"} <= containers
    for res in bicep.of_type("Microsoft.Storage/storageAccounts/blobServices/containers"):
        assert res.config["properties"]["publicAccess"] == "None"


def test_audit_container_has_time_based_retention_with_protected_appends() -> None:
    policy_type = "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies"
    policies = {r.config["parent"]: r.config["properties"] for r in bicep.of_type(policy_type)}
    assert policies["audit"]["allowProtectedAppendWrites"] is True
    assert policies["audit"]["immutabilityPeriodSinceCreationInDays"] == "auditRetentionDays"
    assert policies["checkpoints"]["allowProtectedAppendWrites"] is False
    # Monthly packs: block blobs created once, kept as long as the records they summarise.
    assert policies["packs"]["allowProtectedAppendWrites"] is False
    assert policies["packs"]["immutabilityPeriodSinceCreationInDays"] == "auditRetentionDays"


def test_app_identity_gets_only_the_storage_data_roles_it_needs() -> None:
    """Issue 11: data roles on the containers, queues and table the app uses, never on the account (it
    had Storage Blob Data Owner on the whole account: the dead-letter blobs and anything added later)."""
    assignments = [r for r in bicep.of_type("Microsoft.Authorization/roleAssignments") if r.file == STORAGE]
    roles = sorted((r.config["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"],
                    r.config["scope"]) for r in assignments)
    assert roles == sorted([
        *[("blobDataContributor", s) for s in ("audit", "checkpoints", "packs", "leases", "hostLocks",
                                               "hostSecrets", "deployment")],
        *[("queueDataContributor", s) for s in ("events", "work", "eventsPoison", "workPoison")],
        ("tableDataContributor", "state"),
    ])
    assert all(r.config["scope"] != "account" for r in assignments)
    variables = bicep.parsed(STORAGE)["variables"]
    assert "blobDataOwner" not in variables
    assert variables["blobDataContributor"]["value"] == "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
    assert variables["queueDataContributor"]["value"] == "974c5e8b-45b9-4653-ba55-5ba5b6e8ce6d"
    assert variables["tableDataContributor"]["value"] == "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
    # Every scope is a container, queue or table of this account that the code names.
    containers = {r.symbol: r.config["name"] for r in bicep.of_type(
        "Microsoft.Storage/storageAccounts/blobServices/containers") if r.file == STORAGE}
    assert {containers[s] for s in ("hostLocks", "hostSecrets")} == {"azure-webjobs-hosts", "azure-webjobs-secrets"}
    queues = {r.symbol for r in bicep.of_type("Microsoft.Storage/storageAccounts/queueServices/queues")
              if r.file == STORAGE}
    assert queues == {"events", "work", "eventsPoison", "workPoison"}


# ---------------------------------------------------------------------------------------------- function app


def _app_settings() -> dict[str, object]:
    base = bicep.variable(FUNCTION_APP, "baseSettings")
    optional = bicep.variable(FUNCTION_APP, "baselineSetting")["operator"]["operands"]["false_value"]
    return {item["name"]: item["value"] for item in [*base, *optional]}


def test_function_app_is_flex_consumption_python_311_with_the_user_assigned_identity() -> None:
    plan = bicep.one("Microsoft.Web/serverfarms", FUNCTION_APP).config
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    app = bicep.one("Microsoft.Web/sites", FUNCTION_APP).config
    assert app["identity"]["type"] == "UserAssigned"
    assert app["properties"]["httpsOnly"] is True
    config = app["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    assert config["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"
    assert app["properties"]["siteConfig"]["minTlsVersion"] == "1.2"


def test_azure_webjobs_storage_is_identity_based() -> None:
    values = _app_settings()
    for suffix in ("blobServiceUri", "queueServiceUri", "tableServiceUri", "clientId"):
        assert f"AzureWebJobsStorage__{suffix}" in values
    assert values["AzureWebJobsStorage__credential"] == "managedidentity"
    assert values["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert values["AZURE_CLIENT_ID"] == "identityClientId"
    assert "AzureWebJobsStorage" not in values


def test_app_settings_are_ones_the_code_reads_and_validates() -> None:
    names = set(_app_settings())
    readme = (bicep.ROOT / "README.md").read_text(encoding="utf-8")
    source = (bicep.ROOT / "remediators" / "settings.py").read_text(encoding="utf-8")
    host_settings = {"APPLICATIONINSIGHTS_CONNECTION_STRING", "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"}
    for name in names - host_settings:
        plain = name.split("__")[0] if name.startswith("AzureWebJobsStorage__") else name
        assert plain in source, f"{name} is not read by remediators/settings.py"
        assert name.split("__")[-1] in readme, f"{name} is not in the README settings table"
    assert {"WARDEN_SUBSCRIPTIONS", "WARDEN_DRY_RUN", "WARDEN_SIGNING_KEY", "WARDEN_BASELINE"} <= names
    # Flex Consumption refuses these as app settings (the runtime is in functionAppConfig).
    assert not names & {"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE"}


def test_dry_run_defaults_to_true_and_reaches_the_app_setting() -> None:
    main = bicep.parsed("main.bicep")
    assert main["parameters"]["dryRun"]["default"] is True
    op = _app_settings()["WARDEN_DRY_RUN"]["operator"]  # type: ignore[index]
    assert op["type"] == "conditional" and op["operands"]["true_value"] == "true"
    assert "${WARDEN_DRY_RUN=true}" in (bicep.INFRA / "main.parameters.json").read_text(encoding="utf-8")


def test_parameters_the_issue_asks_for() -> None:
    params = bicep.parsed("main.bicep")["parameters"]
    assert params["location"]["default"] == "uksouth"
    for name in ("targetSubscriptionIds", "baseline", "cacheLogsWorkspaceId", "alertEmail", "dryRun",
                 "existingSystemTopicIds"):
        assert name in params


# ---------------------------------------------------------------------------------------------- key vault


def test_key_vault_is_rbac_with_purge_protection_and_an_ec_p256_signing_key() -> None:
    vault = bicep.one("Microsoft.KeyVault/vaults").config["properties"]
    assert vault["enableRbacAuthorization"] is True
    assert vault["enablePurgeProtection"] is True
    key = bicep.one("Microsoft.KeyVault/vaults/keys").config["properties"]
    assert key["kty"] in ("EC", "EC-HSM")
    assert key["curveName"] == "P-256"
    assert set(key["keyOps"]) == {"sign", "verify"}
    assert key["attributes"]["exportable"] is False


def test_app_identity_may_only_sign_with_the_one_key() -> None:
    signer = bicep.variable("main.bicep", "signerDataActions")
    assert sorted(signer) == ["Microsoft.KeyVault/vaults/keys/read", "Microsoft.KeyVault/vaults/keys/sign/action"]
    assignments = {r.symbol: r for r in bicep.of_type("Microsoft.Authorization/roleAssignments")
                   if r.file == "modules/keyvault.bicep"}
    assert assignments["appSigns"].config["scope"] == "signingKey"
    assert assignments["deployerReads"].config["scope"] == "signingKey"


# ---------------------------------------------------------------------------------------------- events


def test_system_topic_is_the_subscription_kind_and_existing_one_can_be_reused() -> None:
    topic = bicep.one("Microsoft.EventGrid/systemTopics", "modules/system-topic.bicep").config
    assert topic["properties"]["topicType"] == "Microsoft.Resources.Subscriptions"
    assert topic["identity"]["type"] == "SystemAssigned"
    module = bicep.parsed("modules/target-subscription.bicep")["modules"]["topic"]["config"]
    assert module["condition"] == "createTopic"
    create = bicep.variable("modules/target-subscription.bicep", "createTopic")
    assert create == {"function": {"type": "empty", "parameters": {"item_to_test": "existingSystemTopicId"}}}


def test_event_subscription_filters_delivers_to_the_queue_and_dead_letters() -> None:
    props = bicep.one("Microsoft.EventGrid/systemTopics/eventSubscriptions").config["properties"]
    delivery = props["deliveryWithResourceIdentity"]
    assert delivery["destination"]["endpointType"] == "StorageQueue"
    assert delivery["destination"]["properties"]["queueName"] == "eventsQueueName"
    assert "destination" not in props  # never a key-based destination
    filt = props["filter"]
    assert filt["includedEventTypes"] == ["Microsoft.Resources.ResourceWriteSuccess",
                                          "Microsoft.Resources.ResourceDeleteSuccess"]
    advanced = {(f["operatorType"], f["key"]): f["values"] for f in filt["advancedFilters"]}
    assert advanced[("StringContains", "subject")] == ["/providers/Microsoft.Cache/"]
    assert advanced[("StringNotIn", "data.claims.appid")] == ["appClientId"]
    assert props["retryPolicy"]["maxDeliveryAttempts"] >= 1
    dead = props["deadLetterWithResourceIdentity"]["deadLetterDestination"]
    assert dead["endpointType"] == "StorageBlob"
    assert dead["properties"]["blobContainerName"] == "deadLetterContainerName"


def test_the_excluded_appid_is_our_identity_client_id() -> None:
    targets = bicep.module_config("main.bicep", "targets")
    assert targets["params"]["appClientId"]["operator"]["operands"]["operand_2"]["operator"]["operands"] == {
        "operand_1": "outputs", "operand_2": "clientId"}


def test_event_grid_identity_gets_sender_on_the_queue_and_blob_write_on_the_dead_letter_container() -> None:
    roles = {r.symbol: r.config for r in bicep.of_type("Microsoft.Authorization/roleAssignments")
             if r.file == "modules/event-delivery-roles.bicep"}
    assert roles["sendEvents"]["scope"] == "eventsQueue"
    assert roles["writeDeadLetters"]["scope"] == "deadLetter"
    variables = bicep.parsed("modules/event-delivery-roles.bicep")["variables"]
    assert variables["queueMessageSender"]["value"] == "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a"


# ---------------------------------------------------------------------------------------------- monitoring


def test_alert_on_audit_records_that_need_a_person_emails_the_parameter_address() -> None:
    query = bicep.variable("modules/monitoring.bicep", "auditAlertQuery")
    assert 'startswith "audit-record "' in query
    kinds = set(re.findall(r'"([a-z-]+)"', query.split("kind in", 1)[1].split(")", 1)[0]))
    assert kinds == {"alert", "blocked", "manual-action-required"}
    rule = bicep.one("Microsoft.Insights/scheduledQueryRules", "modules/monitoring.bicep").config["properties"]
    assert rule["actions"]["actionGroups"] == [{"operator": {"type": "property_accessor",
                                                            "operands": {"operand_1": "actionGroup",
                                                                         "operand_2": "id"}}}]
    group = bicep.one("Microsoft.Insights/actionGroups").config["properties"]
    assert group["emailReceivers"][0]["emailAddress"] == "alertEmail"


@pytest.mark.parametrize("scope", ["app", "blobService", "queueService", "tableService"])
def test_diagnostic_settings_for_the_app_and_storage(scope: str) -> None:
    scopes = {r.config["scope"] for r in bicep.of_type("Microsoft.Insights/diagnosticSettings")}
    assert scope in scopes
