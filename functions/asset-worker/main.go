// Command asset-worker ingests uploaded assets from S3 notifications (logic
// in pkg/assets).
package main

import (
	"github.com/framegate/framegate/pkg/assets"
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/lambdas"
)

func main() { lambdas.Start(assets.NewWorker, awsconf.Options{}) }
