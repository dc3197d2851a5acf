// Command usage serves GET /v1/usage (logic in pkg/usage).
package main

import (
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/usage"
)

func main() { lambdas.Start(usage.New, awsconf.Options{}) }
