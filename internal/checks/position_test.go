package checks

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Problems that yaml.v3 reports without a line, or with a 0-based one, get
// the line (and where known the column) a reader looks at.
func TestParseProblemPositions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, src string
		want      wantErr
	}{
		{"unexpected end on the first line", `"`, wantErr{1, 0, `invalid YAML: found unexpected end of stream`}},
		{"parser error on the first line", "[a, b", wantErr{1, 0, `invalid YAML: did not find expected ',' or ']'`}},
		{"unclosed flow sequence", head + "      models: [fraud-*\n", wantErr{6, 0, `invalid YAML: did not find expected ',' or ']'`}},
		{"control character after CRLF lines", "version: 1\r\nrules:\r\n  - \x01\r\n", wantErr{3, 5, `invalid YAML: control characters are not allowed (U+0001)`}},
		{"control character after a lone CR", "version: 1\rrules: \x7f\n", wantErr{2, 8, `control characters are not allowed (U+007F)`}},
		{"invalid UTF-8 after multi-byte characters", "version: 1\n# Modèle «é» \xc3\n", wantErr{2, 14, `policy file is not valid UTF-8 (byte 0xC3)`}},
		{"UTF-16 byte order mark", "\xfe\xff\x00v", wantErr{1, 1, `policy file is not valid UTF-8 (byte 0xFE)`}},
		{"unknown anchor", "version: 1\n# *gate in a comment\nx: &gatekeeper 1\nrules: [*gatekeeper, *gate]\n", wantErr{4, 22, `invalid YAML: unknown anchor 'gate' referenced`}},
		{"out-of-range number", head + "    metrics:\n      m: {max: 1_0e999}\n", wantErr{7, 16, `max must be a finite number, got 1_0e999 (out of range)`}},
		{"quoted out-of-range number is a string", head + "    metrics:\n      m: {max: \"1e999\"}\n", wantErr{7, 16, `max must be a number, got the string "1e999"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("p.yml", []byte(tc.src))
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("Parse() error = %v, want Errors", err)
			}
			e := errs[0]
			if e.Line != tc.want.line || e.Column != tc.want.col || !strings.Contains(e.Msg, tc.want.msg) {
				t.Errorf("error = %d:%d: %s\nwant    %d:%d: ...%s...", e.Line, e.Column, e.Msg, tc.want.line, tc.want.col, tc.want.msg)
			}
		})
	}
}

// A policy file that cannot be read is a configuration problem (*Error),
// with its cause.
func TestLoadFileUnreadable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, p := range map[string]string{"missing": filepath.Join(dir, "nope.yml"), "directory": dir} {
		_, err := LoadFileAs(p, p)
		var e *Error
		if !errors.As(err, &e) || e.Line != 0 || e.File != "" || !strings.HasPrefix(e.Msg, `failed to read policy file "`+p+`": `) {
			t.Errorf("%s: LoadFileAs() error = %#v", name, err)
		}
		if name == "missing" && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: LoadFileAs() error %v does not wrap fs.ErrNotExist", name, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "ok.yml"), []byte(head), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFileAs(filepath.Join(dir, "ok.yml"), filepath.Join(dir, "ok.yml")); err != nil {
		t.Errorf("LoadFileAs(ok.yml) error: %v", err)
	}
}
