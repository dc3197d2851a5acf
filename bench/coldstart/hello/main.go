// Command hello is the cold-start baseline: the smallest aws-lambda-go
// function, built with the same flags as ours, so bench/coldstart can report
// our init cost as a ratio that does not depend on the machine.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(ctx context.Context, e json.RawMessage) (string, error) { return "ok", nil })
}
