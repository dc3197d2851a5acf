package testenv_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/framegate/framegate/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestNewIsolatesTests(t *testing.T) {
	a, b := testenv.New(t), testenv.New(t)
	ta, tb := a.Getenv("KeysFunction")("KEYS_TABLE"), b.Getenv("keys")("KEYS_TABLE")
	if ta == "" || ta == tb || !strings.HasPrefix(ta, a.Prefix) {
		t.Fatalf("KEYS_TABLE %q and %q: want two distinct tables under their prefixes", ta, tb)
	}
	if _, err := dynamodb.NewFromConfig(a.AWS).DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(ta)}); err != nil {
		t.Fatalf("table %s not provisioned: %v", ta, err)
	}
	if got := a.Getenv("AuthorizerFunction")("PEPPER_SECRET_ARN"); !strings.HasPrefix(got, "arn:aws:secretsmanager:") {
		t.Errorf("PEPPER_SECRET_ARN = %q", got)
	}
}

func TestClock(t *testing.T) {
	c := testenv.NewClock(time.Unix(100, 0))
	c.Advance(time.Minute)
	if got := c.Now(); !got.Equal(time.Unix(160, 0)) {
		t.Errorf("now = %v", got)
	}
}
