package videos

import (
	"encoding/json"
	"time"
)

// TimeFormat is how the API writes times.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// View is a video as the API shows it.
type View struct {
	Object          string          `json:"object"`
	ID              string          `json:"id"`
	Status          string          `json:"status"`
	Progress        int             `json:"progress"`
	Attempts        int             `json:"attempts"`
	Environment     string          `json:"environment"`
	TemplateID      string          `json:"templateId,omitempty"`
	Variables       json.RawMessage `json:"variables,omitempty"`
	Spec            json.RawMessage `json:"spec,omitempty"`
	DurationSeconds float64         `json:"durationSeconds"`
	SizeBytes       *int64          `json:"sizeBytes"`
	Width           int             `json:"width,omitempty"`
	Height          int             `json:"height,omitempty"`
	Watermark       bool            `json:"watermark"`
	WebhookURL      string          `json:"webhookUrl,omitempty"`
	Error           *Error          `json:"error"`
	CreatedAt       string          `json:"createdAt"`
	StartedAt       *string         `json:"startedAt"`
	FinishedAt      *string         `json:"finishedAt"`
	ExpiresAt       *string         `json:"expiresAt"`
}

func ts(t *time.Time) *string {
	if t == nil {
		return nil
	}
	x := t.UTC().Format(TimeFormat)
	return &x
}

// ViewOf renders v; withSpec includes the (possibly large) spec.
func ViewOf(v Video, withSpec bool) View {
	out := View{
		Object: "video", ID: v.ID, Status: v.Status, Progress: v.Progress, Attempts: v.Attempts, Environment: string(v.Env),
		TemplateID: v.TemplateID, Variables: v.Variables, DurationSeconds: v.Duration,
		Width: v.Width, Height: v.Height, Watermark: v.Watermark, WebhookURL: v.WebhookURL, Error: v.Error,
		CreatedAt: v.CreatedAt.UTC().Format(TimeFormat), StartedAt: ts(v.StartedAt),
		FinishedAt: ts(v.FinishedAt), ExpiresAt: ts(v.ExpiresAt),
	}
	if v.Status == Succeeded {
		size := v.SizeBytes
		out.SizeBytes = &size
	}
	if withSpec {
		out.Spec = v.Spec
	}
	return out
}
