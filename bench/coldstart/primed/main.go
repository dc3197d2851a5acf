// Command primed is a stand-in for a function whose init does what the
// authorizer's does: load the AWS config, read the pepper from Secrets
// Manager and prime the DynamoDB connection with a conditional UpdateItem on
// a key that does not exist, then start polling. It lets bench/coldstart
// exercise the priming path without depending on functions/authorizer.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/framegate/framegate/pkg/awsconf"
)

func main() {
	if err := initialise(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "init:", err)
		os.Exit(1)
	}
	lambda.Start(func(ctx context.Context, e json.RawMessage) (string, error) { return "ok", nil })
}

func initialise(ctx context.Context) error {
	cfg, err := awsconf.Load(ctx, awsconf.Options{})
	if err != nil {
		return err
	}
	sec, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(os.Getenv("PEPPER_SECRET_ARN"))})
	if err != nil {
		return fmt.Errorf("read pepper: %w", err)
	}
	if len(aws.ToString(sec.SecretString)) < 32 {
		return errors.New("pepper too short")
	}
	_, err = dynamodb.NewFromConfig(cfg).UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(os.Getenv("KEYS_TABLE")),
		Key:                 map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "prime#"}},
		UpdateExpression:    aws.String("SET primed = :t"),
		ConditionExpression: aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":t": &types.AttributeValueMemberBOOL{Value: true},
		},
	})
	if _, ok := errors.AsType[*types.ConditionalCheckFailedException](err); err != nil && !ok {
		return fmt.Errorf("prime dynamodb: %w", err)
	}
	return nil
}
