package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slacktest"

	"github.com/mlreg/mlreg-action/internal/notify"
	"github.com/mlreg/mlreg-action/internal/outcome"
	"github.com/mlreg/mlreg-action/internal/promote"
)

const slackToken = "xoxb-0000-1111-secretsecret"

// slackPost is one chat.postMessage or chat.update as the server saw it.
type slackPost struct {
	Method  string
	Channel string
	TS      string
	Text    string
	Blocks  []slack.Block
	Token   string
}

// slackServer is slacktest with chat.postMessage and chat.update handlers
// that record what was posted (slacktest's own postMessage does not).
type slackServer struct {
	srv *slacktest.Server
	mu  sync.Mutex
	// Posts holds every call, in order.
	posts []slackPost
	// updateErr, when set, is the error chat.update answers.
	updateErr string
	next      int
}

func newSlackServer(t *testing.T) *slackServer {
	t.Helper()
	s := &slackServer{}
	s.srv = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", s.handler("chat.postMessage"))
		c.Handle("/chat.update", s.handler("chat.update"))
	})
	s.srv.Start()
	t.Cleanup(s.srv.Stop)
	return s
}

func (s *slackServer) handler(method string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p := slackPost{Method: method, Channel: r.Form.Get("channel"), TS: r.Form.Get("ts"), Text: r.Form.Get("text")}
		p.Token = r.Form.Get("token")
		if p.Token == "" {
			p.Token = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		}
		var blocks slack.Blocks
		if err := json.Unmarshal([]byte(r.Form.Get("blocks")), &blocks); err != nil {
			http.Error(w, "bad blocks: "+err.Error(), http.StatusBadRequest)
			return
		}
		p.Blocks = blocks.BlockSet
		s.mu.Lock()
		s.posts = append(s.posts, p)
		s.next++
		n := s.next
		updateErr := s.updateErr
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if method == "chat.update" {
			if updateErr != "" {
				fmt.Fprintf(w, `{"ok":false,"error":%q}`, updateErr)
				return
			}
			fmt.Fprintf(w, `{"ok":true,"channel":%q,"ts":%q,"text":%q}`, p.Channel, p.TS, p.Text)
			return
		}
		fmt.Fprintf(w, `{"ok":true,"channel":"C0MLREG","ts":"1764072000.%06d","message":{"text":%q}}`, n, p.Text)
	}
}

func (s *slackServer) calls() []slackPost {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]slackPost(nil), s.posts...)
}

func (s *slackServer) client(t *testing.T) *notify.Slack {
	t.Helper()
	sl, err := notify.NewSlack(notify.SlackOptions{Token: slackToken, Channel: "#ml-releases", APIURL: s.srv.GetAPIURL()})
	if err != nil {
		t.Fatal(err)
	}
	return sl
}

// memStore is an in-memory TagStore.
type memStore struct {
	mu      sync.Mutex
	tags    map[string]string
	readErr error
	writes  int
}

func (m *memStore) VersionTags(_ context.Context, model, version string) (map[string]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.readErr != nil {
		return nil, m.readErr
	}
	out := map[string]string{}
	for k, v := range m.tags {
		if rest, ok := strings.CutPrefix(k, model+"/"+version+"/"); ok {
			out[rest] = v
		}
	}
	return out, nil
}

func (m *memStore) SetVersionTag(_ context.Context, model, version, key, value string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tags == nil {
		m.tags = map[string]string{}
	}
	m.tags[model+"/"+version+"/"+key] = value
	m.writes++
	return nil
}

func (m *memStore) get(key string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tags["fraud-model/15/"+key]
}

// promotionTag is the audit record Apply writes on the promoted version.
func promotionTag(m *memStore, planDigest string) {
	_ = m.SetVersionTag(context.Background(), "fraud-model", "15", promote.PromotionTagPrefix+"alias.champion",
		promote.Record{Version: "15", PlanDigest: planDigest}.JSON())
}

func slackSettings(sl *notify.Slack, store notify.TagStore) notify.Settings {
	return notify.Settings{Slack: sl, Store: store, Secrets: []string{slackToken}}
}

func TestSlackPostThenUpdateOnRerun(t *testing.T) {
	t.Parallel()
	srv := newSlackServer(t)
	store := &memStore{}
	promotionTag(store, digest)
	s := slackSettings(srv.client(t), store)

	res := notify.Send(t.Context(), report(basePlan(), outcome.Promoted), s)
	if len(res.Errors) != 0 || res.SlackAction != notify.SlackPosted {
		t.Fatalf("errors %v, action %q", res.Errors, res.SlackAction)
	}
	ts := outputs(res)["slack-ts"]
	var key notify.SlackRef
	if err := json.Unmarshal([]byte(store.get("mlreg.slack.alias.champion")), &key); err != nil {
		t.Fatalf("message key: %v", err)
	}
	if diff := cmp.Diff(notify.SlackRef{Channel: "C0MLREG", TS: ts, PlanDigest: digest}, key); diff != "" {
		t.Errorf("message key (-want +got):\n%s", diff)
	}

	// The rerun finds the promotion in place; its own plan digest differs,
	// but the audit record names the same promotion: the message is edited.
	p := basePlan()
	p.Targets[0].Current, p.Targets[0].InPlace = "15", true
	p.Digest = "sha256:" + strings.Repeat("f", 64)
	rerun := report(p, outcome.InPlace)
	res = notify.Send(t.Context(), rerun, s)
	if len(res.Errors) != 0 || res.SlackAction != notify.SlackUpdated || outputs(res)["slack-ts"] != ts {
		t.Fatalf("rerun: errors %v, action %q, ts %q want %q", res.Errors, res.SlackAction, outputs(res)["slack-ts"], ts)
	}
	calls := srv.calls()
	var got []string
	for _, c := range calls {
		got = append(got, c.Method+" "+c.Channel+" "+c.TS)
		if c.Token != slackToken {
			t.Errorf("%s sent token %q", c.Method, c.Token)
		}
		checkSlackSafe(t, c.Text, c.Blocks)
	}
	want := []string{"chat.postMessage ml-releases ", "chat.update C0MLREG " + ts}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if h := calls[1].Blocks[0].(*slack.HeaderBlock); !strings.Contains(h.Text.Text, "already in place") {
		t.Errorf("updated header = %q, want already in place", h.Text.Text)
	}
	if store.writes != 2 { // the audit record and one message key
		t.Errorf("%d tag writes, want 2", store.writes)
	}
}

func TestSlackNewPromotionPostsAgain(t *testing.T) {
	t.Parallel()
	srv := newSlackServer(t)
	store := &memStore{}
	// An earlier promotion of v15 to @champion (say, before a rollback) has its message.
	_ = store.SetVersionTag(context.Background(), "fraud-model", "15", "mlreg.slack.alias.champion", `{"channel":"C0MLREG","ts":"1.000001","plan_digest":"sha256:old"}`)
	promotionTag(store, digest)
	res := notify.Send(t.Context(), report(basePlan(), outcome.Promoted), slackSettings(srv.client(t), store))
	if len(res.Errors) != 0 || res.SlackAction != notify.SlackPosted {
		t.Fatalf("errors %v, action %q", res.Errors, res.SlackAction)
	}
	if calls := srv.calls(); len(calls) != 1 || calls[0].Method != "chat.postMessage" {
		t.Errorf("calls = %v", calls)
	}
}

func TestSlackUpdateOfAVanishedMessagePostsAgain(t *testing.T) {
	t.Parallel()
	srv := newSlackServer(t)
	srv.updateErr = "message_not_found"
	store := &memStore{}
	_ = store.SetVersionTag(context.Background(), "fraud-model", "15", "mlreg.slack.alias.champion", `{"channel":"C0MLREG","ts":"1.000001","plan_digest":"`+digest+`"}`)
	promotionTag(store, digest)
	res := notify.Send(t.Context(), report(basePlan(), outcome.InPlace), slackSettings(srv.client(t), store))
	if len(res.Errors) != 0 || res.SlackAction != notify.SlackPosted {
		t.Fatalf("errors %v, action %q", res.Errors, res.SlackAction)
	}
	var methods []string
	for _, c := range srv.calls() {
		methods = append(methods, c.Method)
	}
	if diff := cmp.Diff([]string{"chat.update", "chat.postMessage"}, methods); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if !strings.Contains(store.get("mlreg.slack.alias.champion"), `"ts":"1764072000.000002"`) {
		t.Errorf("message key not moved to the new message: %s", store.get("mlreg.slack.alias.champion"))
	}
}

func TestSlackWithoutAKeptPromotion(t *testing.T) {
	t.Parallel()
	dry := report(basePlan(), outcome.WouldChange)
	dry.DryRun = true
	cases := map[string]*notify.Report{
		"blocked":  report(basePlan(), outcome.Blocked),
		"validate": validated(),
		"dry run":  dry,
	}
	for name, rep := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := newSlackServer(t)
			store := &memStore{readErr: errors.New("the store must not be read")}
			for range 2 {
				if res := notify.Send(t.Context(), rep, slackSettings(srv.client(t), store)); len(res.Errors) != 0 {
					t.Fatal(res.Errors)
				}
			}
			if calls := srv.calls(); len(calls) != 2 || calls[1].Method != "chat.postMessage" {
				t.Errorf("calls = %v, want two posts: nothing is kept for an unapplied plan", calls)
			}
			if store.writes != 0 {
				t.Errorf("%d tag writes: the registry must not change", store.writes)
			}
		})
	}
}

func TestSlackHostileText(t *testing.T) {
	t.Parallel()
	srv := newSlackServer(t)
	rep := reports()["hostile"]
	res := notify.Send(t.Context(), rep, slackSettings(srv.client(t), nil))
	if len(res.Errors) != 0 {
		t.Fatal(res.Errors)
	}
	calls := srv.calls()
	if len(calls) != 1 {
		t.Fatalf("%d calls", len(calls))
	}
	checkSlackSafe(t, calls[0].Text, calls[0].Blocks)
	got := slackJSON(t, calls[0].Text, calls[0].Blocks)
	want := slackJSON(t, rep.SlackText(), rep.SlackBlocks())
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("posted blocks differ from the rendered ones (-want +got):\n%s", diff)
	}
}

type webhookServer struct {
	srv    *httptest.Server
	mu     sync.Mutex
	posts  []slack.WebhookMessage
	status int
}

func newWebhookServer(t *testing.T) *webhookServer {
	t.Helper()
	w := &webhookServer{status: http.StatusOK}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var m slack.WebhookMessage
		if r.URL.Path != "/services/T000/B000/webhooksecret" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(rw, "no_service", http.StatusNotFound)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(rw, "invalid_payload", http.StatusBadRequest)
			return
		}
		w.mu.Lock()
		w.posts = append(w.posts, m)
		status := w.status
		w.mu.Unlock()
		rw.WriteHeader(status)
		_, _ = rw.Write([]byte("ok"))
	}))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *webhookServer) url() string { return w.srv.URL + "/services/T000/B000/webhooksecret" }

func TestSlackWebhook(t *testing.T) {
	t.Parallel()
	wh := newWebhookServer(t)
	sl, err := notify.NewSlack(notify.SlackOptions{WebhookURL: wh.url()})
	if err != nil {
		t.Fatal(err)
	}
	store := &memStore{}
	promotionTag(store, digest)
	s := notify.Settings{Slack: sl, Store: store, Secrets: []string{wh.url()}}
	rep := reports()["hostile"]
	rep.Outcome = outcome.Promoted
	res := notify.Send(t.Context(), rep, s)
	if len(res.Errors) != 0 || res.SlackAction != notify.SlackPosted || outputs(res)["slack-ts"] != "" {
		t.Fatalf("errors %v, action %q, outputs %v", res.Errors, res.SlackAction, outputs(res))
	}
	wh.mu.Lock()
	posts := append([]slack.WebhookMessage(nil), wh.posts...)
	wh.mu.Unlock()
	if len(posts) != 1 || posts[0].Blocks == nil || posts[0].UnfurlLinks == nil || *posts[0].UnfurlLinks {
		t.Fatalf("posts = %+v", posts)
	}
	checkSlackSafe(t, posts[0].Text, posts[0].Blocks.BlockSet)

	// A webhook cannot edit: the same promotion reporting again posts nothing.
	res = notify.Send(t.Context(), rep, s)
	if len(res.Errors) != 0 || res.SlackAction != notify.SlackSkipped || len(wh.posts) != 1 {
		t.Errorf("rerun: errors %v, action %q, %d posts", res.Errors, res.SlackAction, len(wh.posts))
	}
}

func TestSlackWebhookErrorHidesTheURL(t *testing.T) {
	t.Parallel()
	wh := newWebhookServer(t)
	wh.status = http.StatusInternalServerError
	closed := newWebhookServer(t)
	closed.srv.Close()
	for _, u := range []string{wh.url(), closed.url()} {
		sl, err := notify.NewSlack(notify.SlackOptions{WebhookURL: u})
		if err != nil {
			t.Fatal(err)
		}
		res := notify.Send(t.Context(), validated(), notify.Settings{Slack: sl, Secrets: []string{u}})
		if len(res.Errors) != 1 || !strings.HasPrefix(res.Errors[0], "slack: failed to post to the Slack webhook") {
			t.Fatalf("errors = %v", res.Errors)
		}
		if strings.Contains(res.Errors[0], "webhooksecret") {
			t.Errorf("error shows the webhook URL: %s", res.Errors[0])
		}
	}
}

func TestSlackAPIErrorIsANotifyError(t *testing.T) {
	t.Parallel()
	srv := slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"ok":false,"error":"channel_not_found"}`))
		})
	})
	srv.Start()
	t.Cleanup(srv.Stop)
	sl, err := notify.NewSlack(notify.SlackOptions{Token: slackToken, Channel: "nope", APIURL: srv.GetAPIURL()})
	if err != nil {
		t.Fatal(err)
	}
	res := notify.Send(t.Context(), validated(), slackSettings(sl, nil))
	want := []string{"slack: failed to post to Slack channel nope: channel_not_found"}
	if diff := cmp.Diff(want, res.Errors); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}
