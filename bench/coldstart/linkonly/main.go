// Command linkonly links every package functions/authorizer links and does
// none of its init work: no config, no pepper, no priming. Its cold start is
// the floor the authorizer cannot go below without dropping those packages:
// Go runs every linked package's initialisation before main, and the SDK's
// DynamoDB and Secrets Manager packages build their schemas and endpoint
// tables there. bench/coldstart measures it next to the authorizer.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"

	_ "github.com/framegate/framegate/pkg/authorizer"
	_ "github.com/framegate/framegate/pkg/awsconf"
	_ "github.com/framegate/framegate/pkg/lambdas"
)

func main() {
	lambda.Start(func(context.Context, json.RawMessage) (string, error) { return "ok", nil })
}
