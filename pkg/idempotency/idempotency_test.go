package idempotency_test

import (
	"strings"
	"testing"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/idempotency"
)

func TestCheck(t *testing.T) {
	for k, ok := range map[string]bool{
		"order-1":                  true,
		"a b ~!@#$%^&*()":          true,
		strings.Repeat("k", 255):   true,
		strings.Repeat("k", 256):   false,
		"clé":                      false,
		"tab\there":                false,
		"new\nline":                false,
		"del\x7f":                  false,
		string([]byte{0xff, 0x41}): false,
	} {
		err := idempotency.Check(k)
		if ok != (err == nil) {
			t.Errorf("Check(%q) = %v, want ok %v", k, err, ok)
		}
		if e := apierr.From(err); err != nil && (e.Code != apierr.InvalidRequest || e.Field != idempotency.Header) {
			t.Errorf("Check(%q) = %+v, want invalid_request on %s", k, e, idempotency.Header)
		}
	}
}

func TestBodyHash(t *testing.T) {
	a := idempotency.BodyHash([]byte(`{"a":1,"b":[1,2]}`))
	if b := idempotency.BodyHash([]byte(" {\n \"a\": 1, \"b\": [1, 2]\n}\n")); a != b {
		t.Error("insignificant whitespace changed the hash")
	}
	if b := idempotency.BodyHash([]byte(`{"a":2,"b":[1,2]}`)); a == b {
		t.Error("another body has the same hash")
	}
	if idempotency.BodyHash([]byte("not json")) == idempotency.BodyHash([]byte("not  json")) {
		t.Error("a body that is not JSON is hashed as it is")
	}
}

func TestKeyOf(t *testing.T) {
	k := idempotency.KeyOf("WS#a#live", "order-1")
	if k.Partition != "WS#a#live" || !strings.HasPrefix(k.Sort, "IDEM#") || len(k.Sort) != len("IDEM#")+64 || strings.Contains(k.Sort, "order-1") {
		t.Errorf("KeyOf = %+v", k)
	}
	if idempotency.KeyOf("WS#a#live", "order-2") == k || idempotency.KeyOf("WS#a#test", "order-1") == k {
		t.Error("different keys or partitions share a record")
	}
}
