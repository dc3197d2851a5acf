package devstack

// The registry maps each function directory under functions/ to the
// constructor of its handler, so the local stack and the tests run exactly
// the code the Lambda binaries run.

import (
	"github.com/framegate/framegate/pkg/authorizer"
	"github.com/framegate/framegate/pkg/connections"
	"github.com/framegate/framegate/pkg/keysapi"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/openapi"
	"github.com/framegate/framegate/pkg/publish"
	"github.com/framegate/framegate/pkg/templates"
	"github.com/framegate/framegate/pkg/videos"
	"github.com/framegate/framegate/pkg/webhooks"
)

// Registry returns the constructors keyed by function name (the base name of
// the function's CodeUri in template.yaml).
func Registry() map[string]lambdas.Constructor {
	return map[string]lambdas.Constructor{
		"authorizer":     authorizer.Open,
		"auth":           keysapi.NewAuth,
		"keys":           keysapi.New,
		"videos":         videos.New,
		"templates":      templates.New,
		"render-worker":  videos.NewWorker,
		"render-dlq":     videos.NewDLQWorker,
		"intake":         videos.NewIntakeWorker,
		"webhooks":       webhooks.New,
		"webhook-worker": webhooks.NewWorker,
		"openapi":        openapi.New,
		"connections":    connections.New,
		"publish":        publish.New,
		"publish-worker": publish.NewWorkerFunc,
	}
}
