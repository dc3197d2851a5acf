package connections

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/awsconf"
)

// RoleAssumer is the part of the STS client that assumes connections' roles.
type RoleAssumer interface {
	AssumeRole(context.Context, *sts.AssumeRoleInput, ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
}

// Bucket is what framegate does in a customer's bucket.
type Bucket interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// Roles assumes the roles of S3 connections. The publish worker copies
// videos and the connections API checks a new connection through the same
// Assume, so the check exercises exactly what publishing will do.
type Roles struct {
	STS RoleAssumer
	// Bucket returns an S3 client with creds in region ("" is the region
	// framegate runs in): the customer's bucket may live anywhere.
	Bucket func(creds aws.CredentialsProvider, region string) Bucket
}

// NewRoles builds Roles from one AWS config: STS with the function's own
// credentials, S3 with the assumed role's.
func NewRoles(cfg aws.Config) *Roles {
	return &Roles{
		STS: sts.NewFromConfig(cfg),
		Bucket: func(creds aws.CredentialsProvider, region string) Bucket {
			return s3.NewFromConfig(cfg, func(o *s3.Options) {
				o.Credentials = creds
				if region != "" {
					o.Region = region
				}
				o.UsePathStyle = awsconf.UsesEmulator(cfg) // the emulator's buckets are not DNS names
			})
		},
	}
}

// ErrNoCredentials is an AssumeRole answer without credentials.
var ErrNoCredentials = errors.New("assume role: no credentials returned")

// SessionDuration is how long an assumed role's credentials last.
const SessionDuration = 15 * time.Minute

// Assume assumes c's role with c's external id, as session "session" (it
// shows in the customer's CloudTrail), and returns a client of c's bucket
// region with the role's credentials. Errors are the SDK's, for the caller
// to classify.
func (r *Roles) Assume(ctx context.Context, c Connection, session string) (Bucket, error) {
	out, err := r.STS.AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String(c.RoleARN), ExternalId: aws.String(c.ExternalID),
		RoleSessionName: aws.String(session), DurationSeconds: aws.Int32(int32(SessionDuration / time.Second)),
	})
	if err != nil {
		return nil, err
	}
	if out.Credentials == nil {
		return nil, ErrNoCredentials
	}
	cr := out.Credentials
	creds := credentials.NewStaticCredentialsProvider(aws.ToString(cr.AccessKeyId), aws.ToString(cr.SecretAccessKey), aws.ToString(cr.SessionToken))
	return r.Bucket(creds, c.Region), nil
}

// AccessCheckObject is the zero-byte object the access check writes under
// a connection's prefix, then deletes.
const AccessCheckObject = ".framegate-access-check"

// AccessCheckTimeout bounds the whole check: AssumeRole, write, delete.
const AccessCheckTimeout = 5 * time.Second

// Checker proves, before an S3 connection is stored, that framegate can
// assume its role with its external id and write under its prefix.
type Checker struct {
	Roles   *Roles
	Log     *slog.Logger
	Timeout time.Duration // 0 means AccessCheckTimeout
}

// AccessCheckKey is the key the check writes for c.
func AccessCheckKey(c Connection) string { return c.Prefix + AccessCheckObject }

// Check assumes c's role exactly as publishing does, writes
// AccessCheckKey(c) and deletes it (a failed delete is only logged). A
// failure on the customer's side is a 400 naming the field to fix; a
// timeout or an AWS outage is a 503. No message carries an SDK error.
func (k *Checker) Check(ctx context.Context, c Connection) error {
	timeout := k.Timeout
	if timeout <= 0 {
		timeout = AccessCheckTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	b, err := k.Roles.Assume(ctx, c, "framegate-check-"+c.ID)
	if err != nil {
		return k.roleError(ctx, c, err)
	}
	key := AccessCheckKey(c)
	_, err = b.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(c.Bucket), Key: aws.String(key), Body: bytes.NewReader(nil), ContentLength: aws.Int64(0),
	})
	if err != nil {
		return k.writeError(ctx, c, key, err)
	}
	if _, err := b.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(c.Bucket), Key: aws.String(key)}); err != nil {
		k.log().WarnContext(ctx, "access check: the check object stays in the customer's bucket",
			"connection", c.ID, "bucket", c.Bucket, "key", key, "err", err)
	}
	return nil
}

func (k *Checker) log() *slog.Logger {
	if k.Log == nil {
		return slog.Default()
	}
	return k.Log
}

// transient reports a failure that says nothing about the customer's
// setup: our deadline, the network, throttling, an AWS 5xx.
func transient(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return true
	}
	switch ae.ErrorCode() {
	case "Throttling", "ThrottlingException", "SlowDown", "RequestLimitExceeded", "TooManyRequestsException",
		"RequestTimeout", "RequestTimeoutException", "ServiceUnavailable", "InternalError", "IDPCommunicationError":
		return true
	}
	return ae.ErrorFault() == smithy.FaultServer
}

func unavailable(cause error) error {
	return &apierr.Error{Code: apierr.ServiceUnavailable, Cause: cause, Message: "framegate could not finish checking " +
		"access to the role and bucket: AWS did not answer in time or was unavailable. Nothing was created; retry shortly."}
}

func (k *Checker) roleError(ctx context.Context, c Connection, err error) error {
	k.log().WarnContext(ctx, "access check: assume role failed", "connection", c.ID, "role", c.RoleARN, "err", err)
	var ae smithy.APIError
	switch {
	case errors.Is(err, ErrNoCredentials) || transient(err):
		return unavailable(err)
	case errors.As(err, &ae) && ae.ErrorCode() == "RegionDisabledException":
		return fmt.Errorf("access check of %s: STS is disabled in our region: %w", c.ID, err) // ours to fix: a 500
	}
	return &apierr.Error{Code: apierr.InvalidRequest, Field: "/roleArn", Cause: err, Message: fmt.Sprintf(
		"framegate could not assume the role %s with the external id %s. In the role's trust policy, allow sts:AssumeRole "+
			"to framegate's connections and publishing roles with the condition sts:ExternalId equal to %s, then send this "+
			"request again: the same roleArn gets the same external id. See the S3 connections section of the publishing docs.",
		c.RoleARN, c.ExternalID, c.ExternalID)}
}

func (k *Checker) writeError(ctx context.Context, c Connection, key string, err error) error {
	k.log().WarnContext(ctx, "access check: write failed", "connection", c.ID, "bucket", c.Bucket, "key", key, "err", err)
	if transient(err) {
		return unavailable(err)
	}
	var ae smithy.APIError
	errors.As(err, &ae)
	where := fmt.Sprintf("s3://%s/%s", c.Bucket, key)
	switch ae.ErrorCode() {
	case "NoSuchBucket":
		return &apierr.Error{Code: apierr.InvalidRequest, Field: "/bucket", Cause: err, Message: fmt.Sprintf(
			"The bucket %s does not exist: framegate assumed the role but could not write the access-check object %s. "+
				"Check the bucket name (and region), or create the bucket, then send this request again.", c.Bucket, where)}
	case "PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException":
		return &apierr.Error{Code: apierr.InvalidRequest, Field: "/region", Cause: err, Message: fmt.Sprintf(
			"The bucket %s is not in the region framegate used: set region to the bucket's region, then send this request again.", c.Bucket)}
	}
	resource := fmt.Sprintf("arn:%s:s3:::%s/%s*", partition(c.RoleARN), c.Bucket, c.Prefix)
	if ae.ErrorCode() == "AccessDenied" || ae.ErrorCode() == "AllAccessDisabled" {
		return &apierr.Error{Code: apierr.InvalidRequest, Field: "/bucket", Cause: err, Message: fmt.Sprintf(
			"framegate assumed the role %s but may not write the access-check object %s. Give the role s3:PutObject on %s "+
				"(and kms:GenerateDataKey on the bucket's KMS key if its default encryption uses one), make sure the bucket "+
				"policy does not deny it, then send this request again.", c.RoleARN, where, resource)}
	}
	return &apierr.Error{Code: apierr.InvalidRequest, Field: "/bucket", Cause: err, Message: fmt.Sprintf(
		"framegate assumed the role %s but S3 refused the access-check object %s. Check that the role has s3:PutObject on %s "+
			"and that the bucket's policy, encryption and object lock settings allow a plain write, then send this request again.",
		c.RoleARN, where, resource)}
}

// partition is the partition of an ARN ("aws", "aws-cn", …).
func partition(arn string) string {
	if p := strings.SplitN(arn, ":", 3); len(p) == 3 && p[1] != "" {
		return p[1]
	}
	return "aws"
}
