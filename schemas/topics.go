package schemas

import (
	"fmt"
	"strings"
)

// Internal topics. They are keyed by tenant so a file keeps its order end to
// end.
const (
	TopicRaw         = "esr.raw.v1"
	TopicNormalised  = "esr.normalised.v1"
	TopicValidated   = "esr.validated.v1"
	TopicQuarantine  = "esr.quarantine.v1"
	TopicFileReports = "esr.ops.file-reports.v1"
	// TopicCommands carries operators' decisions on held leaver batches
	// (api → publish), keyed by tenant.
	TopicCommands = "esr.ops.commands.v1"
	// TopicHeldBatches carries the leaver guard's held batches and their
	// outcomes (publish → api, alerting), keyed by tenant.
	TopicHeldBatches = "esr.ops.held-batches.v1"
	// TopicReplays carries operators' requests to replay quarantined rows
	// (api → ingest), keyed by tenant.
	TopicReplays = "esr.ops.replays.v1"
	// TopicIntake carries operators' decisions on files ingest holds
	// (api → ingest: release out of order, or discard), keyed by tenant.
	TopicIntake = "esr.ops.intake.v1"
	// TopicLineage carries one record per published event: its source
	// row's hash, mapping and rule-set versions and stage times (publish →
	// api), keyed by tenant and written in the event's transaction.
	TopicLineage = "esr.ops.lineage.v1"
)

// TenantKeyedTopics are the internal and ops topics whose records are keyed
// by tenant code. Every producer places their records with the tenants'
// partition assignment (platform/kafka/tenantpart), so a tenant is on the
// same partition number in each of them; public event topics are keyed by
// person and are not among them.
var TenantKeyedTopics = []string{
	TopicRaw, TopicNormalised, TopicValidated, TopicQuarantine,
	TopicFileReports, TopicCommands, TopicHeldBatches, TopicReplays, TopicIntake, TopicLineage,
}

// OpsTopics are the tenant-keyed operational topics (reports, operators'
// requests, held batches, lineage); see TenantKeyedTopics.
var OpsTopics = []string{TopicFileReports, TopicCommands, TopicHeldBatches, TopicReplays, TopicIntake, TopicLineage}

// DefaultOpsPartitions is the partition count a service gives an ops topic
// it finds missing and creates (deployments create them on purpose, with
// the counts they plan: docs/partitioning.md). More than one, so the
// consumers of commands, replays and reports can run as several instances.
const DefaultOpsPartitions = 3

// Public events: the event part of esr.<tenant>.<event>.v1.
const (
	EventStarterCreated  = StarterCreated
	EventLeaverConfirmed = LeaverConfirmed
	EventPositionUpdated = PositionUpdated
	// EventLeaverReversed: a leaver-confirmed that no longer stands (its
	// termination was withdrawn or re-dated after it was published).
	EventLeaverReversed = LeaverReversed
)

// CloudEvents ce_type values, one per public event.
const (
	CETypeStarterCreated  = "uk.nhs.esr.starter-created.v1"
	CETypeLeaverConfirmed = "uk.nhs.esr.leaver-confirmed.v1"
	CETypePositionUpdated = "uk.nhs.esr.position-updated.v1"
	CETypeLeaverReversed  = "uk.nhs.esr.leaver-reversed.v1"
)

// Binding ties a topic to the schema its values use.
type Binding struct {
	// Topic is the topic name; for events it holds the "<tenant>" placeholder,
	// e.g. "esr.<tenant>.leaver-confirmed.v1".
	Topic string
	// Schema is the schema name (directory under avro/).
	Schema string
	// CEType is the CloudEvents type for public events; empty for internal
	// topics.
	CEType string
}

// Bindings lists every topic family and its value schema. esr.normalised.v1
// and esr.validated.v1 share the entity schema: validation filters records,
// it does not reshape them; each topic still has its own subject, so they
// can diverge later with a new schema name.
func Bindings() []Binding {
	return []Binding{
		{Topic: TopicRaw, Schema: Raw},
		{Topic: TopicNormalised, Schema: Entity},
		{Topic: TopicValidated, Schema: Entity},
		{Topic: TopicQuarantine, Schema: Quarantine},
		{Topic: TopicFileReports, Schema: FileReport},
		{Topic: TopicCommands, Schema: OperatorCommand},
		{Topic: TopicHeldBatches, Schema: HeldBatch},
		{Topic: TopicReplays, Schema: ReplayRequest},
		{Topic: TopicIntake, Schema: IntakeDecision},
		{Topic: TopicLineage, Schema: EventLineage},
		{Topic: "esr.<tenant>." + EventStarterCreated + ".v1", Schema: StarterCreated, CEType: CETypeStarterCreated},
		{Topic: "esr.<tenant>." + EventLeaverConfirmed + ".v1", Schema: LeaverConfirmed, CEType: CETypeLeaverConfirmed},
		{Topic: "esr.<tenant>." + EventPositionUpdated + ".v1", Schema: PositionUpdated, CEType: CETypePositionUpdated},
		{Topic: "esr.<tenant>." + EventLeaverReversed + ".v1", Schema: LeaverReversed, CEType: CETypeLeaverReversed},
	}
}

// EventTopic returns the topic of a public event for a tenant:
// esr.<ods code in lower case>.<event>.v1, e.g. esr.rxx.leaver-confirmed.v1.
// Lower case keeps topic-prefix ACLs (esr.rxx.) unambiguous.
func EventTopic(tenant, event string) string {
	return "esr." + strings.ToLower(tenant) + "." + event + ".v1"
}

// Subject returns the schema-registry subject of a topic's values under
// TopicNameStrategy: "<topic>-value".
func Subject(topic string) string { return topic + "-value" }

// SchemaForTopic returns the schema name and ce_type for a concrete topic,
// internal (esr.raw.v1) or per tenant (esr.rxx.starter-created.v1).
func SchemaForTopic(topic string) (Binding, error) {
	for _, b := range Bindings() {
		if b.Topic == topic {
			return b, nil
		}
		if b.CEType == "" {
			continue
		}
		prefix, suffix, _ := strings.Cut(b.Topic, "<tenant>")
		tenant, ok := strings.CutPrefix(topic, prefix)
		if !ok {
			continue
		}
		tenant, ok = strings.CutSuffix(tenant, suffix)
		if ok && tenant != "" && !strings.Contains(tenant, ".") {
			b.Topic = topic
			return b, nil
		}
	}
	return Binding{}, fmt.Errorf("%w for topic %q", ErrUnknownSchema, topic)
}
