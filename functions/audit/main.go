// Command audit serves GET /v1/audit-events (logic in pkg/audit).
package main

import (
	"github.com/framegate/framegate/pkg/audit"
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/lambdas"
)

func main() { lambdas.Start(audit.New, awsconf.Options{}) }
