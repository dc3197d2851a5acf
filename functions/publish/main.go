// Command publish serves /v1/videos/{id}/publish and the publications of a
// video (logic in pkg/publish).
package main

import (
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/publish"
)

func main() { lambdas.Start(publish.New, awsconf.Options{}) }
