// Command openapi serves GET /v1/openapi.json without a key (logic in
// pkg/openapi).
package main

import (
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/openapi"
)

func main() { lambdas.Start(openapi.New, awsconf.Options{}) }
