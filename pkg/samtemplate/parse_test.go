package samtemplate

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// The repository's own template: what the local stack will run.
func TestLoadRepoTemplate(t *testing.T) {
	tpl, err := Load("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a := tpl.Api
	if a.LogicalID != "Api" || a.StageName != "v1" || a.AuthorizerFunction != "AuthorizerFunction" {
		t.Errorf("api = %+v", a)
	}
	if a.ReauthorizeEvery != 0 || len(a.IdentityHeaders) != 0 {
		t.Errorf("authorizer must run on every request: ttl %d, identity %v", a.ReauthorizeEvery, a.IdentityHeaders)
	}
	wantStatus := map[string]int{
		"ACCESS_DENIED": 401, "UNAUTHORIZED": 401, "AUTHORIZER_FAILURE": 503,
		"AUTHORIZER_CONFIGURATION_ERROR": 503, "MISSING_AUTHENTICATION_TOKEN": 404,
		"THROTTLED": 429, "REQUEST_TOO_LARGE": 413, "DEFAULT_4XX": 0, "DEFAULT_5XX": 0,
	}
	for typ, status := range wantStatus {
		gr, ok := a.GatewayResponses[typ]
		if !ok {
			t.Errorf("gateway response %s missing", typ)
			continue
		}
		if gr.StatusCode != status {
			t.Errorf("%s status = %d, want %d", typ, gr.StatusCode, status)
		}
		if gr.Headers["Content-Type"] != "'application/json'" {
			t.Errorf("%s Content-Type = %q", typ, gr.Headers["Content-Type"])
		}
		body := gr.Templates["application/json"]
		if !strings.Contains(body, `"requestId":"$context.requestId"`) {
			t.Errorf("%s body lacks the request id: %s", typ, body)
		}
	}
	if b := a.GatewayResponses["ACCESS_DENIED"].Templates["application/json"]; !strings.Contains(b, `"code":"$context.authorizer.code"`) {
		t.Errorf("ACCESS_DENIED does not render the authorizer's code: %s", b)
	}

	auth, ok := tpl.Function("AuthFunction")
	if !ok {
		t.Fatal("AuthFunction missing")
	}
	if auth.Name != "auth" || auth.Timeout != 10 || auth.MemorySize != 256 {
		t.Errorf("auth = %+v", auth)
	}
	if got := auth.Environment["KEYS_TABLE"]; !reflect.DeepEqual(got, Value{Ref: "KeysTable"}) {
		t.Errorf("KEYS_TABLE = %v", got)
	}
	if want := []Route{{EventName: "Get", Method: "GET", Path: "/auth", Authorized: true}}; !reflect.DeepEqual(auth.Routes, want) {
		t.Errorf("auth routes = %+v", auth.Routes)
	}
	authz, _ := tpl.Function("AuthorizerFunction")
	if authz.MemorySize != 512 || len(authz.Routes) != 0 {
		t.Errorf("authorizer = %+v", authz)
	}
	keys, _ := tpl.Function("KeysFunction")
	if len(keys.Routes) != 9 { // six key routes, three console-session routes
		t.Errorf("keys routes = %+v", keys.Routes)
	}

	if len(tpl.Tables) != 3 {
		t.Fatalf("tables = %+v", tpl.Tables)
	}
	for _, tb := range tpl.Tables {
		indexes := 1
		if tb.LogicalID == "AuditTable" {
			indexes = 0 // read by workspace and time only
		}
		if tb.HashKey != (KeyAttr{"pk", "S"}) || tb.RangeKey == nil || *tb.RangeKey != (KeyAttr{"sk", "S"}) ||
			tb.TTLAttribute != "ttl" || !tb.PointInTimeRecovery || len(tb.GlobalSecondaryIndex) != indexes ||
			indexes == 1 && (tb.GlobalSecondaryIndex[0].Name != "gsi1" || tb.GlobalSecondaryIndex[0].ProjectionType != "ALL") {
			t.Errorf("table %+v", tb)
		}
	}
	expiry, _ := tpl.Function("KeyExpiryFunction")
	if len(expiry.Schedules) != 1 || expiry.Schedules[0].Every != 15*time.Minute {
		t.Errorf("key expiry schedules = %+v", expiry.Schedules)
	}
	rq, _ := tpl.Queue("RenderQueue")
	rw, _ := tpl.Function("RenderWorkerFunction")
	// Lambda refuses an SQS event source whose visibility timeout is
	// shorter than the function's timeout; the worker's heartbeat, not the
	// queue, decides how soon a dead render comes back.
	if rq.VisibilityTimeout < rw.Timeout || rq.DeadLetterQueue != "RenderDLQ" || rq.MaxReceiveCount != 5 {
		t.Errorf("render queue = %+v, worker timeout %d", rq, rw.Timeout)
	}
	if len(rw.SQSEvents) != 1 || rw.Concurrency(rw.SQSEvents[0]) < 5 || rw.Environment["RENDER_LEASE_SECONDS"].Ref != "RenderLeaseSeconds" {
		t.Errorf("render worker = %+v", rw)
	}
	if sw, _ := tpl.Function("RenderSweeperFunction"); len(sw.Schedules) != 1 || sw.Schedules[0].Every != 5*time.Minute {
		t.Errorf("render sweeper = %+v", sw)
	}
	dlq, _ := tpl.Queue("RenderDLQ")
	if dlq.MessageRetentionPeriod != 1209600 || dlq.DeadLetterQueue != "" {
		t.Errorf("render dlq = %+v", dlq)
	}
	if len(tpl.Buckets) != 2 || tpl.Buckets[0].ExpireAfterDays["renders/test/"] != 1 || tpl.Buckets[0].AbortIncompleteUploadDays != 1 {
		t.Errorf("buckets = %+v", tpl.Buckets)
	}
	// Uploads reach the asset worker through the bucket's notifications.
	if ab := tpl.Buckets[1]; ab.ExpireAfterDays["assets/test/"] != 1 || len(ab.QueueNotifications) != 1 ||
		ab.QueueNotifications[0] != (QueueNotification{Event: "s3:ObjectCreated:*", Queue: "AssetUploadsQueue", Prefix: "assets/"}) {
		t.Errorf("assets bucket = %+v", ab)
	}
	if len(tpl.Secrets) == 0 || tpl.Secrets[0] != (Secret{"PepperSecret", 64, true}) {
		t.Errorf("secrets = %+v", tpl.Secrets)
	}
	if tpl.Parameters["LogLevel"] != "INFO" {
		t.Errorf("parameters = %v", tpl.Parameters)
	}
}

const head = `
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Timeout: 5
    Environment:
      Variables:
        SHARED: global
        OVERRIDDEN: global
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: v1
      Auth:
        DefaultAuthorizer: Authz
        Authorizers:
          Authz:
            FunctionArn: !GetAtt AuthzFn.Arn
            FunctionPayloadType: REQUEST
            Identity: {ReauthorizeEvery: 0}
  AuthzFn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/authz/
  Q:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 2
      RedrivePolicy: {deadLetterTargetArn: !GetAtt DLQ.Arn, maxReceiveCount: 2}
  DLQ:
    Type: AWS::SQS::Queue
  T:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
`

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		check func(t *testing.T, tpl *Template)
		err   string // substring of the expected error
	}{
		{
			name: "short-form intrinsics and globals merge",
			extra: `
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/fn
      MemorySize: 1024
      Environment:
        Variables:
          OVERRIDDEN: mine
          TABLE: !Ref T
          QUEUE_ARN: !GetAtt Q.Arn
          URL: !Sub "https://${Api}.execute-api.${AWS::Region}/${T.Arn}"
          PAIR: !Sub ["${X}-x", {X: !Ref T}]
      Events:
        Open:
          Type: Api
          Properties: {RestApiId: !Ref Api, Method: get, Path: /open, Auth: {Authorizer: NONE}}
        Closed:
          Type: Api
          Properties: {RestApiId: !Ref Api, Method: post, Path: "/things/{id}"}
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Q.Arn
            BatchSize: 3
            MaximumBatchingWindowInSeconds: 1
            FunctionResponseTypes: [ReportBatchItemFailures]
`,
			check: func(t *testing.T, tpl *Template) {
				f, ok := tpl.Function("Fn")
				if !ok {
					t.Fatal("Fn missing")
				}
				if f.Name != "fn" || f.Timeout != 5 || f.MemorySize != 1024 {
					t.Errorf("fn = %+v", f)
				}
				want := map[string]Value{
					"SHARED":     {Literal: "global"},
					"OVERRIDDEN": {Literal: "mine"},
					"TABLE":      {Ref: "T"},
					"QUEUE_ARN":  {GetAtt: [2]string{"Q", "Arn"}},
					"URL":        {Sub: "https://${Api}.execute-api.${AWS::Region}/${T.Arn}"},
					"PAIR":       {Sub: "${X}-x", SubVars: map[string]Value{"X": {Ref: "T"}}},
				}
				if !reflect.DeepEqual(f.Environment, want) {
					t.Errorf("env = %+v", f.Environment)
				}
				wantRoutes := []Route{
					{EventName: "Closed", Method: "POST", Path: "/things/{id}", Authorized: true},
					{EventName: "Open", Method: "GET", Path: "/open", Authorized: false},
				}
				if !reflect.DeepEqual(f.Routes, wantRoutes) {
					t.Errorf("routes = %+v", f.Routes)
				}
				wantSQS := []SQSEvent{{EventName: "Jobs", Queue: "Q", BatchSize: 3, MaxBatchingWindow: 1, ReportBatchItemFailures: true}}
				if !reflect.DeepEqual(f.SQSEvents, wantSQS) {
					t.Errorf("sqs = %+v", f.SQSEvents)
				}
				q, _ := tpl.Queue("Q")
				if q.DeadLetterQueue != "DLQ" || q.MaxReceiveCount != 2 || q.VisibilityTimeout != 2 {
					t.Errorf("queue = %+v", q)
				}
			},
		},
		{
			name: "long-form intrinsics",
			extra: `
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/fn/
      Environment:
        Variables:
          TABLE: {Ref: T}
          QUEUE_ARN: {"Fn::GetAtt": [Q, Arn]}
          S: {"Fn::Sub": "${T}"}
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: {"Fn::GetAtt": [Q, Arn]}
`,
			check: func(t *testing.T, tpl *Template) {
				f, _ := tpl.Function("Fn")
				want := map[string]Value{
					"SHARED":     {Literal: "global"},
					"OVERRIDDEN": {Literal: "global"},
					"TABLE":      {Ref: "T"},
					"QUEUE_ARN":  {GetAtt: [2]string{"Q", "Arn"}},
					"S":          {Sub: "${T}"},
				}
				if !reflect.DeepEqual(f.Environment, want) {
					t.Errorf("env = %+v", f.Environment)
				}
				if len(f.SQSEvents) != 1 || f.SQSEvents[0].BatchSize != 10 || f.SQSEvents[0].ReportBatchItemFailures {
					t.Errorf("sqs = %+v (BatchSize defaults to 10)", f.SQSEvents)
				}
			},
		},
		{
			name: "raw gateway response resource",
			extra: `
  NotFound:
    Type: AWS::ApiGateway::GatewayResponse
    Properties:
      RestApiId: !Ref Api
      ResponseType: MISSING_AUTHENTICATION_TOKEN
      StatusCode: '404'
      ResponseParameters:
        gatewayresponse.header.Content-Type: "'application/json'"
      ResponseTemplates:
        application/json: '{"error":"$context.requestId"}'
`,
			check: func(t *testing.T, tpl *Template) {
				gr := tpl.Api.GatewayResponses["MISSING_AUTHENTICATION_TOKEN"]
				if gr.StatusCode != 404 || gr.Headers["Content-Type"] != "'application/json'" || gr.Templates["application/json"] != `{"error":"$context.requestId"}` {
					t.Errorf("gr = %+v", gr)
				}
			},
		},
		{
			name: "unknown ref in environment",
			extra: `
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/fn/
      Environment: {Variables: {X: !Ref Nope}}
`,
			err: "resource Fn: Environment.Variables.X: !Ref Nope: no such resource",
		},
		{
			name: "unsupported intrinsic in environment",
			extra: `
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/fn/
      Environment: {Variables: {X: !Join ["", [a, b]]}}
`,
			err: "resource Fn: Environment.Variables.X: Fn::Join is not supported",
		},
		{
			name: "route without RestApiId",
			extra: `
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/fn/
      Events: {E: {Type: Api, Properties: {Method: GET, Path: /x}}}
`,
			err: "resource Fn: Events.E.Properties.RestApiId: required",
		},
		{
			name: "unsupported event type",
			extra: `
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/fn/
      Events: {E: {Type: S3, Properties: {Bucket: b}}}
`,
			err: `resource Fn: Events.E.Type: "S3" is not supported`,
		},
		{
			name: "schedules and concurrency",
			extra: `
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/fn/
      ReservedConcurrentExecutions: 7
      Events:
        Tick: {Type: Schedule, Properties: {Schedule: rate(5 minutes)}}
        Daily: {Type: Schedule, Properties: {Schedule: rate(1 day), Enabled: true}}
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/worker/
      Events:
        Jobs: {Type: SQS, Properties: {Queue: !GetAtt Q.Arn, ScalingConfig: {MaximumConcurrency: 5}}}
        Other: {Type: SQS, Properties: {Queue: !GetAtt DLQ.Arn}}
`,
			check: func(t *testing.T, tpl *Template) {
				f, _ := tpl.Function("Fn")
				want := []Schedule{{EventName: "Daily", Expression: "rate(1 day)", Every: 24 * time.Hour}, {EventName: "Tick", Expression: "rate(5 minutes)", Every: 5 * time.Minute}}
				if !reflect.DeepEqual(f.Schedules, want) || f.ReservedConcurrency != 7 {
					t.Errorf("fn = %+v", f)
				}
				w, _ := tpl.Function("Worker")
				if len(w.SQSEvents) != 2 || w.Concurrency(w.SQSEvents[0]) != 5 || w.Concurrency(w.SQSEvents[1]) != 1 {
					t.Errorf("worker = %+v", w)
				}
				if f.Concurrency(SQSEvent{}) != 7 {
					t.Errorf("reserved concurrency does not bound the event sources")
				}
			},
		},
		{
			name: "cron schedule",
			extra: `
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/fn/
      Events: {E: {Type: Schedule, Properties: {Schedule: "cron(0 12 * * ? *)"}}}
`,
			err: `resource Fn: Events.E.Properties.Schedule: "cron(0 12 * * ? *)": the local stack drives rate(`,
		},
		{
			name: "sqs event on a non-queue",
			extra: `
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/fn/
      Events: {E: {Type: SQS, Properties: {Queue: !GetAtt T.Arn}}}
`,
			err: "resource Fn: event E: Queue: T is not an AWS::SQS::Queue",
		},
		{
			name: "bad number",
			extra: `
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/fn/
      Timeout: ten
`,
			err: `resource Fn: Timeout: "ten" is not an integer`,
		},
		{
			name: "redrive to a missing queue",
			extra: `
  Q2:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy: {deadLetterTargetArn: !GetAtt Gone.Arn, maxReceiveCount: 1}
`,
			err: "resource Q2: RedrivePolicy.deadLetterTargetArn: Gone is not an AWS::SQS::Queue",
		},
		{
			name:  "bad GetAtt short form",
			extra: "  X:\n    Type: AWS::SQS::Queue\n    Properties: {RedrivePolicy: {deadLetterTargetArn: !GetAtt Q, maxReceiveCount: 1}}\n",
			err:   "!GetAtt \"Q\": want LogicalID.Attribute",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tpl, err := Parse([]byte(head + tc.extra))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, tpl)
		})
	}
}

func TestParseRate(t *testing.T) {
	for expr, want := range map[string]time.Duration{
		"rate(1 minute)": time.Minute, "rate(5 minutes)": 5 * time.Minute, "rate(2 hours)": 2 * time.Hour, "rate(1 day)": 24 * time.Hour,
		"rate(1 minutes)": 0, "rate(5 minute)": 0, "rate(0 minutes)": 0, "rate(05 minutes)": 0, "rate(5 seconds)": 0, "rate(5minutes)": 0,
		"rate(-1 minute)": 0, "cron(0 * * * ? *)": 0, "": 0, "rate(100000 days)": 100000 * 24 * time.Hour, "rate(9999999999 days)": 0,
	} {
		got, err := ParseRate(expr)
		if got != want || (err == nil) != (want > 0) {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", expr, got, err, want)
		}
	}
}

func TestSubVariables(t *testing.T) {
	got := SubVariables("a${X}b${!Literal}${Y.Arn}${AWS::Region}")
	want := []string{"X", "Y.Arn", "AWS::Region"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v", got)
	}
}

// FuzzParseRate: any expression parses to a positive whole number of
// minutes, or is refused; what parses is written back the same way.
func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"rate(5 minutes)", "rate(1 minute)", "rate(2 hours)", "rate(1 day)", "rate(0 minutes)", "cron(0 * * * ? *)", "rate(99999999999999999999 days)", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		d, err := ParseRate(expr)
		if err != nil {
			return
		}
		if d < time.Minute || d%time.Minute != 0 {
			t.Fatalf("%q parsed to %v", expr, d)
		}
	})
}
