package webhooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/framegate/framegate/pkg/egress"
	"github.com/framegate/framegate/pkg/webhooksig"
)

// Timeout bounds one attempt, connection to last byte.
const Timeout = 15 * time.Second

// Outcome classifies an attempt.
type Outcome int

const (
	// Delivered: a 2xx answer.
	Delivered Outcome = iota
	// Retry: any other answer, a timeout or a network error; the schedule
	// decides whether another attempt comes.
	Retry
	// Gone: 410, the receiver asks never to be called again.
	Gone
	// Refused: the egress guard refused the URL or its addresses; no
	// traffic was sent, and retrying would not change the policy.
	Refused
)

// Result is an attempt and its classification.
type Result struct {
	Attempt
	Outcome Outcome
	// RetryAfter is the receiver's Retry-After, 0 when absent.
	RetryAfter time.Duration
}

// Client POSTs signed webhooks through the egress guard, or hands them to
// a customer's queue or event bus (AWS). It is shared by every delivery
// path (endpoints, per-video URLs, webhook connections).
type Client struct {
	guard *egress.Guard
	http  *http.Client
	now   func() time.Time
	// AWS delivers to SQS and EventBridge destinations; nil refuses them.
	AWS *AWSSender
}

// NewClient returns a client whose every connection goes through guard
// and which follows no redirect: a 3xx is the receiver's answer, and a
// failure.
func NewClient(guard *egress.Guard, now func() time.Time) *Client {
	if now == nil {
		now = time.Now
	}
	c := guard.Client(Timeout)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{guard: guard, http: c, now: now}
}

// Target is where one message goes and the keys that sign it.
type Target struct {
	URL string
	// Env is the environment of the destination ("live" or "test"): it
	// decides whether plain http is sent (PlainHTTP), as it decided when
	// the API accepted the URL.
	Env     string
	Secrets []string
	// AWS, when set, is a queue or bus to deliver to instead of URL.
	AWS *AWSTarget
}

// UserAgent identifies our deliveries to receivers.
const UserAgent = "framegate-webhooks/1 (+https://github.com/framegate/framegate/blob/main/docs/webhooks.md)"

// Send makes one attempt: body signed with every secret under the message
// id msgID (webhook-id, the same on every attempt of one event) and the
// current time. It never returns an error: every failure is an Attempt to
// log. Error texts name the cause, never a secret or the body.
func (c *Client) Send(ctx context.Context, t Target, msgID string, body []byte) Result {
	start := c.now()
	res := Result{Attempt: Attempt{At: start.UTC()}}
	fail := func(o Outcome, format string, args ...any) Result {
		res.Outcome, res.Error = o, fmt.Sprintf(format, args...)
		return res
	}
	if t.AWS != nil {
		if c.AWS == nil {
			return fail(Refused, "AWS destinations are not available to this sender")
		}
		res = c.AWS.Send(ctx, *t.AWS, msgID, start, body, t.Secrets, res)
		res.LatencyMS = c.now().Sub(start).Milliseconds()
		return res
	}
	u, err := url.Parse(t.URL)
	if err != nil {
		return fail(Refused, "invalid URL")
	}
	check := c.guard.CheckURL
	if PlainHTTP(c.guard, t.Env) {
		check = c.guard.CheckHTTPURL
	}
	if err := check(u); err != nil {
		return fail(Refused, "%s", err.Error())
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return fail(Refused, "invalid URL")
	}
	if err := webhooksig.SetHeaders(req.Header, msgID, start, body, t.Secrets...); err != nil {
		return fail(Retry, "sign: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	resp, err := c.http.Do(req)
	res.LatencyMS = c.now().Sub(start).Milliseconds()
	if err != nil {
		var re *egress.RefusedError
		if errors.As(err, &re) {
			return fail(Refused, "%s", re.Error())
		}
		return fail(Retry, "%s", transportError(err))
	}
	defer resp.Body.Close()
	res.StatusCode = resp.StatusCode
	res.Response = readTruncated(resp.Body)
	res.LatencyMS = c.now().Sub(start).Milliseconds()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode <= 299:
		res.Outcome = Delivered
	case resp.StatusCode == http.StatusGone:
		res.Outcome, res.Error = Gone, "the endpoint answered 410 Gone"
	case resp.StatusCode >= 300 && resp.StatusCode <= 399:
		res.Outcome, res.Error = Retry, fmt.Sprintf("redirect (%d) not followed: update the endpoint's URL", resp.StatusCode)
	default:
		res.Outcome = Retry
		res.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), c.now())
	}
	return res
}

// readTruncated keeps the first MaxResponseBody bytes of a body as valid
// UTF-8 and drains a little more so the connection can be reused.
func readTruncated(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, MaxResponseBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(r, 64<<10))
	for len(b) > 0 && !utf8.Valid(b) { // a rune cut at the limit
		b = b[:len(b)-1]
	}
	return strings.ToValidUTF8(string(b), "")
}

// retryAfter parses Retry-After in seconds or as an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// transportError says what went wrong without the URL (which may carry a
// token in its query) and without Go's wrapping noise.
func transportError(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("timed out after %s", Timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return "connection failed: " + oe.Err.Error()
	}
	msg := err.Error()
	if len(msg) > 300 {
		msg = msg[:300]
	}
	return msg
}
