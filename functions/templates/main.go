// Command templates serves /v1/templates (logic in pkg/templates).
package main

import (
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/templates"
)

func main() { lambdas.Start(templates.New, awsconf.Options{}) }
