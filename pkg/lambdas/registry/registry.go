// Package registry maps each function directory under functions/ to the
// constructor of its handler, so the local stack and the tests run exactly the
// code the Lambda binaries run.
package registry

import (
	"github.com/framegate/framegate/pkg/authapi"
	"github.com/framegate/framegate/pkg/authorizer"
	"github.com/framegate/framegate/pkg/connections"
	"github.com/framegate/framegate/pkg/delivery"
	"github.com/framegate/framegate/pkg/intake"
	"github.com/framegate/framegate/pkg/keysapi"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/openapi"
	"github.com/framegate/framegate/pkg/publish"
	"github.com/framegate/framegate/pkg/renderworker"
	"github.com/framegate/framegate/pkg/templatesapi"
	"github.com/framegate/framegate/pkg/videosapi"
	"github.com/framegate/framegate/pkg/webhooksapi"
)

// Registry returns the constructors keyed by function name (the base name of
// the function's CodeUri in template.yaml).
func Registry() map[string]lambdas.Constructor {
	return map[string]lambdas.Constructor{
		"authorizer":     authorizer.Open,
		"auth":           authapi.New,
		"keys":           keysapi.New,
		"videos":         videosapi.New,
		"templates":      templatesapi.New,
		"render-worker":  renderworker.New,
		"render-dlq":     renderworker.NewDLQ,
		"intake":         intake.New,
		"webhooks":       webhooksapi.New,
		"webhook-worker": delivery.New,
		"openapi":        openapi.New,
		"connections":    connections.New,
		"publish":        publish.New,
		"publish-worker": publish.NewWorkerFunc,
	}
}
