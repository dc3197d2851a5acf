package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/framegate/framegate/pkg/client"
)

// The users' commands (keys, videos, templates, webhooks) talk to the API
// over HTTP with a key, exactly as any client would: they go through the
// authorizer, its limits and scopes, never around them.
const (
	apiKeyEnv     = "FRAMEGATE_API_KEY"
	apiURLEnv     = "FRAMEGATE_API_URL"
	defaultAPIURL = "http://127.0.0.1:3000/v1"
)

const apiEnvHelp = `

The key comes from FRAMEGATE_API_KEY. The API URL comes from FRAMEGATE_API_URL,
else the local stack recorded by a running ` + "`framegate dev`" + ` (.framegate/dev.json),
else ` + defaultAPIURL + `.`

// apiURL picks the API: the environment, then the running local stack, then
// the local default.
func apiURL() (string, error) {
	if u := strings.TrimSpace(os.Getenv(apiURLEnv)); u != "" {
		return u, nil
	}
	b, err := os.ReadFile(devStateFile())
	switch {
	case errors.Is(err, os.ErrNotExist):
		return defaultAPIURL, nil
	case err != nil:
		return "", fmt.Errorf("read %s: %w", devStateFile(), err)
	}
	var t target
	if err := json.Unmarshal(b, &t); err != nil {
		return "", fmt.Errorf("read %s: %w", devStateFile(), err)
	}
	if t.APIURL == "" {
		return defaultAPIURL, nil
	}
	return t.APIURL, nil
}

// apiClient is the client of the users' commands.
func apiClient() (*client.Client, error) {
	key := strings.TrimSpace(os.Getenv(apiKeyEnv))
	if key == "" {
		return nil, usageError{fmt.Errorf("set %s to an API key (`framegate dev` prints one for the local stack)", apiKeyEnv)}
	}
	u, err := apiURL()
	if err != nil {
		return nil, err
	}
	return client.New(u, key, client.WithUserAgent("framegate-cli")), nil
}

// exactArgs is cobra.ExactArgs whose error is a usage error (exit 2).
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if err := cobra.NoArgs(cmd, args); err != nil {
		return usageError{err}
	}
	return nil
}

func deref(s *string, none string) string {
	if s == nil || *s == "" {
		return none
	}
	return *s
}
