package devstack

import "testing"

func TestEvaluatePolicy(t *testing.T) {
	const arn = "arn:aws:execute-api:us-east-1:123456789012:abc123/v1/GET/keys/k_1"
	tests := []struct {
		name          string
		doc           string
		allow, denied bool
		bad           bool
	}{
		{"exact allow", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"` + arn + `"}]}`, true, false, false},
		{"star", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["execute-api:*"],"Resource":["arn:aws:execute-api:*:*:abc123/v1/*"]}]}`, true, false, false},
		{"question mark", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"arn:aws:execute-api:us-east-1:123456789012:abc123/v1/GET/keys/k_?"}]}`, true, false, false},
		{"other method", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"arn:aws:execute-api:*:*:abc123/v1/POST/*"}]}`, false, false, false},
		{"deny wins", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"*","Resource":"*/GET/*"}]}`, false, true, false},
		{"single statement object", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"*"}}`, true, false, false},
		{"other action", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`, false, false, false},
		{"no version", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`, false, false, true},
		{"no statement", `{"Version":"2012-10-17","Statement":[]}`, false, false, true},
		{"bad effect", `{"Version":"2012-10-17","Statement":[{"Effect":"Maybe","Action":"*","Resource":"*"}]}`, false, false, true},
		{"no resource", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*"}]}`, false, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			allow, denied, err := evaluatePolicy([]byte(tc.doc), arn)
			if (err != nil) != tc.bad {
				t.Fatalf("err = %v, want malformed %v", err, tc.bad)
			}
			if allow != tc.allow || denied != tc.denied {
				t.Errorf("allow %v denied %v, want %v %v", allow, denied, tc.allow, tc.denied)
			}
		})
	}
}

func TestWildcard(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"a*c", "abbbc", true}, {"a*c", "abbb", false}, {"a?c", "abc", true},
		{"a?c", "ac", false}, {"*/v1/*", "x/v1/GET/a/b", true}, {"a**", "a", true}, {"", "a", false},
	} {
		if got := wildcard(tc.p, tc.s); got != tc.want {
			t.Errorf("wildcard(%q, %q) = %v", tc.p, tc.s, got)
		}
	}
}
