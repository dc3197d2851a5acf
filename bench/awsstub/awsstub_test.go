package awsstub_test

import (
	"context"
	"errors"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/framegate/framegate/bench/awsstub"
	"github.com/framegate/framegate/pkg/awsconf"
)

const (
	updateItem = "DynamoDB_20120810.UpdateItem"
	getItem    = "DynamoDB_20120810.GetItem"
	getSecret  = "secretsmanager.GetSecretValue"
)

func TestMain(m *testing.M) {
	// awsconf.Load hands the SDK a plain *http.Client, which LoadDefaultConfig
	// refuses when AWS_CA_BUNDLE is set ("unable to add custom RootCAs"); the
	// stub is plain HTTP, so the bundle is irrelevant here.
	os.Unsetenv("AWS_CA_BUNDLE")
	os.Exit(m.Run())
}

func start(t *testing.T) *awsstub.Stub {
	t.Helper()
	s, err := awsstub.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// config returns the SDK config the product uses, pointed at the stub;
// inProcess swaps the socket for the stub's in-process transport.
func config(t *testing.T, s *awsstub.Stub, inProcess bool) aws.Config {
	t.Helper()
	cfg, err := awsconf.Load(context.Background(), awsconf.Options{Endpoint: s.URL(), StaticCredentials: true, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if inProcess {
		cfg.HTTPClient = &http.Client{Transport: s.Transport()}
	}
	return cfg
}

func key(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: id}}
}

func TestDynamoDBAndSecrets(t *testing.T) {
	for _, inProcess := range []bool{false, true} {
		t.Run("inProcess="+strconv.FormatBool(inProcess), func(t *testing.T) {
			s := start(t)
			cfg := config(t, s, inProcess)
			ctx := context.Background()

			var gotBody string
			s.Handle(updateItem, func(body []byte) (int, []byte) {
				gotBody = string(body)
				return awsstub.JSON(map[string]any{"Attributes": map[string]any{
					"pk":     awsstub.S("k1"),
					"count":  awsstub.N(3),
					"scopes": awsstub.SS("videos:read", "videos:write"),
				}})
			})
			s.Handle(getItem, awsstub.Static(awsstub.JSON(map[string]any{"Item": map[string]any{
				"pk":      awsstub.S("k1"),
				"revoked": awsstub.BOOL(true),
				"limits":  awsstub.M(map[string]any{"rpm": awsstub.N(int64(100))}),
			}})))
			s.Handle(getSecret, awsstub.Static(awsstub.JSON(map[string]any{
				"ARN": "arn:aws:secretsmanager:us-east-1:000000000000:secret:pepper", "Name": "pepper",
				"SecretString": "s3cret", "VersionStages": []string{"AWSCURRENT"},
			})))

			db := dynamodb.NewFromConfig(cfg)
			up, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName: aws.String("keys"), Key: key("k1"),
				UpdateExpression: aws.String("ADD #c :one"), ReturnValues: types.ReturnValueAllNew,
				ExpressionAttributeNames:  map[string]string{"#c": "count"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}},
			})
			if err != nil {
				t.Fatalf("UpdateItem: %v", err)
			}
			if n, ok := up.Attributes["count"].(*types.AttributeValueMemberN); !ok || n.Value != "3" {
				t.Errorf("Attributes[count] = %#v, want N 3", up.Attributes["count"])
			}
			if ss, ok := up.Attributes["scopes"].(*types.AttributeValueMemberSS); !ok || len(ss.Value) != 2 {
				t.Errorf("Attributes[scopes] = %#v, want SS of 2", up.Attributes["scopes"])
			}
			if !strings.Contains(gotBody, `"TableName":"keys"`) {
				t.Errorf("handler saw body %q, want the request", gotBody)
			}

			for range 2 { // the second answer comes from the cached headers
				got, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("keys"), Key: key("k1")})
				if err != nil {
					t.Fatalf("GetItem: %v", err)
				}
				if b, ok := got.Item["revoked"].(*types.AttributeValueMemberBOOL); !ok || !b.Value {
					t.Errorf("Item[revoked] = %#v, want BOOL true", got.Item["revoked"])
				}
				m, ok := got.Item["limits"].(*types.AttributeValueMemberM)
				if !ok || m.Value["rpm"].(*types.AttributeValueMemberN).Value != "100" {
					t.Errorf("Item[limits] = %#v, want M{rpm: 100}", got.Item["limits"])
				}
			}

			sm := secretsmanager.NewFromConfig(cfg)
			sec, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("pepper")})
			if err != nil {
				t.Fatalf("GetSecretValue: %v", err)
			}
			if aws.ToString(sec.SecretString) != "s3cret" {
				t.Errorf("SecretString = %q", aws.ToString(sec.SecretString))
			}

			want := map[string]int64{updateItem: 1, getItem: 2, getSecret: 1}
			for target, n := range want {
				if got := s.Calls(target); got != n {
					t.Errorf("Calls(%s) = %d, want %d", target, got, n)
				}
			}
			if got := s.CallCounts(); len(got) != len(want) {
				t.Errorf("CallCounts() = %v, want %v", got, want)
			}
			s.ResetCalls()
			if got := s.Calls(getItem); got != 0 {
				t.Errorf("after ResetCalls, Calls = %d", got)
			}
		})
	}
}

func TestTypedErrors(t *testing.T) {
	s := start(t)
	cfg := config(t, s, false)
	ctx := context.Background()
	db := dynamodb.NewFromConfig(cfg)

	s.Handle(updateItem, awsstub.Static(awsstub.DynamoDBError("ConditionalCheckFailedException",
		"The conditional request failed", map[string]any{"pk": awsstub.S("k1"), "revoked": awsstub.BOOL(true)})))
	_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("keys"), Key: key("k1"),
		UpdateExpression: aws.String("SET x = :x"), ConditionExpression: aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues:           map[string]types.AttributeValue{":x": &types.AttributeValueMemberN{Value: "1"}},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		t.Fatalf("err = %v, want *types.ConditionalCheckFailedException", err)
	}
	if b, ok := ccf.Item["revoked"].(*types.AttributeValueMemberBOOL); !ok || !b.Value {
		t.Errorf("ccf.Item = %#v, want revoked=true", ccf.Item)
	}
	if got := s.Calls(updateItem); got != 1 {
		t.Errorf("conditional failure: Calls = %d, want 1 (not retried)", got)
	}

	// Throttling is retried by the SDK: every attempt reaches the stub.
	s.ResetCalls()
	s.Handle(updateItem, awsstub.Static(awsstub.DynamoDBError("ProvisionedThroughputExceededException", "slow down")))
	_, err = db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("keys"), Key: key("k1")})
	var pte *types.ProvisionedThroughputExceededException
	if !errors.As(err, &pte) {
		t.Fatalf("err = %v, want *types.ProvisionedThroughputExceededException", err)
	}
	if got := s.Calls(updateItem); got != 3 {
		t.Errorf("throttled: Calls = %d, want 3 (awsconf's MaxAttempts)", got)
	}

	// An operation with no handler is an UnknownOperationException, counted.
	_, err = db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("keys"), Key: key("k1")})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "UnknownOperationException" {
		t.Fatalf("err = %v, want UnknownOperationException", err)
	}
	if got := s.Calls("DynamoDB_20120810.DeleteItem"); got != 1 {
		t.Errorf("unknown op: Calls = %d, want 1", got)
	}

	// A Secrets Manager error through the generic helper.
	s.Handle(getSecret, awsstub.Static(awsstub.Error("ResourceNotFoundException", "no such secret")))
	_, err = secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("x")})
	if !errors.As(err, &api) || api.ErrorCode() != "ResourceNotFoundException" {
		t.Fatalf("err = %v, want ResourceNotFoundException", err)
	}
}

// The wire format, checked without the SDK: the SDK only validates the CRC
// when the header is present, so a missing header would pass the tests above.
func TestWireHeaders(t *testing.T) {
	s := start(t)
	s.Handle(updateItem, awsstub.Static(awsstub.JSON(map[string]any{})))
	s.Handle(getSecret, awsstub.Static(awsstub.JSON(map[string]any{})))
	tests := []struct {
		target, contentType string
		status              int
		crc                 bool
	}{
		{updateItem, "application/x-amz-json-1.0", 200, true},
		{getSecret, "application/x-amz-json-1.1", 200, false},
		{"DynamoDB_20120810.Scan", "application/x-amz-json-1.0", 400, true},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest("POST", s.URL(), strings.NewReader("{}"))
		req.Header.Set("X-Amz-Target", tt.target)
		req.Header.Set("Content-Type", tt.contentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d (%s)", tt.target, resp.StatusCode, tt.status, body)
		}
		if got := resp.Header.Get("Content-Type"); got != tt.contentType {
			t.Errorf("%s: Content-Type %q, want %q", tt.target, got, tt.contentType)
		}
		if resp.Header.Get("X-Amzn-RequestId") == "" {
			t.Errorf("%s: no x-amzn-RequestId", tt.target)
		}
		crc := resp.Header.Get("X-Amz-Crc32")
		if want := strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10); tt.crc && crc != want {
			t.Errorf("%s: X-Amz-Crc32 %q, want %q", tt.target, crc, want)
		} else if !tt.crc && crc != "" {
			t.Errorf("%s: unexpected X-Amz-Crc32 %q", tt.target, crc)
		}
		if tt.status == 400 && !strings.Contains(string(body), `"__type":"UnknownOperationException"`) {
			t.Errorf("%s: body %s, want UnknownOperationException", tt.target, body)
		}
	}
}

func TestConcurrentCallsAreExact(t *testing.T) {
	s := start(t)
	db := dynamodb.NewFromConfig(config(t, s, false))
	s.Handle(updateItem, awsstub.Static(awsstub.JSON(map[string]any{})))
	const workers, each = 8, 25
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				if _, err := db.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{TableName: aws.String("keys"), Key: key("k")}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := s.Calls(updateItem); got != workers*each {
		t.Errorf("Calls = %d, want %d", got, workers*each)
	}
}

// BenchmarkUpdateItem shows what one call costs through the stub, so the
// stub's share of other benchmarks can be judged.
func BenchmarkUpdateItem(b *testing.B) {
	for _, inProcess := range []bool{false, true} {
		b.Run("inProcess="+strconv.FormatBool(inProcess), func(b *testing.B) {
			s, err := awsstub.Start()
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			cfg, _ := awsconf.Load(context.Background(), awsconf.Options{Endpoint: s.URL(), StaticCredentials: true, Region: "us-east-1"})
			if inProcess {
				cfg.HTTPClient = &http.Client{Transport: s.Transport()}
			}
			s.Handle(updateItem, awsstub.Static(awsstub.JSON(map[string]any{"Attributes": map[string]any{"count": awsstub.N(1)}})))
			db := dynamodb.NewFromConfig(cfg)
			in := &dynamodb.UpdateItemInput{TableName: aws.String("keys"), Key: key("k"), ReturnValues: types.ReturnValueAllNew}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := db.UpdateItem(context.Background(), in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
