// Command secret-scanning serves POST /v1/secret-scanning/github, GitHub's
// reports of framegate keys found in public code (logic in pkg/keysapi).
package main

import (
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/keysapi"
	"github.com/framegate/framegate/pkg/lambdas"
)

func main() { lambdas.Start(keysapi.NewSecretScanning, awsconf.Options{}) }
