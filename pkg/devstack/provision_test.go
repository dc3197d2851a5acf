package devstack_test

import (
	"context"
	"encoding/json"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/framegate/framegate/pkg/devstack"
	"github.com/framegate/framegate/pkg/samtemplate"
	"github.com/framegate/framegate/pkg/testenv"
)

func TestProvision(t *testing.T) {
	ctx := context.Background()
	cfg := testenv.AWSConfig(t)
	tpl, err := samtemplate.Load("testdata/template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	prefix := testenv.UniquePrefix(t)
	res, err := devstack.Provision(ctx, cfg, tpl, prefix)
	if err != nil {
		t.Fatal(err)
	}
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			_ = res.Destroy(context.Background())
		}
	})

	table, _ := res.Get("Table")
	q, _ := res.Get("WorkQueue")
	dlq, _ := res.Get("WorkDLQ")
	bucket, _ := res.Get("Bucket")
	secret, _ := res.Get("Secret")
	if table.Name != prefix+"-Table" || q.Name != prefix+"-WorkQueue" {
		t.Errorf("names %q %q", table.Name, q.Name)
	}

	t.Run("environment resolves like CloudFormation", func(t *testing.T) {
		echo, _ := tpl.Function("EchoFunction")
		env, err := res.Env(echo)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"TABLE":      table.Name,
			"SECRET_ARN": secret.ARN,
			"GREETING":   "hello",
			"QUEUE_URL":  q.URL,
			"QUEUE_NAME": q.Name,
			"TABLE_ARN":  table.ARN,
			"SUBBED":     table.Name + "|" + q.ARN + "|us-east-1|" + res.AccountID + "|${Literal}",
			"PAIR":       bucket.Name,
		}
		for k, v := range want {
			if env[k] != v {
				t.Errorf("%s = %q, want %q", k, env[k], v)
			}
		}
		res.Parameters["Greeting"] = "hi"
		if v, _ := res.Resolve(samtemplate.Value{Ref: "Greeting"}); v != "hi" {
			t.Errorf("parameter override: %q", v)
		}
		if _, err := res.Resolve(samtemplate.Value{GetAtt: [2]string{"Table", "StreamArn"}}); err == nil {
			t.Error("unsupported attribute resolved")
		}
	})

	t.Run("table has keys, index and ttl", func(t *testing.T) {
		c := dynamodb.NewFromConfig(cfg)
		d, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table.Name)})
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Table.KeySchema) != 2 || len(d.Table.GlobalSecondaryIndexes) != 1 || aws.ToString(d.Table.GlobalSecondaryIndexes[0].IndexName) != "gsi1" {
			t.Errorf("table %+v", d.Table)
		}
		ttl, err := c.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table.Name)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(ttl.TimeToLiveDescription.AttributeName) != "ttl" || ttl.TimeToLiveDescription.TimeToLiveStatus != "ENABLED" {
			t.Errorf("ttl %+v", ttl.TimeToLiveDescription)
		}
	})

	t.Run("queue redrives to its DLQ", func(t *testing.T) {
		out, err := sqs.NewFromConfig(cfg).GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: aws.String(q.URL), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll},
		})
		if err != nil {
			t.Fatal(err)
		}
		var rp struct {
			Target string `json:"deadLetterTargetArn"`
			Max    int    `json:"maxReceiveCount"`
		}
		if err := json.Unmarshal([]byte(out.Attributes["RedrivePolicy"]), &rp); err != nil {
			t.Fatal(err)
		}
		if rp.Target != dlq.ARN || rp.Max != 2 || out.Attributes["VisibilityTimeout"] != "1" || out.Attributes["QueueArn"] != q.ARN {
			t.Errorf("attributes %v", out.Attributes)
		}
	})

	t.Run("bucket lifecycle", func(t *testing.T) {
		c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
		out, err := c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String(bucket.Name)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Rules) != 1 || aws.ToInt32(out.Rules[0].Expiration.Days) != 1 {
			t.Errorf("rules %+v", out.Rules)
		}
	})

	sm := secretsmanager.NewFromConfig(cfg)
	sv, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secret.ARN)})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9]{64}$`).MatchString(aws.ToString(sv.SecretString)) {
		t.Errorf("secret %q: want 64 alphanumerics", aws.ToString(sv.SecretString))
	}

	t.Run("provisioning again reuses everything and keeps the secret", func(t *testing.T) {
		again, err := devstack.Provision(ctx, cfg, tpl, prefix)
		if err != nil {
			t.Fatal(err)
		}
		for id, r := range res.ByID {
			if again.ByID[id] != r {
				t.Errorf("%s: %+v then %+v", id, r, again.ByID[id])
			}
		}
		sv2, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secret.ARN)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(sv2.SecretString) != aws.ToString(sv.SecretString) {
			t.Error("the secret changed: keys hashed with the old pepper would stop verifying")
		}
	})

	if err := res.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	destroyed = true
	if _, err := dynamodb.NewFromConfig(cfg).DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table.Name)}); err == nil {
		t.Error("table survived Destroy")
	}
}

func TestMotoStopLeavesNoProcess(t *testing.T) {
	testenv.Integration(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := devstack.StartMoto(ctx, devstack.MotoOptions{Logger: testenv.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	pid := m.PID()
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	// The group is gone: signalling it fails.
	if err := syscall.Kill(-pid, 0); err == nil {
		t.Errorf("process group %d still alive after Stop", pid)
	}
}
