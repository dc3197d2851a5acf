package webhooks

// Destinations. An endpoint delivers over HTTP (a URL), or into the
// customer's own AWS account: an SQS queue or an EventBridge event bus,
// reached through an IAM role the customer lets framegate assume with an
// external id only framegate can compute (as S3 connections are).

import (
	"regexp"
	"strings"

	"github.com/framegate/framegate/pkg/apierr"
)

// Destination types.
const (
	TypeHTTP        = "http"
	TypeSQS         = "sqs"
	TypeEventBridge = "eventbridge"
)

// ExternalIDPrefix starts every external id framegate generates. The IAM
// policies of every function that assumes customers' roles only allow
// sts:AssumeRole with an external id of this shape, so no code path can
// assume a role without one.
const ExternalIDPrefix = "fgx_"

// ExternalID is the external id framegate presents when it assumes
// roleARN for ws/env (S3 connections and AWS webhook destinations alike):
// a keyed hash under the data key, so the same role always gets the same
// id (a customer can write it into the trust policy before or after
// creating the resource) while no one else can compute it, nor choose it,
// for their own workspace (the confused-deputy problem external ids exist
// to solve). 160 bits, in Crockford's base32.
func ExternalID(c *Cipher, ws, env, roleARN string) string {
	const crockford = "0123456789abcdefghjkmnpqrstvwxyz"
	out := []byte(ExternalIDPrefix)
	for _, x := range c.Tag("connection external id", ws+"\x00"+env+"\x00"+roleARN) {
		out = append(out, crockford[x&31])
	}
	return string(out)
}

var (
	// An IAM role ARN of any partition: 12-digit account, optional path.
	roleARN = regexp.MustCompile(`^arn:aws(-cn|-us-gov|-iso|-iso-b)?:iam::[0-9]{12}:role/([\x21-\x7e]*/)?[\w+=,.@-]{1,64}$`)
	// An SQS queue URL as the console and GetQueueUrl show it.
	queueURL = regexp.MustCompile(`^https://sqs\.([a-z]{2}(?:-[a-z]+)+-[0-9])\.amazonaws\.com(?:\.cn)?/([0-9]{12})/([A-Za-z0-9_-]{1,80}(?:\.fifo)?)$`)
	// An EventBridge event bus ARN (cross-account PutEvents needs the ARN).
	eventBusARN = regexp.MustCompile(`^arn:aws(?:-cn|-us-gov)?:events:([a-z]{2}(?:-[a-z]+)+-[0-9]):([0-9]{12}):event-bus/([A-Za-z0-9._/-]{1,256})$`)
)

// ValidRoleARN reports whether s is an IAM role ARN.
func ValidRoleARN(s string) bool { return len(s) <= 2048 && roleARN.MatchString(s) }

// AWSTarget is a queue or a bus in a customer's account and the role that
// reaches it.
type AWSTarget struct {
	Type       string // TypeSQS or TypeEventBridge
	Address    string // the queue URL or the event bus ARN
	Region     string // where the queue or bus lives
	RoleARN    string
	ExternalID string
}

// FIFO reports whether the target is an SQS FIFO queue.
func (a AWSTarget) FIFO() bool { return a.Type == TypeSQS && strings.HasSuffix(a.Address, ".fifo") }

// ParseAWSTarget reads the address of an AWS destination of type typ: a
// queue URL for sqs, an event bus ARN for eventbridge. ok is false when it
// is not one.
func ParseAWSTarget(typ, address string) (AWSTarget, bool) {
	var m []string
	switch typ {
	case TypeSQS:
		m = queueURL.FindStringSubmatch(address)
	case TypeEventBridge:
		m = eventBusARN.FindStringSubmatch(address)
	}
	if m == nil {
		return AWSTarget{}, false
	}
	return AWSTarget{Type: typ, Address: address, Region: m[1]}, true
}

// fieldOf is the request field that holds the address of typ.
func fieldOf(typ string) string {
	switch typ {
	case TypeSQS:
		return "queueUrl"
	case TypeEventBridge:
		return "eventBusArn"
	}
	return "url"
}

// checkAWSAddress validates the address of an AWS destination as a 400
// naming its field.
func checkAWSAddress(typ, address string) (string, error) {
	address = strings.TrimSpace(address)
	if _, ok := ParseAWSTarget(typ, address); ok {
		return address, nil
	}
	if typ == TypeSQS {
		return "", apierr.Invalid("/queueUrl", "queueUrl must be an SQS queue URL such as https://sqs.eu-west-1.amazonaws.com/123456789012/framegate-events.")
	}
	return "", apierr.Invalid("/eventBusArn", "eventBusArn must be an EventBridge event bus ARN such as arn:aws:events:eu-west-1:123456789012:event-bus/default.")
}

// checkRoleARN validates the role of an AWS destination.
func checkRoleARN(s string) (string, error) {
	if !ValidRoleARN(s) {
		return "", apierr.Invalid("/roleArn", "roleArn must be an IAM role ARN such as arn:aws:iam::123456789012:role/framegate-events.")
	}
	return s, nil
}
