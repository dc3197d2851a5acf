package devstack

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/samtemplate"
)

// Kinds of provisioned resources.
const (
	KindTable    = "table"
	KindQueue    = "queue"
	KindBucket   = "bucket"
	KindSecret   = "secret"
	KindApi      = "api"
	KindFunction = "function"
)

// Resource is one provisioned resource.
type Resource struct {
	LogicalID string
	Kind      string
	Name      string // physical name (for the Api: its id)
	ARN       string
	URL       string // queues only
}

// Resources is what Provision created, by logical ID, and resolves the
// template's intrinsic functions against it.
type Resources struct {
	Region    string
	AccountID string
	Prefix    string
	// Parameters starts as the template's defaults; set a value to override
	// it before resolving.
	Parameters map[string]string
	ByID       map[string]Resource

	cfg aws.Config
	tpl *samtemplate.Template
}

// Provision creates, in dependency order, every table, queue, bucket and
// secret of tpl, named <prefix>-<LogicalID>. Running it again with the same
// prefix reuses what exists (and keeps secrets' values), so a dev restart
// against a long-running emulator keeps its data.
func Provision(ctx context.Context, cfg aws.Config, tpl *samtemplate.Template, prefix string) (*Resources, error) {
	if prefix == "" {
		return nil, errors.New("provision: empty prefix")
	}
	r := &Resources{
		Region:     cfg.Region,
		Prefix:     prefix,
		Parameters: map[string]string{},
		ByID:       map[string]Resource{},
		cfg:        cfg,
		tpl:        tpl,
	}
	for k, v := range tpl.Parameters {
		r.Parameters[k] = v
	}
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return nil, fmt.Errorf("provision: get account id: %w", err)
	}
	r.AccountID = aws.ToString(id.Account)

	if tpl.Api.LogicalID != "" {
		// A REST API id is 10 lowercase alphanumerics; derive a stable one.
		sum := sha256.Sum256([]byte(prefix))
		r.ByID[tpl.Api.LogicalID] = Resource{LogicalID: tpl.Api.LogicalID, Kind: KindApi, Name: hex.EncodeToString(sum[:])[:10]}
	}
	for _, f := range tpl.Functions {
		name := r.physicalName(f.LogicalID, 64, false)
		r.ByID[f.LogicalID] = Resource{LogicalID: f.LogicalID, Kind: KindFunction, Name: name,
			ARN: fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", r.Region, r.AccountID, name)}
	}
	ddb := dynamodb.NewFromConfig(cfg)
	for _, t := range tpl.Tables {
		if err := r.createTable(ctx, ddb, t); err != nil {
			return nil, fmt.Errorf("provision table %s: %w", t.LogicalID, err)
		}
	}
	queues, err := queueOrder(tpl.Queues)
	if err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	sq := sqs.NewFromConfig(cfg)
	for _, q := range queues {
		if err := r.createQueue(ctx, sq, q); err != nil {
			return nil, fmt.Errorf("provision queue %s: %w", q.LogicalID, err)
		}
	}
	s3c := r.s3()
	for _, b := range tpl.Buckets {
		if err := r.createBucket(ctx, s3c, b); err != nil {
			return nil, fmt.Errorf("provision bucket %s: %w", b.LogicalID, err)
		}
	}
	sm := secretsmanager.NewFromConfig(cfg)
	for _, s := range tpl.Secrets {
		if err := r.createSecret(ctx, sm, s); err != nil {
			return nil, fmt.Errorf("provision secret %s: %w", s.LogicalID, err)
		}
	}
	return r, nil
}

func (r *Resources) s3() *s3.Client {
	return s3.NewFromConfig(r.cfg, func(o *s3.Options) { o.UsePathStyle = awsconf.UsesEmulator(r.cfg) })
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// physicalName is <prefix>-<LogicalID> made to fit the service's limits; a
// name that is too long keeps its head and gets a hash of the whole as tail,
// so two long names stay distinct.
func (r *Resources) physicalName(logicalID string, max int, lower bool) string {
	n := unsafeName.ReplaceAllString(r.Prefix+"-"+logicalID, "-")
	if lower {
		n = strings.Trim(strings.ToLower(n), "-_")
		n = strings.ReplaceAll(n, "_", "-")
	}
	if len(n) > max {
		sum := sha256.Sum256([]byte(n))
		tail := "-" + hex.EncodeToString(sum[:])[:8]
		n = strings.TrimRight(n[:max-len(tail)], "-_") + tail
	}
	return n
}

func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func (r *Resources) createTable(ctx context.Context, c *dynamodb.Client, t samtemplate.Table) error {
	name := r.physicalName(t.LogicalID, 255, false)
	attrs := map[string]string{}
	schema := func(h samtemplate.KeyAttr, rk *samtemplate.KeyAttr) []ddbtypes.KeySchemaElement {
		attrs[h.Name] = h.Type
		ks := []ddbtypes.KeySchemaElement{{AttributeName: aws.String(h.Name), KeyType: ddbtypes.KeyTypeHash}}
		if rk != nil {
			attrs[rk.Name] = rk.Type
			ks = append(ks, ddbtypes.KeySchemaElement{AttributeName: aws.String(rk.Name), KeyType: ddbtypes.KeyTypeRange})
		}
		return ks
	}
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: ddbtypes.BillingModePayPerRequest,
		KeySchema:   schema(t.HashKey, t.RangeKey),
	}
	for _, ix := range t.GlobalSecondaryIndex {
		p := &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionType(ix.ProjectionType)}
		if len(ix.NonKeyAttrs) > 0 {
			p.NonKeyAttributes = ix.NonKeyAttrs
		}
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, ddbtypes.GlobalSecondaryIndex{
			IndexName: aws.String(ix.Name), KeySchema: schema(ix.HashKey, ix.RangeKey), Projection: p,
		})
	}
	for n, ty := range attrs {
		in.AttributeDefinitions = append(in.AttributeDefinitions, ddbtypes.AttributeDefinition{
			AttributeName: aws.String(n), AttributeType: ddbtypes.ScalarAttributeType(ty),
		})
	}
	var arn string
	out, err := c.CreateTable(ctx, in)
	switch {
	case err == nil:
		arn = aws.ToString(out.TableDescription.TableArn)
	case errCode(err) == "ResourceInUseException":
		d, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			return fmt.Errorf("describe existing %s: %w", name, err)
		}
		arn = aws.ToString(d.Table.TableArn)
	default:
		return fmt.Errorf("create %s: %w", name, err)
	}
	if t.TTLAttribute != "" {
		// AWS rejects enabling TTL twice, so look before a restart re-enables it.
		d, err := c.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(name)})
		if err != nil {
			return fmt.Errorf("describe ttl of %s: %w", name, err)
		}
		ttl := d.TimeToLiveDescription
		if ttl == nil || ttl.TimeToLiveStatus != ddbtypes.TimeToLiveStatusEnabled || aws.ToString(ttl.AttributeName) != t.TTLAttribute {
			_, err := c.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
				TableName:               aws.String(name),
				TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{AttributeName: aws.String(t.TTLAttribute), Enabled: aws.Bool(true)},
			})
			if err != nil {
				return fmt.Errorf("enable ttl on %s: %w", name, err)
			}
		}
	}
	r.ByID[t.LogicalID] = Resource{LogicalID: t.LogicalID, Kind: KindTable, Name: name, ARN: arn}
	return nil
}

// queueOrder puts every dead-letter queue before the queues that redrive to
// it, since a RedrivePolicy needs the DLQ's ARN.
func queueOrder(qs []samtemplate.Queue) ([]samtemplate.Queue, error) {
	byID := map[string]samtemplate.Queue{}
	for _, q := range qs {
		byID[q.LogicalID] = q
	}
	var out []samtemplate.Queue
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(id string) error
	visit = func(id string) error {
		switch state[id] {
		case 1:
			return fmt.Errorf("queue %s: redrive cycle", id)
		case 2:
			return nil
		}
		state[id] = 1
		q := byID[id]
		if q.DeadLetterQueue != "" {
			if err := visit(q.DeadLetterQueue); err != nil {
				return err
			}
		}
		state[id] = 2
		out = append(out, q)
		return nil
	}
	for _, q := range qs {
		if err := visit(q.LogicalID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (r *Resources) createQueue(ctx context.Context, c *sqs.Client, q samtemplate.Queue) error {
	name := r.physicalName(q.LogicalID, 80, false)
	if q.FIFO {
		name = r.physicalName(q.LogicalID, 80-len(".fifo"), false) + ".fifo"
	}
	attrs := map[string]string{}
	set := func(k string, v int) {
		if v > 0 {
			attrs[k] = strconv.Itoa(v)
		}
	}
	set(string(sqstypes.QueueAttributeNameVisibilityTimeout), q.VisibilityTimeout)
	set(string(sqstypes.QueueAttributeNameMessageRetentionPeriod), q.MessageRetentionPeriod)
	set(string(sqstypes.QueueAttributeNameDelaySeconds), q.DelaySeconds)
	if q.FIFO {
		attrs[string(sqstypes.QueueAttributeNameFifoQueue)] = "true"
	}
	if q.DeadLetterQueue != "" {
		dlq, ok := r.ByID[q.DeadLetterQueue]
		if !ok {
			return fmt.Errorf("dead-letter queue %s not provisioned", q.DeadLetterQueue)
		}
		rp, _ := json.Marshal(map[string]any{"deadLetterTargetArn": dlq.ARN, "maxReceiveCount": q.MaxReceiveCount})
		attrs[string(sqstypes.QueueAttributeNameRedrivePolicy)] = string(rp)
	}
	var url string
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	switch {
	case err == nil:
		url = aws.ToString(out.QueueUrl)
	case errCode(err) == "QueueAlreadyExists" || errCode(err) == "QueueNameExists":
		// Same name, other attributes: the template changed between two
		// runs. Bring the queue in line instead of failing.
		u, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
		if err != nil {
			return fmt.Errorf("get url of existing %s: %w", name, err)
		}
		url = aws.ToString(u.QueueUrl)
		delete(attrs, string(sqstypes.QueueAttributeNameFifoQueue)) // immutable
		if _, err := c.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(url), Attributes: attrs}); err != nil {
			return fmt.Errorf("update existing %s: %w", name, err)
		}
	default:
		return fmt.Errorf("create %s: %w", name, err)
	}
	r.ByID[q.LogicalID] = Resource{
		LogicalID: q.LogicalID, Kind: KindQueue, Name: name, URL: url,
		ARN: fmt.Sprintf("arn:aws:sqs:%s:%s:%s", r.Region, r.AccountID, name),
	}
	return nil
}

func (r *Resources) createBucket(ctx context.Context, c *s3.Client, b samtemplate.Bucket) error {
	name := r.physicalName(b.LogicalID, 63, true)
	in := &s3.CreateBucketInput{Bucket: aws.String(name)}
	if r.Region != "us-east-1" {
		in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(r.Region)}
	}
	if _, err := c.CreateBucket(ctx, in); err != nil && errCode(err) != "BucketAlreadyOwnedByYou" {
		return fmt.Errorf("create %s: %w", name, err)
	}
	var rules []s3types.LifecycleRule
	for prefix, days := range b.ExpireAfterDays {
		rules = append(rules, s3types.LifecycleRule{
			ID:         aws.String("expire-" + prefix),
			Status:     s3types.ExpirationStatusEnabled,
			Filter:     &s3types.LifecycleRuleFilter{Prefix: aws.String(prefix)},
			Expiration: &s3types.LifecycleExpiration{Days: aws.Int32(int32(days))},
		})
	}
	if b.AbortIncompleteUploadDays > 0 {
		rules = append(rules, s3types.LifecycleRule{
			ID:                             aws.String("abort-incomplete-uploads"),
			Status:                         s3types.ExpirationStatusEnabled,
			Filter:                         &s3types.LifecycleRuleFilter{Prefix: aws.String("")},
			AbortIncompleteMultipartUpload: &s3types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(int32(b.AbortIncompleteUploadDays))},
		})
	}
	if len(rules) > 0 {
		_, err := c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{
			Bucket:                 aws.String(name),
			LifecycleConfiguration: &s3types.BucketLifecycleConfiguration{Rules: rules},
		})
		if err != nil {
			return fmt.Errorf("lifecycle of %s: %w", name, err)
		}
	}
	if err := r.notifications(ctx, c, name, b.QueueNotifications); err != nil {
		return err
	}
	r.ByID[b.LogicalID] = Resource{LogicalID: b.LogicalID, Kind: KindBucket, Name: name, ARN: "arn:aws:s3:::" + name}
	return nil
}

// notifications gives the bucket its NotificationConfiguration: the
// emulator then sends S3 event notifications to the queues itself, as S3
// does, so the local stack notices uploads the way AWS does.
func (r *Resources) notifications(ctx context.Context, c *s3.Client, bucket string, ns []samtemplate.QueueNotification) error {
	if len(ns) == 0 {
		return nil
	}
	var qcs []s3types.QueueConfiguration
	for _, n := range ns {
		q, ok := r.ByID[n.Queue]
		if !ok {
			return fmt.Errorf("notifications of %s: queue %s not provisioned", bucket, n.Queue)
		}
		qc := s3types.QueueConfiguration{QueueArn: aws.String(q.ARN), Events: []s3types.Event{s3types.Event(n.Event)}}
		var rules []s3types.FilterRule
		if n.Prefix != "" {
			rules = append(rules, s3types.FilterRule{Name: s3types.FilterRuleNamePrefix, Value: aws.String(n.Prefix)})
		}
		if n.Suffix != "" {
			rules = append(rules, s3types.FilterRule{Name: s3types.FilterRuleNameSuffix, Value: aws.String(n.Suffix)})
		}
		if len(rules) > 0 {
			qc.Filter = &s3types.NotificationConfigurationFilter{Key: &s3types.S3KeyFilter{FilterRules: rules}}
		}
		qcs = append(qcs, qc)
	}
	_, err := c.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket:                    aws.String(bucket),
		NotificationConfiguration: &s3types.NotificationConfiguration{QueueConfigurations: qcs},
	})
	if err != nil {
		return fmt.Errorf("notifications of %s: %w", bucket, err)
	}
	return nil
}

func (r *Resources) createSecret(ctx context.Context, c *secretsmanager.Client, s samtemplate.Secret) error {
	name := r.physicalName(s.LogicalID, 512, false)
	val, err := randomString(s.PasswordLength, s.ExcludePunctuation)
	if err != nil {
		return err
	}
	out, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(val)})
	var arn string
	switch {
	case err == nil:
		arn = aws.ToString(out.ARN)
	case errCode(err) == "ResourceExistsException":
		// Keep the existing value: keys hashed with it must stay valid.
		d, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
		if err != nil {
			return fmt.Errorf("describe existing %s: %w", name, err)
		}
		arn = aws.ToString(d.ARN)
	default:
		return fmt.Errorf("create %s: %w", name, err)
	}
	r.ByID[s.LogicalID] = Resource{LogicalID: s.LogicalID, Kind: KindSecret, Name: name, ARN: arn}
	return nil
}

const (
	alnum       = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
)

// randomString mirrors GenerateSecretString with crypto/rand.
func randomString(n int, noPunct bool) (string, error) {
	set := alnum
	if !noPunct {
		set += punctuation
	}
	b := make([]byte, n)
	max := big.NewInt(int64(len(set)))
	for i := range b {
		k, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("random secret: %w", err)
		}
		b[i] = set[k.Int64()]
	}
	return string(b), nil
}

// Get returns the resource with a logical ID.
func (r *Resources) Get(logicalID string) (Resource, bool) {
	res, ok := r.ByID[logicalID]
	return res, ok
}

// Resolve evaluates a template value the way CloudFormation would: Ref
// (table and bucket: name; queue: URL; secret: ARN; parameter: its value),
// GetAtt (Arn, QueueName, QueueUrl) and Sub.
func (r *Resources) Resolve(v samtemplate.Value) (string, error) {
	switch {
	case v.Ref != "":
		return r.ref(v.Ref)
	case v.GetAtt[0] != "":
		return r.getAtt(v.GetAtt[0], v.GetAtt[1])
	case v.Sub != "":
		return r.sub(v.Sub, v.SubVars)
	}
	return v.Literal, nil
}

func (r *Resources) ref(id string) (string, error) {
	switch id {
	case "AWS::Region":
		return r.Region, nil
	case "AWS::AccountId":
		return r.AccountID, nil
	case "AWS::Partition":
		return "aws", nil
	case "AWS::URLSuffix":
		return "amazonaws.com", nil
	case "AWS::StackName":
		return r.Prefix, nil
	case "AWS::NoValue":
		return "", nil
	}
	if v, ok := r.Parameters[id]; ok {
		return v, nil
	}
	res, ok := r.ByID[id]
	if !ok {
		return "", fmt.Errorf("!Ref %s: not a parameter or a provisioned resource", id)
	}
	switch res.Kind {
	case KindQueue:
		return res.URL, nil
	case KindSecret:
		return res.ARN, nil
	}
	return res.Name, nil
}

func (r *Resources) getAtt(id, attr string) (string, error) {
	res, ok := r.ByID[id]
	if !ok {
		return "", fmt.Errorf("!GetAtt %s.%s: not a provisioned resource", id, attr)
	}
	switch {
	case attr == "Arn" && res.ARN != "":
		return res.ARN, nil
	case attr == "QueueName" && res.Kind == KindQueue:
		return res.Name, nil
	case attr == "QueueUrl" && res.Kind == KindQueue:
		return res.URL, nil
	}
	return "", fmt.Errorf("!GetAtt %s.%s: attribute not supported locally", id, attr)
}

func (r *Resources) sub(s string, vars map[string]samtemplate.Value) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.Index(s[i:], "}")
		if j < 0 {
			return "", fmt.Errorf("!Sub %q: unterminated ${", s)
		}
		b.WriteString(s[:i])
		name := s[i+2 : i+j]
		s = s[i+j+1:]
		if lit, ok := strings.CutPrefix(name, "!"); ok { // ${!Literal} is an escape
			b.WriteString("${" + lit + "}")
			continue
		}
		var val string
		var err error
		if v, ok := vars[name]; ok {
			val, err = r.Resolve(v)
		} else if id, attr, dotted := strings.Cut(name, "."); dotted {
			val, err = r.getAtt(id, attr)
		} else {
			val, err = r.ref(name)
		}
		if err != nil {
			return "", fmt.Errorf("!Sub ${%s}: %w", name, err)
		}
		b.WriteString(val)
	}
}

// Env resolves a function's environment as the Lambda would see it.
func (r *Resources) Env(fn samtemplate.Function) (map[string]string, error) {
	env := make(map[string]string, len(fn.Environment))
	for k, v := range fn.Environment {
		s, err := r.Resolve(v)
		if err != nil {
			return nil, fmt.Errorf("function %s: environment %s: %w", fn.LogicalID, k, err)
		}
		env[k] = s
	}
	return env, nil
}

// Destroy deletes everything Provision created (bucket objects included).
// It keeps going past errors and returns them all.
func (r *Resources) Destroy(ctx context.Context) error {
	var errs []error
	ddb := dynamodb.NewFromConfig(r.cfg)
	sq := sqs.NewFromConfig(r.cfg)
	sm := secretsmanager.NewFromConfig(r.cfg)
	s3c := r.s3()
	for _, res := range r.ByID {
		var err error
		switch res.Kind {
		case KindTable:
			_, err = ddb.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(res.Name)})
		case KindQueue:
			_, err = sq.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(res.URL)})
		case KindSecret:
			_, err = sm.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(res.ARN), ForceDeleteWithoutRecovery: aws.Bool(true)})
		case KindBucket:
			err = emptyAndDeleteBucket(ctx, s3c, res.Name)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("destroy %s %s: %w", res.Kind, res.LogicalID, err))
		}
	}
	return errors.Join(errs...)
}

func emptyAndDeleteBucket(ctx context.Context, c *s3.Client, name string) error {
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(name)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list objects: %w", err)
		}
		if len(page.Contents) == 0 {
			continue
		}
		ids := make([]s3types.ObjectIdentifier, 0, len(page.Contents))
		for _, o := range page.Contents {
			ids = append(ids, s3types.ObjectIdentifier{Key: o.Key})
		}
		if _, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(name), Delete: &s3types.Delete{Objects: ids, Quiet: aws.Bool(true)}}); err != nil {
			return fmt.Errorf("delete objects: %w", err)
		}
	}
	_, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(name)})
	return err
}

// Config returns the AWS config resources were provisioned with.
func (r *Resources) Config() aws.Config { return r.cfg }
