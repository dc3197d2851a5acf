package devstack

// The registry maps each function directory under functions/ to how its
// Lambda binary runs it: the typed constructor functions/<name>/main.go
// passes to lambdas.Start, the AWS client options it passes with it, and the
// environment variables the function reads. The local stack and the tests
// build every function from here, so they run exactly the code and the
// client settings the Lambda binaries run; TestMainsMatchRegistry holds
// main.go to it and TestEnvironmentMatchesTemplate holds template.yaml to it.

import (
	"slices"
	"sync"

	"github.com/framegate/framegate/pkg/assets"
	"github.com/framegate/framegate/pkg/audit"
	"github.com/framegate/framegate/pkg/authorizer"
	"github.com/framegate/framegate/pkg/connections"
	"github.com/framegate/framegate/pkg/console"
	"github.com/framegate/framegate/pkg/keysapi"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/openapi"
	"github.com/framegate/framegate/pkg/publish"
	"github.com/framegate/framegate/pkg/templates"
	"github.com/framegate/framegate/pkg/usage"
	"github.com/framegate/framegate/pkg/videos"
	"github.com/framegate/framegate/pkg/webhooks"
)

// Variables every function may read: the template's Globals, and what the
// Lambda runtime sets itself.
const (
	EnvKeysTable    = "KEYS_TABLE"
	EnvDataTable    = "DATA_TABLE"
	EnvPepperSecret = "PEPPER_SECRET_ARN"
	EnvDocsURL      = "DOCS_URL"
	EnvAuditTable   = "AUDIT_TABLE"
)

// Registry returns how each function runs, keyed by function name (the base
// name of the function's CodeUri in template.yaml).
func Registry() map[string]lambdas.Function {
	webhookEnv := []string{EnvDataTable, EnvDocsURL, "WEBHOOK_QUEUE_URL", "WEBHOOK_KEY_SECRET_ARN", "WEBHOOK_ALLOW_LOOPBACK"}
	return map[string]lambdas.Function{
		"authorizer": {AWS: authorizer.AWSOptions(), Authorizer: authorizer.New,
			Env: []string{EnvKeysTable, EnvPepperSecret}},
		"auth": {HTTP: keysapi.NewAuth,
			Env: []string{EnvKeysTable, EnvDocsURL}},
		"keys": {HTTP: keysapi.New,
			Env: []string{EnvKeysTable, EnvPepperSecret, EnvDocsURL, EnvAuditTable, "EVENTS_QUEUE_URL", "WEBHOOK_QUEUE_URL"}},
		"videos": {HTTP: videos.New,
			Env: []string{EnvDataTable, EnvKeysTable, EnvDocsURL, "RENDER_QUEUE_URL", "RENDERS_BUCKET", "WEBHOOK_ALLOW_LOOPBACK"}},
		"templates": {HTTP: templates.New,
			Env: []string{EnvDataTable, EnvDocsURL, EnvAuditTable, "EVENTS_QUEUE_URL"}},
		"render-worker": {SQS: videos.NewWorker,
			Env: []string{EnvDataTable, EnvKeysTable, "RENDER_QUEUE_URL", "EVENTS_QUEUE_URL", "WEBHOOK_QUEUE_URL", "RENDERS_BUCKET", "ASSETS_BUCKET", "RENDER_LEASE_SECONDS"}},
		"render-sweeper": {Schedule: videos.NewSweeper,
			Env: []string{EnvDataTable, EnvKeysTable, "RENDERS_BUCKET"}},
		"render-dlq": {SQS: videos.NewDLQWorker,
			Env: []string{EnvDataTable, EnvKeysTable, "EVENTS_QUEUE_URL", "WEBHOOK_QUEUE_URL"}},
		"intake": {SQS: videos.NewIntakeWorker,
			Env: []string{EnvDataTable, EnvKeysTable, "RENDER_QUEUE_URL", "INTAKE_DLQ_URL", "WEBHOOK_ALLOW_LOOPBACK"}},
		"webhooks": {HTTP: webhooks.New, Env: append(webhookEnv[:len(webhookEnv):len(webhookEnv)], EnvAuditTable, "EVENTS_QUEUE_URL")},
		"webhook-worker": {SQS: webhooks.NewWorker,
			Env: append(webhookEnv[:len(webhookEnv):len(webhookEnv)], "WEBHOOK_RETRY_SCHEDULE", "EVENTS_QUEUE_URL", "RENDERS_BUCKET")},
		"openapi": {HTTP: openapi.New, Env: []string{EnvDocsURL}},
		"assets": {HTTP: assets.New,
			Env: []string{EnvDataTable, EnvKeysTable, EnvDocsURL, "ASSETS_BUCKET", EnvAuditTable, "EVENTS_QUEUE_URL"}},
		"asset-worker": {SQS: assets.NewWorker,
			Env: []string{EnvDataTable, "ASSETS_BUCKET", "EVENTS_QUEUE_URL", "WEBHOOK_QUEUE_URL"}},
		"console": {HTTP: console.New,
			Env: []string{EnvKeysTable, EnvPepperSecret, EnvDocsURL, "RENDERS_BUCKET"}},
		"audit":       {HTTP: audit.New, Env: []string{EnvAuditTable, EnvDocsURL}},
		"usage":       {HTTP: usage.New, Env: []string{EnvKeysTable, EnvDocsURL}},
		"usage-sweep": {Schedule: usage.NewWorker, Env: []string{EnvKeysTable}},
		"key-expiry": {Schedule: keysapi.NewExpiryWorker,
			Env: []string{EnvKeysTable, "EVENTS_QUEUE_URL", "WEBHOOK_QUEUE_URL"}},
		"secret-scanning": {HTTP: keysapi.NewSecretScanning,
			Env: []string{EnvKeysTable, EnvPepperSecret, EnvDocsURL, EnvAuditTable, "EVENTS_QUEUE_URL", "WEBHOOK_QUEUE_URL",
				keysapi.EnvScanningKeysFile, keysapi.EnvScanningKeysURL}},
		"connections": {HTTP: connections.New,
			Env: []string{EnvDataTable, EnvDocsURL, "WEBHOOK_KEY_SECRET_ARN", "WEBHOOK_ALLOW_LOOPBACK", EnvAuditTable, "EVENTS_QUEUE_URL"}},
		"publish": {HTTP: publish.New,
			Env: []string{EnvDataTable, EnvKeysTable, EnvDocsURL, "PUBLISH_QUEUE_URL", EnvAuditTable, "EVENTS_QUEUE_URL"}},
		"publish-worker": {SQS: publish.NewWorker,
			Env: []string{EnvDataTable, EnvKeysTable, "PUBLISH_QUEUE_URL", "EVENTS_QUEUE_URL", "WEBHOOK_QUEUE_URL", "RENDERS_BUCKET",
				"WEBHOOK_KEY_SECRET_ARN", "WEBHOOK_ALLOW_LOOPBACK", "WEBHOOK_RETRY_SCHEDULE"}},
	}
}

// declaredEnv is a function's Getenv over env that only answers the names
// it declared and those the Lambda runtime sets in every function's
// environment, and reports the others it was asked for.
func declaredEnv(declared []string, env map[string]string) (getenv func(string) string, undeclared func() []string) {
	var (
		mu   sync.Mutex
		read []string
	)
	getenv = func(k string) string {
		switch {
		case slices.Contains(declared, k),
			k == "AWS_REGION", k == "AWS_DEFAULT_REGION", k == "AWS_LAMBDA_FUNCTION_NAME", k == "AWS_LAMBDA_FUNCTION_MEMORY_SIZE":
			return env[k]
		}
		mu.Lock()
		defer mu.Unlock()
		if !slices.Contains(read, k) {
			read = append(read, k)
		}
		return ""
	}
	undeclared = func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(read)
	}
	return getenv, undeclared
}
