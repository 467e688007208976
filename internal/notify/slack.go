package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/slack-go/slack"
)

// DefaultSlackAPIURL is Slack's Web API base.
const DefaultSlackAPIURL = "https://slack.com/api/"

// SlackOptions configure NewSlack: a bot token and channel, or an incoming
// webhook URL.
type SlackOptions struct {
	Token      string
	Channel    string
	WebhookURL string
	// APIURL replaces Slack's Web API base (a proxy, or a test server).
	APIURL     string
	HTTPClient *http.Client
}

// Slack posts reports to Slack.
type Slack struct {
	api     *slack.Client
	channel string
	webhook string
	hc      *http.Client
}

// NewSlack builds the Slack client; the bot token wins over the webhook.
func NewSlack(o SlackOptions) (*Slack, error) {
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	switch {
	case o.Token != "" && o.Channel != "":
		api := strings.TrimSpace(o.APIURL)
		if api == "" {
			api = DefaultSlackAPIURL
		}
		if !strings.HasSuffix(api, "/") {
			api += "/" // slack-go appends the method name
		}
		return &Slack{
			api:     slack.New(o.Token, slack.OptionAPIURL(api), slack.OptionHTTPClient(hc), slack.OptionRetry(2)),
			channel: strings.TrimPrefix(o.Channel, "#"),
			hc:      hc,
		}, nil
	case o.WebhookURL != "":
		return &Slack{webhook: o.WebhookURL, hc: hc}, nil
	}
	return nil, errors.New("failed to configure Slack: set slack-token and slack-channel, or slack-webhook-url")
}

// Webhook reports whether messages go through an incoming webhook, which
// cannot edit what it posted.
func (s *Slack) Webhook() bool { return s.api == nil }

// SlackRef is where a promotion's Slack message is. It is kept in the audit
// record (a version tag) so that the same promotion reporting again edits
// its message instead of posting another.
type SlackRef struct {
	Channel    string `json:"channel,omitempty"`
	TS         string `json:"ts,omitempty"`
	Webhook    bool   `json:"webhook,omitempty"`
	PlanDigest string `json:"plan_digest"`
}

// Slack message actions.
const (
	SlackPosted  = "posted"
	SlackUpdated = "updated"
	SlackSkipped = "skipped" // a webhook already posted this promotion
)

// Post sends the message: chat.update of prev when there is one (falling
// back to a new post when Slack no longer has it), chat.postMessage
// otherwise, or the webhook.
func (s *Slack) Post(ctx context.Context, text string, blocks []slack.Block, prev *SlackRef) (SlackRef, string, error) {
	if s.Webhook() {
		if prev != nil && prev.Webhook {
			return *prev, SlackSkipped, nil
		}
		f := false
		err := slack.PostWebhookCustomHTTPContext(ctx, s.webhook, s.hc, &slack.WebhookMessage{
			Text: text, Blocks: &slack.Blocks{BlockSet: blocks}, UnfurlLinks: &f, UnfurlMedia: &f,
		})
		if err != nil {
			// slack-go's error may hold the webhook URL, which is a secret.
			return SlackRef{}, "", fmt.Errorf("failed to post to the Slack webhook: %s", redact(err.Error(), []string{s.webhook}))
		}
		return SlackRef{Webhook: true}, SlackPosted, nil
	}
	opts := []slack.MsgOption{
		slack.MsgOptionText(text, false),
		slack.MsgOptionBlocks(blocks...),
		slack.MsgOptionDisableLinkUnfurl(),
		slack.MsgOptionDisableMediaUnfurl(),
	}
	if prev != nil && prev.TS != "" && prev.Channel != "" && !prev.Webhook {
		ch, ts, _, err := s.api.UpdateMessageContext(ctx, prev.Channel, prev.TS, opts...)
		if err == nil {
			return SlackRef{Channel: ch, TS: ts}, SlackUpdated, nil
		}
		if !gone(err) {
			return SlackRef{}, "", fmt.Errorf("failed to update Slack message %s in %s: %w", prev.TS, prev.Channel, err)
		}
	}
	ch, ts, err := s.api.PostMessageContext(ctx, s.channel, opts...)
	if err != nil {
		return SlackRef{}, "", fmt.Errorf("failed to post to Slack channel %s: %w", s.channel, err)
	}
	return SlackRef{Channel: ch, TS: ts}, SlackPosted, nil
}

// gone reports Slack errors after which the old message cannot be edited,
// so a new one is posted.
func gone(err error) bool {
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) {
		return false
	}
	switch se.Err {
	case "message_not_found", "cant_update_message", "edit_window_closed", "channel_not_found", "is_archived", "not_in_channel":
		return true
	}
	return false
}
