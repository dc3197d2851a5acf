package keysapi

// POST /v1/secret-scanning/github: GitHub's secret scanning partner
// program reports framegate keys it finds in public code. The request has
// no API key: its ECDSA signature (P-256, SHA-256 over the raw body, base64
// DER in Github-Public-Key-Signature, made with the key named by
// Github-Public-Key-Identifier) is the authentication, checked before
// anything else against GitHub's published keys. Only tokens that pass the
// offline checksum are looked up; each active framegate key found is
// revoked at once (with its audit record), and its owner gets key.leaked
// and key.revoked. The answer labels every token true_positive (ours and
// active until now) or false_positive.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/framegate/framegate/pkg/apierr"
	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/audit"
	"github.com/framegate/framegate/pkg/httpapi"
	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/lambdas"
)

// Environment of functions/secret-scanning.
const (
	// EnvScanningKeysFile names a file holding the trusted keys in GitHub's
	// format: how the local stack and the tests trust their own signer.
	EnvScanningKeysFile = "FRAMEGATE_SECRET_SCANNING_KEYS_FILE"
	// EnvScanningKeysURL is where the published keys are fetched when no
	// file is set: GitHubKeysURL in production.
	EnvScanningKeysURL = "SECRET_SCANNING_KEYS_URL"
)

// GitHubKeysURL is GitHub's published list of secret-scanning signing keys.
const GitHubKeysURL = "https://api.github.com/meta/public_keys/secret_scanning"

// Limits of a report.
const (
	// MaxReportBody caps the body read: reports are batches of short JSON
	// objects, far below it.
	MaxReportBody = 256 << 10
	// MaxFindings caps the tokens of one report.
	MaxFindings = 1000
	maxFieldLen = 2048
)

// Labels of a reported token.
const (
	TruePositive  = "true_positive"  // a framegate key, active until this report
	FalsePositive = "false_positive" // anything else
)

// Finding is one token of a report.
type Finding struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

// Label is the answer for one token.
type Label struct {
	TokenRaw  string `json:"token_raw"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"`
}

// ParseReport reads a report: a JSON array of findings. Fields GitHub may
// add later are ignored; a token is required; every field is a string of
// bounded length.
func ParseReport(body []byte) ([]Finding, error) {
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, apierr.Invalid("", "The report must be a JSON array of objects.")
	}
	if len(raw) > MaxFindings {
		return nil, apierr.Invalid("", "A report lists at most %d tokens.", MaxFindings)
	}
	out := make([]Finding, 0, len(raw))
	for i, obj := range raw {
		var f Finding
		for name, dst := range map[string]*string{"token": &f.Token, "type": &f.Type, "url": &f.URL, "source": &f.Source} {
			v, ok := obj[name]
			if !ok || string(v) == "null" {
				continue
			}
			if err := json.Unmarshal(v, dst); err != nil {
				return nil, apierr.Invalid(fmt.Sprintf("/%d/%s", i, name), "%s must be a string.", name)
			}
			if len(*dst) > maxFieldLen {
				return nil, apierr.Invalid(fmt.Sprintf("/%d/%s", i, name), "%s is longer than %d bytes.", name, maxFieldLen)
			}
		}
		if f.Token == "" {
			return nil, apierr.Invalid(fmt.Sprintf("/%d/token", i), "token is required.")
		}
		out = append(out, f)
	}
	return out, nil
}

// ------------------------------------------------------------------ trusted keys

// TrustedKeys are the public keys reports are signed with, by identifier.
type TrustedKeys struct {
	load   func(context.Context) ([]byte, error)
	now    func() time.Time
	maxAge time.Duration

	mu       sync.Mutex
	keys     map[string]*ecdsa.PublicKey
	loadedAt time.Time
}

// How long a fetched list is trusted, and how often an unknown key id may
// trigger a fetch (GitHub rotates keys; an attacker must not make us hammer
// its API).
const (
	keysMaxAge      = time.Hour
	keysMissBackoff = time.Minute
)

// KeysFromFile trusts the keys in a file of GitHub's format, reread when an
// unknown key id shows up.
func KeysFromFile(path string, now func() time.Time) *TrustedKeys {
	return &TrustedKeys{now: now, maxAge: keysMaxAge, load: func(context.Context) ([]byte, error) {
		return os.ReadFile(path)
	}}
}

// KeysFromURL trusts the keys published at url (GitHubKeysURL), fetched
// with client and cached for an hour.
func KeysFromURL(url string, client *http.Client, now func() time.Time) *TrustedKeys {
	return &TrustedKeys{now: now, maxAge: keysMaxAge, load: func(ctx context.Context) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	}}
}

// parseKeys reads {"public_keys":[{"key_identifier","key","is_current"}]}.
func parseKeys(b []byte) (map[string]*ecdsa.PublicKey, error) {
	var doc struct {
		PublicKeys []struct {
			ID  string `json:"key_identifier"`
			Key string `json:"key"`
		} `json:"public_keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("decode the key list: %w", err)
	}
	out := map[string]*ecdsa.PublicKey{}
	for _, k := range doc.PublicKeys {
		block, _ := pem.Decode([]byte(k.Key))
		if block == nil {
			return nil, fmt.Errorf("key %s is not PEM", k.ID)
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", k.ID, err)
		}
		ec, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("key %s is not an ECDSA key", k.ID)
		}
		out[k.ID] = ec
	}
	return out, nil
}

// key returns the trusted key with identifier id, loading the list when it
// is old or does not know id (at most once a minute for unknown ids).
func (t *TrustedKeys) key(ctx context.Context, id string) (*ecdsa.PublicKey, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	k, known := t.keys[id]
	stale := now.Sub(t.loadedAt) >= t.maxAge
	if known && !stale {
		return k, nil
	}
	if !stale && now.Sub(t.loadedAt) < keysMissBackoff {
		return nil, nil
	}
	b, err := t.load(ctx)
	if err == nil {
		var keys map[string]*ecdsa.PublicKey
		if keys, err = parseKeys(b); err == nil {
			t.keys, t.loadedAt = keys, now
			return t.keys[id], nil
		}
	}
	if known {
		return k, nil // keep trusting what we had while the source is down
	}
	return nil, fmt.Errorf("load the trusted secret-scanning keys: %w", err)
}

// errSignature is every signature failure: the caller learns nothing more.
func errSignature() error {
	return apierr.New(apierr.InvalidSignature, "The report's Github-Public-Key-Signature does not verify.")
}

// Verify checks that sig (base64 DER) signs body with the trusted key id.
func (t *TrustedKeys) Verify(ctx context.Context, body []byte, id, sig string) error {
	if id == "" || sig == "" || len(id) > 256 || len(sig) > 512 {
		return errSignature()
	}
	der, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return errSignature()
	}
	k, err := t.key(ctx, id)
	if err != nil {
		return err // the list could not be read: a 5xx, so GitHub retries
	}
	if k == nil {
		return errSignature()
	}
	sum := sha256.Sum256(body)
	if !ecdsa.VerifyASN1(k, sum[:], der) {
		return errSignature()
	}
	return nil
}

// ------------------------------------------------------------------ the route

// LeakStore is what the route needs from the key store.
type LeakStore interface {
	LookupKey(ctx context.Context, plain string) (keystore.Key, bool, error)
	RevokeLeaked(ctx context.Context, k keystore.Key, details map[string]string, ch *audit.Change) (bool, error)
}

// Scanning serves the secret-scanning route.
type Scanning struct {
	Store  LeakStore
	Keys   *TrustedKeys
	Audit  *audit.Log
	Events Events
	Log    *slog.Logger
}

// NewSecretScanning is the constructor of functions/secret-scanning.
func NewSecretScanning(ctx context.Context, d lambdas.Deps) (lambdas.HTTPFunc, error) {
	d = d.WithDefaults()
	st, log, ev, err := openChanges(ctx, d)
	if err != nil {
		return nil, err
	}
	keys, err := OpenTrustedKeys(d)
	if err != nil {
		return nil, err
	}
	s := &Scanning{Store: st, Keys: keys, Audit: log, Events: ev, Log: d.Logger}
	return s.Handler(httpapi.NewServer(d)), nil
}

// OpenTrustedKeys is the key source of the function's environment: the file
// named by FRAMEGATE_SECRET_SCANNING_KEYS_FILE, else the list published at
// SECRET_SCANNING_KEYS_URL.
func OpenTrustedKeys(d lambdas.Deps) (*TrustedKeys, error) {
	if f := d.Getenv(EnvScanningKeysFile); f != "" {
		return KeysFromFile(f, d.Now), nil
	}
	u := d.Getenv(EnvScanningKeysURL)
	if u == "" {
		return nil, errors.New("secret scanning: set " + EnvScanningKeysFile + " or " + EnvScanningKeysURL)
	}
	return KeysFromURL(u, &http.Client{Timeout: 5 * time.Second}, d.Now), nil
}

// Handler is the public route.
func (s *Scanning) Handler(srv httpapi.Server) lambdas.HTTPFunc {
	return srv.Public(httpapi.Routes{"POST /secret-scanning/github": s.report})
}

func (s *Scanning) report(ctx context.Context, r *httpapi.Request) (httpapi.Response, error) {
	body := []byte(r.Event.Body)
	if r.Event.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(r.Event.Body)
		if err != nil {
			return httpapi.Response{}, errSignature()
		}
		body = b
	}
	if len(body) > MaxReportBody {
		return httpapi.Response{}, apierr.New(apierr.PayloadTooLarge, "A report is at most %d bytes.", MaxReportBody)
	}
	if err := s.Keys.Verify(ctx, body, r.Header("Github-Public-Key-Identifier"), r.Header("Github-Public-Key-Signature")); err != nil {
		return httpapi.Response{}, err
	}
	findings, err := ParseReport(body)
	if err != nil {
		return httpapi.Response{}, err
	}
	out := make([]Label, 0, len(findings))
	seen := map[string]string{}
	for _, f := range findings {
		label, ok := seen[f.Token]
		if !ok {
			if label, err = s.handle(ctx, r, f); err != nil {
				return httpapi.Response{}, err
			}
			seen[f.Token] = label
		}
		out = append(out, Label{TokenRaw: f.Token, TokenType: f.Type, Label: label})
	}
	return httpapi.Response{Body: out}, nil
}

// handle revokes the key of one finding if it is an active framegate key.
func (s *Scanning) handle(ctx context.Context, r *httpapi.Request, f Finding) (string, error) {
	if _, err := apikey.Parse(f.Token); err != nil {
		return FalsePositive, nil // fails the checksum: not ours, no lookup
	}
	k, found, err := s.Store.LookupKey(ctx, f.Token)
	if err != nil || !found {
		return FalsePositive, err
	}
	id := r.Event.RequestContext.Identity
	ch := s.Audit.For(audit.Context{
		Workspace: k.Workspace, Env: string(k.Env),
		Actor:     audit.Actor{Type: audit.ActorSecretScanning, ID: "github"},
		RequestID: r.RequestID, SourceIP: id.SourceIP, UserAgent: r.Header("User-Agent"),
	})
	details := map[string]string{"reporter": "github", "url": f.URL, "source": f.Source, "tokenType": f.Type}
	revoked, err := s.Store.RevokeLeaked(ctx, k, details, ch)
	if err != nil {
		return "", err
	}
	leak := Leak{Reporter: "github", URL: f.URL, Source: f.Source, TokenType: f.Type, Revoked: revoked}
	s.Events.Leaked(ctx, k, leak)
	if !revoked {
		return FalsePositive, nil
	}
	if rec := ch.Done(); len(rec) > 0 {
		k.RevokedAt = &rec[0].At
	}
	s.Events.Revoked(ctx, k, RevokedByLeak)
	s.Log.WarnContext(ctx, "leaked key revoked", "key_id", k.ID, "workspace", k.Workspace, "env", k.Env, "source", f.Source)
	return TruePositive, nil
}

// Signer signs reports the way GitHub does, with a key of its own: the
// local stack trusts one (`framegate dev` writes its key list to the file
// FRAMEGATE_SECRET_SCANNING_KEYS_FILE names), and so do the tests.
type Signer struct {
	ID  string
	key *ecdsa.PrivateKey
}

// NewSigner makes a fresh P-256 signing key.
func NewSigner() (*Signer, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return &Signer{ID: hex.EncodeToString(sum[:]), key: k}, nil
}

// KeyList is the signer's public key in the format of GitHub's published
// list, for FRAMEGATE_SECRET_SCANNING_KEYS_FILE.
func (s *Signer) KeyList() []byte {
	der, _ := x509.MarshalPKIXPublicKey(&s.key.PublicKey)
	p := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	b, _ := json.Marshal(map[string]any{"public_keys": []map[string]any{{"key_identifier": s.ID, "key": string(p), "is_current": true}}})
	return b
}

// Headers are the signature headers of body.
func (s *Signer) Headers(body []byte) (map[string]string, error) {
	sum := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, s.key, sum[:])
	if err != nil {
		return nil, err
	}
	return map[string]string{
		"Github-Public-Key-Identifier": s.ID,
		"Github-Public-Key-Signature":  base64.StdEncoding.EncodeToString(sig),
	}, nil
}
