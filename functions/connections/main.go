// Command connections serves /v1/connections (logic in pkg/connections).
package main

import (
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/connections"
	"github.com/framegate/framegate/pkg/lambdas"
)

func main() { lambdas.Start(connections.New, awsconf.Options{}) }
