// Package envvars lists the environment variables vacunometro reads, so
// that what reads them (internal/app's Settings, internal/tracing) and what
// must clear them (the test harness in internal/testenv starting a child
// with its defaults) share one list. internal/app's tests check that its
// Settings read exactly Settings.
package envvars

// Settings are the variables of internal/app's Settings (README,
// "Configuration").
var Settings = []string{
	"MONGODB_URI", "MONGODB_DATABASE", "REDIS_URL",
	"PUBSUB_PROJECT", "PUBSUB_EMULATOR_HOST", "PUBSUB_TOPIC", "PUBSUB_SUBSCRIPTION",
	"GRPC_SERVER_ADDRESS", "SPLIT", "ADMIN_TOKEN", "PORT", "LOG_LEVEL", "LOG_FORMAT",
	"ALLOWED_ORIGINS", "WEB_DIR", "FAULTS", "GRPC_ADDR", "HEALTH_ADDR", "HOSTNAME",
	"LOCAL_PRODUCER_KEY", "QUOTA_RATE", "QUOTA_BURST", "ID_TOKEN_AUDIENCE", "ID_TOKEN_ACCOUNTS",
	"SINK_INTERVAL", "ROUTE_IN_FLIGHT",
}

// LibraryPrefixes are prefixes of variables libraries read on their own
// (OpenTelemetry's exporters).
var LibraryPrefixes = []string{"OTEL_"}
