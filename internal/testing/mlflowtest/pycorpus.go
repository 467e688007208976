package mlflowtest

import (
	"bufio"
	"context"
	"crypto/rand"
	_ "embed" // the corpus script
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// corpusScript builds the corpus with MLflow's Python API, then serves load-back requests (see its docstring).
//
//go:embed pyfixtures/corpus.py
var corpusScript string

const (
	// corpusDeadlineMargin is kept free before the test's deadline, so that a build that runs out of time fails
	// the test with the Python output instead of the test binary's timeout panic.
	corpusDeadlineMargin = 10 * time.Second
	corpusStderrTail     = 16 << 10
	corpusStopGrace      = 5 * time.Second
)

// PyCorpus is the integration corpus that pyfixtures/corpus.py builds with MLflow's high-level Python API, the
// way users make their models: mlflow.sklearn.log_model with registered_model_name, mlflow.pyfunc.log_model with
// a PythonModel, sklearn autologging registered by runs:/ URI, metrics linked to a logged model and a dataset,
// several logged models in one run, NaN and ±inf metrics, and prompts. Every model has three versions of
// increasing quality (Versions[i] is version i+1), each of which loads and predicts.
//
// Names start with a prefix unique to the test binary; the corpus is built once per Server and shared, so a
// test must not change it in ways another test sees, except on targets only it uses (for example its own
// alias names, or the aliases of one fixture that only one test promotes).
type PyCorpus struct {
	// Sklearn: mlflow.sklearn.log_model(..., registered_model_name=...), one run per version; run tag
	// dataset_version; val_accuracy logged before the model (so on the run and, copied by log_model, on the
	// logged model).
	Sklearn PyModel
	// PyFunc: mlflow.pyfunc.log_model with a PythonModel wrapping a pickled classifier (an artifact) and a
	// threshold; predicts "approve" or "reject"; val_f1 logged after the model (linked to it).
	PyFunc PyModel
	// Autolog: mlflow.sklearn.autolog() runs (training_accuracy_score, training_f1_score, ... on the run and
	// on the logged model, with dataset "dataset"), registered with mlflow.register_model("runs:/<run>/model").
	Autolog PyModel
	// Dataset: accuracy logged with log_metric(..., model_id=, dataset=) on datasets "train" and "holdout"
	// (Metrics keys "accuracy/train", "accuracy/holdout"); registered from models:/<model_id>. Version 3 is an
	// unpruned tree: 1.0 on train, lower on holdout.
	Dataset PyModel
	// Multi: three logged models in one run (ArtifactPath stump, tree, logreg), registered as versions 1-3,
	// each with its own val_accuracy on dataset "validation" linked by model_id; the run's own val_accuracy is
	// the last one logged.
	Multi PyModel
	// NonFinite: runs whose per-epoch metrics (steps 1-3, on the run only) end in NaN (train_loss), +inf
	// (grad_norm) and -inf (min_log_likelihood), beside a finite val_accuracy; the logged models have no metrics.
	NonFinite PyModel
	// NonFiniteLinked: one version whose val_loss NaN and val_accuracy are logged on its logged model and
	// dataset "holdout". The server's logged-model metric table stores that NaN as 0.0; the run keeps NaN.
	NonFiniteLinked PyModel
	// Prompt: versions 1-4 registered with mlflow.genai.register_prompt; 1-3 have version tag reviewed=true,
	// 4 reviewed=false.
	Prompt PyPrompt

	// Row is the input that Predict gives every model; PromptVars what RenderPrompt formats prompts with.
	Row        map[string]float64
	PromptVars map[string]string
	// BuildTime is how long the Python process took to import MLflow and build every fixture.
	BuildTime time.Duration

	proc *pyProcess
}

// PyModel is a registered model of the corpus.
type PyModel struct {
	Name     string      `json:"name"`
	Versions []PyVersion `json:"versions"`
}

// PyVersion is one registered version and where it came from.
type PyVersion struct {
	Version string `json:"version"`
	RunID   string `json:"run_id"`
	// ModelID is the logged model (m-<hex>) the version was registered from.
	ModelID string `json:"model_id"`
	// ArtifactPath is the logged model's name in its run: runs:/<RunID>/<ArtifactPath> is how MLflow's
	// register_model names it.
	ArtifactPath string `json:"artifact_path"`
	// Prediction is what the trained model predicted for Row before it was logged; the loaded model must
	// predict the same.
	Prediction any `json:"prediction"`
	// Metrics are the values the script logged (and computed), by key.
	Metrics map[string]float64 `json:"metrics"`
}

// V returns version n (1-based), failing the test when there is none.
func (m PyModel) V(t testing.TB, n int) PyVersion {
	t.Helper()
	if n < 1 || n > len(m.Versions) {
		t.Fatalf("corpus model %s has no version %d (it has %d)", m.Name, n, len(m.Versions))
	}
	return m.Versions[n-1]
}

// PyPrompt is a prompt of the corpus.
type PyPrompt struct {
	Name     string `json:"name"`
	Versions []struct {
		Version  string            `json:"version"`
		Template string            `json:"template"`
		Tags     map[string]string `json:"tags"`
	} `json:"versions"`
}

// Prediction is what a model served for the corpus row.
type Prediction struct {
	// Values has one prediction per input row (one row here): a class (0 or 1) or "approve"/"reject".
	Values []any `json:"prediction"`
	// ModelID and RunID are the loaded model's metadata: the logged model and run it was logged from.
	ModelID string `json:"model_id"`
	RunID   string `json:"run_id"`
}

// RenderedPrompt is a prompt loaded through the Prompt Registry and formatted with the corpus variables.
type RenderedPrompt struct {
	Text    string `json:"text"`
	Name    string `json:"name"`
	Version string `json:"version"`
}

var (
	corpusMu  sync.Mutex
	corpusFor = map[*Server]*corpusEntry{}
)

type corpusEntry struct {
	once   sync.Once
	corpus *PyCorpus
	err    error
}

// Corpus returns the Python-built corpus of s, building it on first use (one Python process per Server; about
// 15 s on an idle machine). The build runs under ctx and the test's deadline; a failure fails the test with the
// Python output, and every later call fails the same way. With -short the test is skipped.
func Corpus(ctx context.Context, t testing.TB, s *Server) *PyCorpus {
	t.Helper()
	if testing.Short() {
		t.Skip("the Python-built corpus is not built with -short")
	}
	s = RequireServer(t, s)
	corpusMu.Lock()
	e := corpusFor[s]
	if e == nil {
		e = &corpusEntry{}
		corpusFor[s] = e
	}
	corpusMu.Unlock()
	e.once.Do(func() {
		ctx, cancel := withTestDeadline(ctx, t)
		defer cancel()
		e.corpus, e.err = buildCorpusOf(ctx, s)
		if e.err == nil {
			t.Logf("built the Python corpus in %s", e.corpus.BuildTime.Round(100*time.Millisecond))
		}
	})
	if e.err != nil {
		t.Fatalf("failed to build the Python corpus: %v", e.err)
	}
	return e.corpus
}

// stopCorpus ends the Python process of s, if any. Server.Stop calls it.
func stopCorpus(s *Server) {
	corpusMu.Lock()
	e := corpusFor[s]
	delete(corpusFor, s)
	corpusMu.Unlock()
	if e != nil && e.corpus != nil {
		e.corpus.proc.stop(corpusStopGrace)
	}
}

// Predict loads uri (models:/<name>@<alias>, models:/<name>/<version>) with mlflow.pyfunc.load_model in the
// corpus's Python process and predicts Row. A model that does not load or predict fails the test with the
// Python traceback.
func (c *PyCorpus) Predict(ctx context.Context, t testing.TB, uri string) Prediction {
	t.Helper()
	var p Prediction
	if err := c.proc.call(ctx, t, "predict", uri, &p); err != nil {
		t.Fatalf("failed to load and predict with %s: %v", uri, err)
	}
	if len(p.Values) != 1 {
		t.Fatalf("%s predicted %d values for one row: %v", uri, len(p.Values), p.Values)
	}
	return p
}

// RenderPrompt loads uri (prompts:/<name>@<alias>, prompts:/<name>/<version>) with mlflow.genai.load_prompt,
// bypassing its cache, and formats it with PromptVars. A prompt that does not load fails the test.
func (c *PyCorpus) RenderPrompt(ctx context.Context, t testing.TB, uri string) RenderedPrompt {
	t.Helper()
	var p RenderedPrompt
	if err := c.proc.call(ctx, t, "prompt", uri, &p); err != nil {
		t.Fatalf("failed to load and format prompt %s: %v", uri, err)
	}
	return p
}

func withTestDeadline(ctx context.Context, t testing.TB) (context.Context, context.CancelFunc) {
	if dt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if d, ok := dt.Deadline(); ok {
			return context.WithDeadline(ctx, d.Add(-corpusDeadlineMargin))
		}
	}
	return context.WithCancel(ctx)
}

// corpusPython returns the python of the virtual environment that holds the harness's mlflow binary.
func corpusPython() (string, error) {
	bin, err := mlflowBinary()
	if err != nil {
		return "", err
	}
	py := filepath.Join(filepath.Dir(bin), "python")
	if _, err := os.Stat(py); err != nil {
		return "", fmt.Errorf("failed to find the python beside %s: %w", bin, err)
	}
	return py, nil
}

func buildCorpusOf(ctx context.Context, s *Server) (*PyCorpus, error) {
	py, err := corpusPython()
	if err != nil {
		return nil, err
	}
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("failed to read random bytes: %w", err)
	}
	prefix := "pyc-" + hex.EncodeToString(rnd[:])
	dir := filepath.Join(s.tmpDir, prefix) // removed with the server's temporary directory
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("failed to create corpus dir: %w", err)
	}
	return buildCorpus(ctx, py, dir, s.URL, prefix)
}

// buildCorpus runs corpus.py with python in dir against trackingURI and reads its description of the corpus.
func buildCorpus(ctx context.Context, py, dir, trackingURI, prefix string) (*PyCorpus, error) {
	began := time.Now()
	p, err := startPyProcess(py, dir, trackingURI, prefix)
	if err != nil {
		return nil, err
	}
	var out struct {
		Corpus struct {
			Row        map[string]float64 `json:"row"`
			PromptVars map[string]string  `json:"prompt_vars"`
			Models     struct {
				Sklearn         PyModel `json:"sklearn"`
				PyFunc          PyModel `json:"pyfunc"`
				Autolog         PyModel `json:"autolog"`
				Dataset         PyModel `json:"dataset"`
				Multi           PyModel `json:"multi"`
				NonFinite       PyModel `json:"nonfinite"`
				NonFiniteLinked PyModel `json:"nonfinite_linked"`
			} `json:"models"`
			Prompt PyPrompt `json:"prompt"`
		} `json:"corpus"`
	}
	if err := p.read(ctx, &out); err != nil {
		p.stop(0)
		return nil, fmt.Errorf("%w\n--- python stderr (last %d KiB) ---\n%s", err, corpusStderrTail>>10, p.stderr.String())
	}
	c, m := out.Corpus, out.Corpus.Models
	return &PyCorpus{
		Sklearn: m.Sklearn, PyFunc: m.PyFunc, Autolog: m.Autolog, Dataset: m.Dataset, Multi: m.Multi,
		NonFinite: m.NonFinite, NonFiniteLinked: m.NonFiniteLinked, Prompt: c.Prompt,
		Row: c.Row, PromptVars: c.PromptVars, BuildTime: time.Since(began), proc: p,
	}, nil
}

// pyProcess is corpus.py after its build: it answers one JSON line per request line.
type pyProcess struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan []byte // protocol lines from its stdout; closed at EOF
	stderr *tailBuffer
	exited chan struct{} // closed after the process has exited and its stdout is drained
	quit   chan struct{} // closed by stop: answers nobody waits for are dropped
	once   sync.Once

	mu     sync.Mutex // one request at a time
	broken error      // set when a request was abandoned: the process is stopped
}

func startPyProcess(py, dir, trackingURI, prefix string) (*pyProcess, error) {
	cmd := exec.Command(py, "-c", corpusScript, prefix) //nolint:gosec // the harness's own python and script
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"MLFLOW_TRACKING_URI="+trackingURI,
		"MLFLOW_DISABLE_TELEMETRY=true", "DO_NOT_TRACK=true",
		"PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1",
		"TMPDIR="+dir, // models downloaded by load_model land here and go with the server's temporary directory
	)
	p := &pyProcess{
		cmd: cmd, lines: make(chan []byte, 1), stderr: &tailBuffer{max: corpusStderrTail},
		exited: make(chan struct{}), quit: make(chan struct{}),
	}
	cmd.Stderr = p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("failed to create python stdout pipe: %w", err)
	}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("failed to create python stdin pipe: %w", err)
	}
	setProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("failed to start %s: %w", py, err)
	}
	go func() {
		defer close(p.exited)
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadBytes('\n')
			if len(line) > 0 {
				select {
				case p.lines <- line:
				case <-p.quit:
				}
			}
			if err != nil {
				close(p.lines)
				_ = cmd.Wait() // after the last read from stdout, as os/exec requires
				return
			}
		}
	}()
	return p, nil
}

// read waits for the next protocol line and decodes it into out.
func (p *pyProcess) read(ctx context.Context, out any) error {
	select {
	case line, ok := <-p.lines:
		if !ok {
			<-p.exited
			return fmt.Errorf("python exited: %v", p.cmd.ProcessState)
		}
		if err := json.Unmarshal(line, out); err != nil {
			return fmt.Errorf("failed to decode python answer %.200q: %w", line, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("failed to get python answer: %w", ctx.Err())
	}
}

// call sends one request and decodes its answer; an answer with "error" is returned as an error.
func (p *pyProcess) call(ctx context.Context, t testing.TB, op, uri string, out any) error {
	ctx, cancel := withTestDeadline(ctx, t)
	defer cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.broken != nil {
		return fmt.Errorf("the corpus python process is stopped: %w", p.broken)
	}
	req, err := json.Marshal(map[string]string{"op": op, "uri": uri})
	if err != nil {
		return fmt.Errorf("failed to encode request: %w", err)
	}
	if _, err := p.stdin.Write(append(req, '\n')); err != nil {
		p.broken = fmt.Errorf("failed to write request: %w", err)
		return fmt.Errorf("%w\n--- python stderr ---\n%s", p.broken, p.stderr.String())
	}
	var raw json.RawMessage
	if err := p.read(ctx, &raw); err != nil {
		// The answer may still come; a later request would read it as its own. Stop the process instead.
		p.broken = err
		p.stop(0)
		return fmt.Errorf("%w\n--- python stderr ---\n%s", err, p.stderr.String())
	}
	var failed struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(raw, &failed); err != nil {
		return fmt.Errorf("failed to decode python answer: %w", err)
	}
	if failed.Error != "" {
		return errors.New("python: " + failed.Error)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("failed to decode python answer: %w", err)
	}
	return nil
}

// stop closes the process's stdin (it exits at EOF) and kills it if it is still running after grace.
func (p *pyProcess) stop(grace time.Duration) {
	p.once.Do(func() { close(p.quit) })
	_ = p.stdin.Close()
	select {
	case <-p.exited:
		return
	case <-time.After(grace):
	}
	_ = signalGroup(p.cmd, killSignal)
	<-p.exited
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
