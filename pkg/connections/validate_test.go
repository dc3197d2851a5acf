package connections

import (
	"context"
	"strings"
	"testing"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/egress"
	"github.com/framegate/framegate/pkg/webhooks"
)

func TestValidate(t *testing.T) {
	str := func(s string) *string { return &s }
	role := str("arn:aws:iam::123456789012:role/path/framegate-publisher")
	s3 := func(mod func(*CreateRequest)) CreateRequest {
		r := CreateRequest{Type: str(TypeS3), Bucket: str("cust.exports-1"), RoleARN: role}
		if mod != nil {
			mod(&r)
		}
		return r
	}
	for _, tc := range []struct {
		name  string
		in    CreateRequest
		env   string
		field string // "" means valid
		want  Spec
	}{
		{"webhook loopback", CreateRequest{Type: str(TypeWebhook), URL: str("http://127.0.0.1:9/x"), Name: str(" Zap ")}, "live", "",
			Spec{Type: TypeWebhook, URL: "http://127.0.0.1:9/x", Name: "Zap"}},
		{"webhook http in live without loopback allowance", CreateRequest{Type: str(TypeWebhook), URL: str("http://93.184.215.14/x")}, "live", "/url", Spec{}},
		{"s3 minimal", s3(nil), "live", "", Spec{Type: TypeS3, Bucket: "cust.exports-1", RoleARN: *role}},
		{"s3 prefix gets its slash", s3(func(r *CreateRequest) { r.Prefix = str("a/b") }), "live", "",
			Spec{Type: TypeS3, Bucket: "cust.exports-1", RoleARN: *role, Prefix: "a/b/"}},
		{"s3 region", s3(func(r *CreateRequest) { r.Region = str("eu-west-1") }), "live", "",
			Spec{Type: TypeS3, Bucket: "cust.exports-1", RoleARN: *role, Region: "eu-west-1"}},
		{"gov partition", s3(func(r *CreateRequest) { r.RoleARN = str("arn:aws-us-gov:iam::123456789012:role/x") }), "live", "",
			Spec{Type: TypeS3, Bucket: "cust.exports-1", RoleARN: "arn:aws-us-gov:iam::123456789012:role/x"}},
		{"xn-- bucket", s3(func(r *CreateRequest) { r.Bucket = str("xn--abc") }), "live", "/bucket", Spec{}},
		{"s3alias bucket", s3(func(r *CreateRequest) { r.Bucket = str("abc-s3alias") }), "live", "/bucket", Spec{}},
		{"bucket ending in a hyphen", s3(func(r *CreateRequest) { r.Bucket = str("abc-") }), "live", "/bucket", Spec{}},
		{"64-character bucket", s3(func(r *CreateRequest) { r.Bucket = str(strings.Repeat("a", 64)) }), "live", "/bucket", Spec{}},
		{"role of another service", s3(func(r *CreateRequest) { r.RoleARN = str("arn:aws:s3:::bucket") }), "live", "/roleArn", Spec{}},
		{"role name with a space", s3(func(r *CreateRequest) { r.RoleARN = str("arn:aws:iam::123456789012:role/a b") }), "live", "/roleArn", Spec{}},
		{"prefix with a dot segment", s3(func(r *CreateRequest) { r.Prefix = str("a/./b") }), "live", "/prefix", Spec{}},
		{"prefix with an empty segment", s3(func(r *CreateRequest) { r.Prefix = str("a//b") }), "live", "/prefix", Spec{}},
		{"external id chosen by the caller", s3(func(r *CreateRequest) { r.ExternalID = str("fgx_mine") }), "live", "/externalId", Spec{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loopback := !strings.Contains(tc.name, "without loopback")
			got, err := tc.in.Validate(context.Background(), &egress.Guard{AllowLoopback: loopback}, tc.env)
			if tc.field != "" {
				if e := apierr.From(err); e.Code != apierr.InvalidRequest || e.Field != tc.field {
					t.Fatalf("err = %v, want a 400 on %s", err, tc.field)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("Validate = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestExternalIDs(t *testing.T) {
	c, err := webhooks.NewCipher([]byte(strings.Repeat("k", webhooks.MinKeyLen)))
	if err != nil {
		t.Fatal(err)
	}
	other, err := webhooks.NewCipher([]byte(strings.Repeat("o", webhooks.MinKeyLen)))
	if err != nil {
		t.Fatal(err)
	}
	const role = "arn:aws:iam::123456789012:role/framegate-publisher"
	id := webhooks.ExternalID(c, "ws_a", "live", role)
	if !strings.HasPrefix(id, ExternalIDPrefix) || len(id) != len(ExternalIDPrefix)+32 || id != webhooks.ExternalID(c, "ws_a", "live", role) {
		t.Fatalf("external id %q is not stable or has the wrong shape", id)
	}
	seen := map[string]string{id: "first"}
	for name, got := range map[string]string{
		"another workspace":   webhooks.ExternalID(c, "ws_b", "live", role),
		"another environment": webhooks.ExternalID(c, "ws_a", "test", role),
		"another role":        webhooks.ExternalID(c, "ws_a", "live", role+"2"),
		"shifted separator":   webhooks.ExternalID(c, "ws_a\x00live", "", role),
		"another data key":    webhooks.ExternalID(other, "ws_a", "live", role),
	} {
		if prev, ok := seen[got]; ok {
			t.Errorf("%s gets the same external id as %s", name, prev)
		}
		seen[got] = name
	}
}
