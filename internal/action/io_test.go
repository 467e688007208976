package action

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestIOFormatsThenEscapesEachArgument: an argument is formatted as its verb
// asks (width, %d, %q, an error's text), then escaped; the format string is
// the tool's own and stays as it is.
func TestIOFormatsThenEscapesEachArgument(t *testing.T) {
	t.Parallel()
	const want = "pass   |5|\"x\\ny\"|e\\u001b[31m\\n::\n" // one line: :: is not at its start
	var gh bytes.Buffer
	newGitHubIO(func(string) string { return "" }, &gh).Infof("%-7s|%d|%q|%v", "pass", 5, "x\ny", errors.New("e\x1b[31m\n::"))
	if got := gh.String(); got != want {
		t.Errorf("githubIO.Infof wrote %q, want %q", got, want)
	}
	var stderr bytes.Buffer
	newCLIIO(&bytes.Buffer{}, &stderr, false).Infof("%-7s|%d|%q|%v", "pass", 5, "x\ny", errors.New("e\x1b[31m\n::"))
	if got := stderr.String(); got != "    "+want {
		t.Errorf("cliIO.Infof wrote %q, want %q", got, "    "+want)
	}
}

// TestIOMasksBeforeEscaping: a secret holding characters that are shown
// escaped is masked first, since the runner's masking looks for the secret
// as it is and would miss its escaped form.
func TestIOMasksBeforeEscaping(t *testing.T) {
	t.Parallel()
	const secret = "pa\tss\u202ew0rd"
	escaped := `pa\tss\u202ew0rd`
	write := func(out IO) {
		out.AddMask(secret)
		out.Infof("token %s", secret)
		out.Warningf("token %v", errors.New("bad "+secret))
		out.Errorf("", 0, "token %s", secret)
		out.Print("token " + secret + "\n")
		out.Finish()
	}
	var gh, stdout, stderr bytes.Buffer
	write(newGitHubIO(func(string) string { return "" }, &gh))
	write(newCLIIO(&stdout, &stderr, false))
	for name, out := range map[string]string{"githubIO": gh.String(), "cliIO": stdout.String() + stderr.String()} {
		for _, line := range strings.Split(out, "\n") {
			if line == "::add-mask::"+secret {
				continue
			}
			if strings.Contains(line, secret) || strings.Contains(line, escaped) || strings.Contains(line, "w0rd") {
				t.Errorf("%s printed the secret: %q", name, line)
			}
		}
		if n := strings.Count(out, "***"); n != 4 {
			t.Errorf("%s masked %d times, want 4:\n%s", name, n, out)
		}
	}
}
