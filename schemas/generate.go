package schemas

// Go types are generated from the latest version of each schema with the
// avrogen version pinned by the tool directive in go.mod. The generate_test
// drift check re-runs these exact lines, so keep one schema list per line
// and name the latest vN.avsc of every schema of the package.

//go:generate go tool avrogen -pkg eventsv1 -enums -tags json:snake -template-filename gen/avrogen.tmpl -pkgdoc "Package eventsv1 holds the Go types of the public esrflow events (topics esr.<tenant>.<event>.v1), generated from the latest schemas/avro/<event>/vN.avsc" -o gen/eventsv1/events.go avro/starter-created/v1.avsc avro/leaver-confirmed/v2.avsc avro/position-updated/v1.avsc avro/leaver-reversed/v1.avsc
//go:generate go tool avrogen -pkg internalv1 -enums -tags json:snake -template-filename gen/avrogen.tmpl -pkgdoc "Package internalv1 holds the Go types of the internal esrflow topics (esr.raw.v1, esr.normalised.v1, esr.validated.v1, esr.quarantine.v1, esr.ops.file-reports.v1, esr.ops.commands.v1, esr.ops.held-batches.v1, esr.ops.replays.v1, esr.ops.intake.v1, esr.ops.lineage.v1), generated from the latest schemas/avro/<name>/vN.avsc" -o gen/internalv1/internal.go avro/raw/v4.avsc avro/entity/v4.avsc avro/quarantine/v3.avsc avro/file-report/v4.avsc avro/operator-command/v1.avsc avro/held-batch/v1.avsc avro/replay-request/v2.avsc avro/intake-decision/v1.avsc avro/event-lineage/v1.avsc
