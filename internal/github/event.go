package github

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// Event is what the workflow run tells about its trigger.
type Event struct {
	Name    string // GITHUB_EVENT_NAME
	Payload []byte // the JSON at GITHUB_EVENT_PATH; empty outside Actions
	SHA     string // GITHUB_SHA
}

type eventPayload struct {
	PullRequest *struct {
		Number int `json:"number"`
		Head   struct {
			Repo *struct {
				FullName string `json:"full_name"`
			} `json:"repo"`
		} `json:"head"`
		Base struct {
			Repo *struct {
				FullName string `json:"full_name"`
			} `json:"repo"`
		} `json:"base"`
	} `json:"pull_request"`
	Issue *struct {
		Number      int             `json:"number"`
		PullRequest json.RawMessage `json:"pull_request"`
	} `json:"issue"`
	WorkflowRun *struct {
		HeadSHA      string `json:"head_sha"`
		HeadBranch   string `json:"head_branch"`
		PullRequests []struct {
			Number int `json:"number"`
		} `json:"pull_requests"`
		HeadRepository *struct {
			FullName string `json:"full_name"`
			Owner    struct {
				Login string `json:"login"`
			} `json:"owner"`
		} `json:"head_repository"`
		Repository *struct {
			FullName string `json:"full_name"`
		} `json:"repository"`
	} `json:"workflow_run"`
}

// payload reads the parts of the event payload the pull request lookup
// needs; an empty payload (outside Actions) reads as none.
func (ev Event) payload() (eventPayload, error) {
	var p eventPayload
	if len(ev.Payload) > 0 {
		if err := json.Unmarshal(ev.Payload, &p); err != nil {
			return p, fmt.Errorf("failed to parse the event payload: %w", payloadError(err))
		}
	}
	return p, nil
}

// payloadError says which field of the event payload has the wrong type,
// instead of encoding/json's Go type names.
func payloadError(err error) error {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return err
	}
	field := strings.TrimPrefix(te.Field, ".")
	if field == "" {
		return fmt.Errorf("the payload is a JSON %s, want an object", te.Value)
	}
	want := "an object"
	switch te.Type.Kind() {
	case reflect.Int, reflect.Int64:
		want = "a number"
	case reflect.String:
		want = "a string"
	case reflect.Slice:
		want = "an array"
	}
	return fmt.Errorf("%s is a JSON %s, want %s", field, te.Value, want)
}
