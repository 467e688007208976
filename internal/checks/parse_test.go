package checks

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// head is a valid start of a policy: five lines, the rule's keys at column 5.
const head = `version: 1
rules:
  - name: r
    applies-to:
      alias: champion
`

type wantErr struct {
	line, col int
	msg       string // substring of Error.Msg
}

type badCase struct {
	name   string
	src    string
	want   []wantErr
	schema bool // the JSON Schema rejects it too
}

var badCases = []badCase{
	{
		name:   "unknown key near miss",
		src:    head + "    metrics:\n      val_auc:\n        mni: 0.9\n",
		want:   []wantErr{{8, 9, `unknown key "mni" in metric "val_auc" (did you mean "min"?)`}},
		schema: true,
	},
	{
		name:   "unknown top-level key",
		src:    "version: 1\nrulez:\n  - name: r\n",
		want:   []wantErr{{2, 1, `unknown key "rulez" in the policy (did you mean "rules"?)`}},
		schema: true,
	},
	{
		name:   "unknown key lists allowed keys",
		src:    head + "    foo: bar\n",
		want:   []wantErr{{6, 5, `unknown key "foo" in rule (allowed: name, applies-to, require-source, metrics, tags, run, approval, artifacts, on-missing-metric, on-first-deploy)`}},
		schema: true,
	},
	{
		name:   "key at the wrong level",
		src:    head + "    max-age: 7d\n",
		want:   []wantErr{{6, 5, `unknown key "max-age" in rule ("max-age" belongs under run)`}},
		schema: true,
	},
	{
		name:   "underscore for hyphen",
		src:    head + "    on_missing_metric: skip\n",
		want:   []wantErr{{6, 5, `unknown key "on_missing_metric" in rule (did you mean "on-missing-metric"?)`}},
		schema: true,
	},
	{
		name:   "number given as string",
		src:    head + "    metrics:\n      val_auc:\n        min: \"0.9\"\n",
		want:   []wantErr{{8, 14, `min must be a number, got the string "0.9"`}},
		schema: true,
	},
	{
		name:   "version as string",
		src:    "version: \"1\"\n" + strings.TrimPrefix(head, "version: 1\n"),
		want:   []wantErr{{1, 10, `version must be an integer, got the string "1"`}},
		schema: true,
	},
	{
		name:   "missing version",
		src:    strings.TrimPrefix(head, "version: 1\n"),
		want:   []wantErr{{1, 1, `missing required key "version" (set version: 1)`}},
		schema: true,
	},
	{
		name:   "unsupported version",
		src:    "version: 2\n" + strings.TrimPrefix(head, "version: 1\n") + "    future-key: 1\n",
		want:   []wantErr{{1, 10, `unsupported policy version 2: this release reads version 1`}},
		schema: true,
	},
	{
		name:   "empty rules",
		src:    "version: 1\nrules: []\n",
		want:   []wantErr{{2, 8, `rules must not be empty: add at least one rule`}},
		schema: true,
	},
	{
		name:   "missing rules",
		src:    "version: 1\n",
		want:   []wantErr{{1, 1, `missing required key "rules"`}},
		schema: true,
	},
	{
		name:   "rules not a sequence",
		src:    "version: 1\nrules:\n  name: r\n",
		want:   []wantErr{{3, 3, `rules must be a sequence, got a mapping`}},
		schema: true,
	},
	{
		name:   "rule not a mapping",
		src:    "version: 1\nrules:\n  - production\n",
		want:   []wantErr{{3, 5, `rule must be a mapping, got the string "production"`}},
		schema: true,
	},
	{
		name: "missing name and applies-to",
		src:  "version: 1\nrules:\n  - metrics:\n      a: {min: 1}\n",
		want: []wantErr{
			{3, 5, `missing required key "name" in rule`},
			{3, 5, `missing required key "applies-to" in rule: set alias or stage`},
		},
		schema: true,
	},
	{
		name:   "blank name",
		src:    "version: 1\nrules:\n  - name: \" \"\n    applies-to: {alias: champion}\n",
		want:   []wantErr{{3, 11, `name must not be empty`}},
		schema: true,
	},
	{
		name:   "name not a string",
		src:    "version: 1\nrules:\n  - name: 12\n    applies-to: {alias: champion}\n",
		want:   []wantErr{{3, 11, `name must be a string, got an integer (12) (quote it if you mean the string "12")`}},
		schema: true,
	},
	{
		name:   "empty metric entry",
		src:    head + "    metrics:\n      val_auc:\n",
		want:   []wantErr{{7, 7, `metric "val_auc" has no checks: set min, max or vs-champion`}},
		schema: true,
	},
	{
		name:   "empty metric mapping",
		src:    head + "    metrics:\n      val_auc: {}\n",
		want:   []wantErr{{7, 7, `metric "val_auc" has no checks: set min, max or vs-champion`}},
		schema: true,
	},
	{
		name:   "metric given as a bare number",
		src:    head + "    metrics:\n      val_auc: 0.9\n",
		want:   []wantErr{{7, 16, `metric "val_auc" must be a mapping, got a number (0.9) (write min: 0.9 or max: 0.9)`}},
		schema: true,
	},
	{
		name:   "empty metrics",
		src:    head + "    metrics: {}\n",
		want:   []wantErr{{6, 14, `metrics must not be empty (leave the key out instead)`}},
		schema: true,
	},
	{
		name: "min greater than max",
		src:  head + "    metrics:\n      val_auc:\n        min: 0.9\n        max: 0.5\n",
		want: []wantErr{{8, 14, `metric "val_auc": min 0.9 is greater than max 0.5`}},
	},
	{
		name:   "NaN bound",
		src:    head + "    metrics:\n      val_auc:\n        min: .nan\n",
		want:   []wantErr{{8, 14, `min must be a finite number, got .nan`}},
		schema: false, // JSON cannot hold NaN
	},
	{
		name:   "vs-champion with two comparisons",
		src:    head + "    metrics:\n      val_auc:\n        min: 0.9\n        vs-champion:\n          min-improvement: 0.01\n          max-regression: 0.01\n",
		want:   []wantErr{{11, 11, `vs-champion must set only one of min-improvement, min-relative-improvement, max-regression`}},
		schema: true,
	},
	{
		name:   "vs-champion empty",
		src:    head + "    metrics:\n      val_auc:\n        min: 0.9\n        vs-champion: {}\n",
		want:   []wantErr{{9, 22, `vs-champion must set one of min-improvement, min-relative-improvement, max-regression`}},
		schema: true,
	},
	{
		name:   "negative min-improvement",
		src:    head + "    metrics:\n      val_auc:\n        min: 0.9\n        vs-champion:\n          min-improvement: -0.01\n",
		want:   []wantErr{{10, 28, `min-improvement must not be negative, got -0.01 (to allow a regression, use max-regression: 0.01)`}},
		schema: true,
	},
	{
		name:   "negative max-regression",
		src:    head + "    metrics:\n      val_auc:\n        min: 0.9\n        vs-champion:\n          max-regression: -1\n",
		want:   []wantErr{{10, 27, `max-regression must not be negative, got -1`}},
		schema: true,
	},
	{
		name:   "direction not inferable from min and max",
		src:    head + "    metrics:\n      val_auc:\n        min: 0.5\n        max: 0.99\n        vs-champion: {min-improvement: 0}\n",
		want:   []wantErr{{7, 7, `metric "val_auc": set direction (maximize or minimize) for vs-champion: it cannot be inferred when both min and max are set`}},
		schema: true,
	},
	{
		name:   "direction not inferable without bounds",
		src:    head + "    metrics:\n      val_auc:\n        vs-champion: {max-regression: 0.01}\n",
		want:   []wantErr{{7, 7, `it cannot be inferred when neither min nor max is set`}},
		schema: true,
	},
	{
		name:   "bad direction",
		src:    head + "    metrics:\n      val_loss:\n        max: 1\n        direction: minimise\n",
		want:   []wantErr{{9, 20, `direction must be one of maximize, minimize, got "minimise" (did you mean "minimize"?)`}},
		schema: true,
	},
	{
		name:   "bad aggregate",
		src:    head + "    metrics:\n      latency:\n        max: 1\n        aggregate: avg\n",
		want:   []wantErr{{9, 20, `aggregate must be one of last, min, max, mean, got "avg"`}},
		schema: true,
	},
	{
		name:   "bad on-missing-metric",
		src:    head + "    on-missing-metric: ignore\n",
		want:   []wantErr{{6, 24, `on-missing-metric must be one of fail, skip, got "ignore"`}},
		schema: true,
	},
	{
		name:   "bad on-first-deploy",
		src:    head + "    on-first-deploy: skip\n",
		want:   []wantErr{{6, 22, `on-first-deploy must be one of pass, fail, got "skip"`}},
		schema: true,
	},
	{
		name:   "bad duration",
		src:    head + "    run:\n      max-age: 7 days\n",
		want:   []wantErr{{7, 16, `max-age "7 days" is not a duration: use a Go duration with an optional day count, such as 168h, 7d or 1d12h`}},
		schema: true,
	},
	{
		name:   "negative duration",
		src:    head + "    run:\n      max-age: -1h\n",
		want:   []wantErr{{7, 16, `max-age "-1h" must be positive`}},
		schema: true,
	},
	{
		name:   "zero days",
		src:    head + "    run:\n      max-age: 0d\n",
		want:   []wantErr{{7, 16, `max-age "0d" must be positive`}},
		schema: true,
	},
	{
		name:   "duration as a number",
		src:    head + "    run:\n      max-age: 3600\n",
		want:   []wantErr{{7, 16, `max-age must be a duration such as 168h or 7d, got an integer (3600)`}},
		schema: true,
	},
	{
		name:   "bad run status",
		src:    head + "    run:\n      status: DONE\n",
		want:   []wantErr{{7, 15, `run status must be one of RUNNING, SCHEDULED, FINISHED, FAILED, KILLED, got "DONE"`}},
		schema: true,
	},
	{
		name:   "empty run",
		src:    head + "    run: {}\n",
		want:   []wantErr{{6, 10, `run must set status or max-age`}},
		schema: true,
	},
	{
		name: "metric rule for prompts",
		src: "version: 1\nrules:\n  - name: p\n    applies-to:\n      alias: production\n      kind: prompt\n" +
			"    tags: {reviewed: \"true\"}\n    metrics:\n      accuracy: {min: 0.9}\n",
		want:   []wantErr{{8, 5, "metrics cannot be checked in a rule for prompts (applies-to kind: prompt): MLflow links no evaluation metrics to a prompt version"}},
		schema: true,
	},
	{
		name:   "run rule for prompts",
		src:    "version: 1\nrules:\n  - name: p\n    applies-to: {alias: production, kind: prompt}\n    run: {status: FINISHED}\n",
		want:   []wantErr{{5, 5, "run cannot be checked in a rule for prompts (applies-to kind: prompt): a prompt version has no run"}},
		schema: true,
	},
	{
		name:   "unknown kind",
		src:    "version: 1\nrules:\n  - name: p\n    applies-to: {alias: production, kind: prompts}\n",
		want:   []wantErr{{4, 43, `kind must be one of model, prompt, got "prompts" (did you mean "prompt"?)`}},
		schema: true,
	},
	{
		name:   "kind at the wrong level",
		src:    head + "    kind: prompt\n",
		want:   []wantErr{{6, 5, `unknown key "kind" in rule ("kind" belongs under applies-to)`}},
		schema: true,
	},
	{
		name:   "applies-to with neither alias nor stage",
		src:    "version: 1\nrules:\n  - name: r\n    applies-to:\n      models: [a]\n",
		want:   []wantErr{{5, 7, `applies-to must set alias or stage`}},
		schema: true,
	},
	{
		name:   "applies-to with both alias and stage",
		src:    head + "      stage: Production\n",
		want:   []wantErr{{6, 7, `applies-to must set alias or stage, not both: write one rule for each`}},
		schema: true,
	},
	{
		name:   "bad stage",
		src:    "version: 1\nrules:\n  - name: r\n    applies-to:\n      stage: Prod\n",
		want:   []wantErr{{5, 14, `stage must be one of Staging, Production, Archived, None (any case), got "Prod"`}},
		schema: true,
	},
	{
		name:   "alias with invalid characters",
		src:    "version: 1\nrules:\n  - name: r\n    applies-to:\n      alias: champion!\n",
		want:   []wantErr{{5, 14, `alias "champion!" is not a valid MLflow alias: use only letters, digits, "_" and "-"`}},
		schema: true,
	},
	{
		name:   "reserved alias latest",
		src:    "version: 1\nrules:\n  - name: r\n    applies-to:\n      alias: Latest\n",
		want:   []wantErr{{5, 14, `alias "Latest" is reserved by MLflow`}},
		schema: true,
	},
	{
		name:   "reserved version alias",
		src:    "version: 1\nrules:\n  - name: r\n    applies-to:\n      alias: v2\n",
		want:   []wantErr{{5, 14, `alias "v2" is reserved by MLflow for version references`}},
		schema: true,
	},
	{
		// MLflow's ^[vV]\d+$ is a Python str pattern: \d is any Unicode decimal digit.
		name:   "reserved version alias with Arabic-Indic digits",
		src:    "version: 1\nrules:\n  - name: r\n    applies-to:\n      alias: v\u0661\u0662\n",
		want:   []wantErr{{5, 14, "alias \"v\u0661\u0662\" is reserved by MLflow for version references"}},
		schema: true,
	},
	{
		name:   "alias written with @",
		src:    "version: 1\nrules:\n  - name: r\n    applies-to:\n      alias: \"@champion\"\n",
		want:   []wantErr{{5, 14, `alias "@champion": write the alias without "@" (champion)`}},
		schema: true,
	},
	{
		name:   "alias too long",
		src:    "version: 1\nrules:\n  - name: r\n    applies-to:\n      alias: " + strings.Repeat("a", 256) + "\n",
		want:   []wantErr{{5, 14, `alias is longer than 255 characters`}},
		schema: true,
	},
	{
		name:   "stage with a capital I with a dot",
		src:    head + "    require-source:\n      stages: [PRODUCTİON]\n",
		want:   []wantErr{{7, 16, `stage must be one of Staging, Production, Archived, None (any case), got "PRODUCTİON"`}},
		schema: true,
	},
	{
		name:   "run status with a long s",
		src:    head + "    run:\n      status: finiſhed\n",
		want:   []wantErr{{7, 15, `run status must be one of RUNNING, SCHEDULED, FINISHED, FAILED, KILLED, got "finiſhed"`}},
		schema: true,
	},
	{
		name:   "unitless zero after days",
		src:    head + "    run:\n      max-age: 7d0\n",
		want:   []wantErr{{7, 16, `max-age "7d0" is not a duration`}},
		schema: true,
	},
	{
		name: "bad glob",
		src:  head + "      models: [\"fraud-[\"]\n",
		want: []wantErr{{6, 16, `model glob "fraud-[" is not a valid pattern: syntax error in pattern`}},
	},
	{
		name:   "empty models",
		src:    head + "      models: []\n",
		want:   []wantErr{{6, 15, `models must not be empty (leave the key out instead)`}},
		schema: true,
	},
	{
		name:   "empty require-source",
		src:    head + "    require-source: {}\n",
		want:   []wantErr{{6, 21, `require-source must list aliases or stages`}},
		schema: true,
	},
	{
		name:   "bad require-source stage",
		src:    head + "    require-source:\n      stages: [staging, qa]\n",
		want:   []wantErr{{7, 25, `stage must be one of Staging, Production, Archived, None (any case), got "qa"`}},
		schema: true,
	},
	{
		name: "duplicate rule names",
		src:  head + "  - name: r\n    applies-to: {stage: Production}\n",
		want: []wantErr{{6, 11, `duplicate rule name "r" (first used at line 3)`}},
	},
	{
		name: "duplicate keys",
		src:  head + "    metrics:\n      val_auc:\n        min: 0.9\n        min: 0.8\n",
		want: []wantErr{{9, 9, `duplicate key "min" (first defined at line 8)`}},
	},
	{
		name: "duplicate metric",
		src:  head + "    metrics:\n      val_auc: {min: 0.9}\n      val_auc: {min: 0.8}\n",
		want: []wantErr{{8, 7, `duplicate key "val_auc" (first defined at line 7)`}},
	},
	{
		name: "YAML alias",
		src:  head + "    metrics:\n      val_auc:\n        min: &floor 0.9\n      val_f1:\n        min: *floor\n",
		want: []wantErr{{10, 14, `YAML aliases are not allowed (*floor): write the value out`}},
	},
	{
		name: "YAML merge key",
		src:  head + "    metrics:\n      val_auc: &m\n        min: 0.9\n      val_f1:\n        <<: *m\n",
		want: []wantErr{{10, 13, `YAML aliases are not allowed (*m): write the value out`}},
	},
	{
		name:   "tag value unquoted boolean",
		src:    head + "    tags:\n      validated: true\n",
		want:   []wantErr{{7, 18, `tag "validated": unquoted true is a YAML boolean; quote the exact string the tag holds, e.g. "true" (Python's mlflow.set_tag stores True as "True")`}},
		schema: true,
	},
	{
		name: "tag value unquoted word",
		src:  head + "    tags:\n      validated: yes\n",
		want: []wantErr{{7, 18, `tag "validated": write present, absent or a quoted string, e.g. "yes"; got unquoted yes`}},
	},
	{
		name:   "tag value unquoted number",
		src:    head + "    tags:\n      epochs: 10\n",
		want:   []wantErr{{7, 15, `tag "epochs": write present, absent or a quoted string, e.g. "10"; got unquoted 10`}},
		schema: true,
	},
	{
		name:   "tag without value",
		src:    head + "    tags:\n      validated:\n",
		want:   []wantErr{{7, 17, `tag "validated" has no value: write present, absent or a quoted string`}},
		schema: true,
	},
	{
		name:   "tag value is a list",
		src:    head + "    tags:\n      owner: [a, b]\n",
		want:   []wantErr{{7, 14, `tag "owner" must be present, absent or a quoted string, got a sequence`}},
		schema: true,
	},
	{
		name:   "empty tags",
		src:    head + "    tags: {}\n",
		want:   []wantErr{{6, 11, `tags must not be empty (leave the key out instead)`}},
		schema: true,
	},
	{
		name:   "approval min zero",
		src:    head + "    approval:\n      environment-reviews: {min: 0}\n",
		want:   []wantErr{{7, 34, `min must be at least 1, got 0 (leave the entry out to require no approvals)`}},
		schema: true,
	},
	{
		name:   "approval exclude-actor not a boolean",
		src:    head + "    approval:\n      pull-request-reviews: {min: 1, exclude-actor: \"yes\"}\n",
		want:   []wantErr{{7, 53, `exclude-actor must be true or false, got the string "yes"`}},
		schema: true,
	},
	{
		name:   "approval without min",
		src:    head + "    approval:\n      environment-reviews: {}\n",
		want:   []wantErr{{7, 28, `missing required key "min" (the number of approvals required)`}},
		schema: true,
	},
	{
		name:   "approval environment empty",
		src:    head + "    approval:\n      environment-reviews: {min: 1, environment: \" \"}\n",
		want:   []wantErr{{7, 50, `environment must not be empty`}},
		schema: true,
	},
	{
		name:   "approval environment not a string",
		src:    head + "    approval:\n      environment-reviews: {min: 1, environment: [prod]}\n",
		want:   []wantErr{{7, 50, `environment must be a string, got a sequence`}},
		schema: true,
	},
	{
		name:   "empty approval",
		src:    head + "    approval: {}\n",
		want:   []wantErr{{6, 15, `approval must set environment-reviews or pull-request-reviews`}},
		schema: true,
	},
	{
		name:   "policy is a list",
		src:    "- a\n- b\n",
		want:   []wantErr{{1, 1, `the policy must be a mapping, got a sequence`}},
		schema: true,
	},
	{
		name: "empty file",
		src:  "# nothing here\n",
		want: []wantErr{{1, 1, `policy file is empty`}},
	},
	{
		name:   "two documents",
		src:    head + "---\nversion: 1\n",
		want:   []wantErr{{6, 1, `policy file must hold exactly one YAML document; remove the second one`}},
		schema: true,
	},
	{
		name: "YAML syntax error",
		src:  "version: 1\nrules:\n  - name: r\n   applies-to: {alias: champion}\n",
		// The line of the enclosing construct (yaml.v3 says 2: its parser
		// errors give 0-based lines).
		want: []wantErr{{3, 0, `invalid YAML: did not find expected '-' indicator`}},
	},
	{
		name: "YAML tab indentation",
		src:  "version: 1\nrules:\n\t- name: r\n",
		want: []wantErr{{3, 0, `invalid YAML: found character that cannot start any token`}},
	},
	{
		name: "not UTF-8",
		src:  "version: 1\nrules: \xff\n",
		want: []wantErr{{2, 8, `policy file is not valid UTF-8 (byte 0xFF)`}},
	},
	{
		name: "larger than 1 MiB",
		src:  head + strings.Repeat("#", MaxPolicySize),
		want: []wantErr{{1, 1, `policy file is larger than 1 MiB (1048576 bytes)`}},
	},
	{
		name: "every problem at once",
		src: "version: 1\nrules:\n  - name: a\n    applies-to: {alias: champion}\n    metrics:\n      auc: {mni: 1}\n" +
			"  - name: a\n    applies-to: {stage: prod}\n    on-first-deploy: maybe\n",
		want: []wantErr{
			{6, 13, `unknown key "mni" in metric "auc" (did you mean "min"?)`},
			{7, 11, `duplicate rule name "a" (first used at line 3)`},
			{8, 25, `stage must be one of Staging, Production, Archived, None (any case), got "prod"`},
			{9, 22, `on-first-deploy must be one of pass, fail, got "maybe"`},
		},
		schema: true,
	},
}

func TestParseBad(t *testing.T) {
	t.Parallel()
	for _, tc := range badCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pol, err := Parse("policy.yml", []byte(tc.src))
			if err == nil {
				t.Fatalf("Parse() = %+v, want errors", pol)
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Parse() error %T is not Errors: %v", err, err)
			}
			if pol != nil {
				t.Errorf("Parse() returned a policy with errors")
			}
			if len(errs) != len(tc.want) {
				t.Fatalf("Parse() returned %d errors, want %d:\n%v", len(errs), len(tc.want), err)
			}
			for i, w := range tc.want {
				e := errs[i]
				if e.Line != w.line || e.Column != w.col || !strings.Contains(e.Msg, w.msg) || e.File != "policy.yml" {
					t.Errorf("error %d = %s:%d:%d: %s\nwant      policy.yml:%d:%d: ...%s...", i, e.File, e.Line, e.Column, e.Msg, w.line, w.col, w.msg)
				}
			}
		})
	}
}

func TestBadCasesCount(t *testing.T) {
	t.Parallel()
	if len(badCases) < 30 {
		t.Errorf("only %d bad policies", len(badCases))
	}
}

func TestErrorFormat(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  error
		want string
	}{
		{&Error{File: "p.yml", Line: 7, Column: 9, Msg: "boom"}, "p.yml:7:9: boom"},
		{&Error{File: "p.yml", Line: 7, Msg: "boom"}, "p.yml:7: boom"},
		{&Error{File: "p.yml", Msg: "boom"}, "p.yml: boom"},
		{&Error{Line: 2, Column: 3, Msg: "boom"}, "2:3: boom"},
		{&Error{Msg: "boom"}, "boom"},
		{Errors{{File: "f", Line: 1, Column: 1, Msg: "a"}, {File: "f", Line: 2, Column: 5, Msg: "b"}}, "f:1:1: a\nf:2:5: b"},
	}
	for _, tc := range cases {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestParseErrorsSortedAndJoined(t *testing.T) {
	t.Parallel()
	// Problems found in a later pass (rule names) sort before earlier lines' ones.
	src := "rules:\n  - name: x\n    applies-to: {alias: v1}\n    tags: {a: yes}\n  - name: x\n    applies-to: {alias: ok}\n"
	_, err := Parse("p.yml", []byte(src))
	want := strings.Join([]string{
		`p.yml:1:1: missing required key "version" (set version: 1)`,
		`p.yml:3:25: alias "v1" is reserved by MLflow for version references`,
		`p.yml:4:15: tag "a": write present, absent or a quoted string, e.g. "yes"; got unquoted yes`,
		`p.yml:5:11: duplicate rule name "x" (first used at line 2)`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("Parse() error:\n%v\nwant:\n%s", err, want)
	}
	var one *Error
	if !errors.As(err, &one) || one.Line != 1 {
		t.Errorf("errors.As(*Error) = %v, want the first error", one)
	}
}

func f64(v float64) *float64 { return &v }

func TestParseFullExample(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "policies", "full.yml"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse("full.yml", data)
	if err != nil {
		t.Fatalf("Parse() error: %v", err)
	}
	want := &Policy{
		File:      "full.yml",
		Version:   1,
		RulesLine: 3,
		Digest:    Digest(data),
		Rules: []*Rule{{
			Name: "production gate",
			Line: 4,
			AppliesTo: AppliesTo{
				Alias:  "champion",
				Models: []string{"fraud-*"},
			},
			RequireSource: &RequireSource{Aliases: []string{"challenger"}, Stages: []string{"Staging"}, Line: 9},
			Metrics: []*MetricRule{
				{Key: "val_auc", Line: 12, Min: f64(0.9), Direction: DirectionMaximize, Aggregate: AggregateLast,
					VsChampion: &VsChampion{MinImprovement: f64(0.002)}},
				{Key: "val_loss", Line: 16, Max: f64(0.25), Direction: DirectionMinimize, Aggregate: AggregateLast},
				{Key: "latency_p95_ms", Line: 19, Max: f64(40), Direction: DirectionMinimize, Dataset: "holdout", Aggregate: AggregateMax},
			},
			Tags: []*TagRule{
				{Key: "dataset_version", Line: 24, Want: TagPresent},
				{Key: "validated", Line: 25, Want: TagEquals, Value: "true"},
			},
			Run:             &RunRule{Status: "FINISHED", MaxAge: 168 * time.Hour, Line: 27},
			Approval:        &Approval{EnvironmentReviews: &EnvironmentReviews{Min: 1}, PullRequestReviews: &PullRequestReviews{Min: 1, ExcludeActor: true}, Line: 30},
			OnMissingMetric: OnMissingFail,
			OnFirstDeploy:   OnFirstDeployPass,
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse() mismatch (-want +got):\n%s", diff)
	}
}

var goodCases = []struct {
	name string
	src  string
	want []*Rule
}{
	{
		name: "prompt rule with tags, require-source and approval",
		src: "version: 1\nrules:\n  - name: p\n    applies-to: {alias: production, kind: prompt, models: [\"support-*\"]}\n" +
			"    require-source: {aliases: [staging]}\n    tags:\n      reviewed: \"true\"\n" +
			"    approval: {pull-request-reviews: {min: 1}}\n",
		want: []*Rule{{
			Name: "p", Line: 3, AppliesTo: AppliesTo{Alias: "production", Models: []string{"support-*"}, Kind: EntityPrompt},
			RequireSource:   &RequireSource{Aliases: []string{"staging"}, Line: 5},
			Tags:            []*TagRule{{Key: "reviewed", Line: 7, Want: TagEquals, Value: "true"}},
			Approval:        &Approval{PullRequestReviews: &PullRequestReviews{Min: 1}, Line: 8},
			OnMissingMetric: OnMissingFail, OnFirstDeploy: OnFirstDeployPass,
		}},
	},
	{
		name: "explicit kind model",
		src:  "version: 1\nrules:\n  - name: s\n    applies-to: {stage: Production, kind: model}\n    metrics: {acc: {min: 0.5}}\n",
		want: []*Rule{{Name: "s", Line: 3, AppliesTo: AppliesTo{Stage: "Production", Kind: EntityModel},
			Metrics:         []*MetricRule{{Key: "acc", Line: 5, Min: f64(0.5), Direction: DirectionMaximize, Aggregate: AggregateLast}},
			OnMissingMetric: "fail", OnFirstDeploy: "pass"}},
	},
	{
		name: "defaults and canonical stage",
		src:  "version: 1\nrules:\n  - name: s\n    applies-to: {stage: PRODUCTION}\n",
		want: []*Rule{{Name: "s", Line: 3, AppliesTo: AppliesTo{Stage: "Production"}, OnMissingMetric: "fail", OnFirstDeploy: "pass"}},
	},
	{
		name: "explicit direction, relative improvement, skip, first deploy fail",
		src: head + "    metrics:\n      acc:\n        direction: maximize\n        vs-champion: {min-relative-improvement: 0.01}\n" +
			"    on-missing-metric: skip\n    on-first-deploy: fail\n",
		want: []*Rule{{
			Name: "r", Line: 3, AppliesTo: AppliesTo{Alias: "champion"},
			Metrics: []*MetricRule{{Key: "acc", Line: 7, Direction: DirectionMaximize, Aggregate: AggregateLast,
				VsChampion: &VsChampion{MinRelativeImprovement: f64(0.01)}}},
			OnMissingMetric: OnMissingSkip, OnFirstDeploy: OnFirstDeployFail,
		}},
	},
	{
		name: "both bounds with direction and max-regression",
		src:  head + "    metrics:\n      acc:\n        min: 0\n        max: 1\n        direction: minimize\n        vs-champion: {max-regression: 0.5}\n",
		want: []*Rule{{
			Name: "r", Line: 3, AppliesTo: AppliesTo{Alias: "champion"},
			Metrics: []*MetricRule{{Key: "acc", Line: 7, Min: f64(0), Max: f64(1), Direction: DirectionMinimize, Aggregate: AggregateLast,
				VsChampion: &VsChampion{MaxRegression: f64(0.5)}}},
			OnMissingMetric: OnMissingFail, OnFirstDeploy: OnFirstDeployPass,
		}},
	},
	{
		name: "tags keep file order; quoted and block strings compare, plain present/absent check presence",
		src:  head + "    tags:\n      z: absent\n      a: 'present'\n      m: \"\"\n      b: |-\n        multi\n        line\n",
		want: []*Rule{{
			Name: "r", Line: 3, AppliesTo: AppliesTo{Alias: "champion"},
			Tags: []*TagRule{
				{Key: "z", Line: 7, Want: TagAbsent},
				{Key: "a", Line: 8, Want: TagEquals, Value: "present"},
				{Key: "m", Line: 9, Want: TagEquals, Value: ""},
				{Key: "b", Line: 10, Want: TagEquals, Value: "multi\nline"},
			},
			OnMissingMetric: OnMissingFail, OnFirstDeploy: OnFirstDeployPass,
		}},
	},
	{
		name: "days in max-age, lower-case run status, unicode alias",
		src:  "version: 1\nrules:\n  - name: r\n    applies-to: {alias: prod_ä-1}\n    run: {status: finished, max-age: 1d12h}\n",
		want: []*Rule{{
			Name: "r", Line: 3, AppliesTo: AppliesTo{Alias: "prod_ä-1"},
			Run:             &RunRule{Status: "FINISHED", MaxAge: 36 * time.Hour, Line: 5},
			OnMissingMetric: OnMissingFail, OnFirstDeploy: OnFirstDeployPass,
		}},
	},
	{
		name: "a plain date is a string; lateſt is not the reserved alias latest",
		src:  "version: 1\nrules:\n  - name: 2026-01-01\n    applies-to: {alias: lateſt}\n",
		want: []*Rule{{Name: "2026-01-01", Line: 3, AppliesTo: AppliesTo{Alias: "lateſt"}, OnMissingMetric: OnMissingFail, OnFirstDeploy: OnFirstDeployPass}},
	},
	{
		name: "an unused anchor is fine",
		src:  head + "    metrics:\n      acc: &a {min: 0.5}\n",
		want: []*Rule{{
			Name: "r", Line: 3, AppliesTo: AppliesTo{Alias: "champion"},
			Metrics:         []*MetricRule{{Key: "acc", Line: 7, Min: f64(0.5), Direction: DirectionMaximize, Aggregate: AggregateLast}},
			OnMissingMetric: OnMissingFail, OnFirstDeploy: OnFirstDeployPass,
		}},
	},
}

func TestParseGood(t *testing.T) {
	t.Parallel()
	for _, tc := range goodCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse("p.yml", []byte(tc.src))
			if err != nil {
				t.Fatalf("Parse() error: %v", err)
			}
			if diff := cmp.Diff(tc.want, got.Rules); diff != "" {
				t.Errorf("Parse() rules mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseMaxAge(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{"168h", 168 * time.Hour, ""},
		{"7d", 7 * 24 * time.Hour, ""},
		{"1d12h30m", 36*time.Hour + 30*time.Minute, ""},
		{"90m", 90 * time.Minute, ""},
		{"1.5h", 90 * time.Minute, ""},
		{"36500d", 36500 * 24 * time.Hour, ""},
		{"36501d", 0, "is too long"},
		{"36500d1s", 0, "is too long"},
		{"99999999999999999999d", 0, "is too long"},
		{"7d-1h", 0, "is not a duration"},
		{"+1h", 0, "is not a duration"},
		{"-1h", 0, "must be positive"},
		{"0s", 0, "must be positive"},
		{"d", 0, "is not a duration"},
		{"7", 0, "is not a duration"},
		{"", 0, "must be positive"},
	}
	for _, tc := range cases {
		got, err := parseMaxAge(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseMaxAge(%q) error = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseMaxAge(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want string
	}{
		{"mni", "min"},
		{"mxa", "max"},
		{"Max", "max"},
		{"versoin", "version"},
		{"vs_champion", "vs-champion"},
		{"min-improvment", "min-improvement"},
		{"foo", ""},
		{"mean", ""},
	}
	keys := append(append([]string{"version"}, metricKeys...), vsKeys...)
	for _, tc := range cases {
		if got := suggest(tc.in, keys); got != tc.want {
			t.Errorf("suggest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDigest(t *testing.T) {
	t.Parallel()
	data := []byte(head)
	p1, err := Parse("a.yml", data)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := Parse("b.yml", []byte(head))
	if err != nil {
		t.Fatal(err)
	}
	if p1.Digest != p2.Digest {
		t.Errorf("same bytes, different digests: %s, %s", p1.Digest, p2.Digest)
	}
	// sha256 of the raw bytes, independent of the file name.
	const want = "sha256:"
	if !strings.HasPrefix(p1.Digest, want) || len(p1.Digest) != len(want)+64 {
		t.Errorf("Digest = %q, want sha256:<64 hex>", p1.Digest)
	}
	if got := Digest([]byte("")); got != "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("Digest(empty) = %s", got)
	}
	changed := []byte(strings.Replace(head, "name: r", "name: s", 1))
	p3, err := Parse("a.yml", changed)
	if err != nil {
		t.Fatal(err)
	}
	if p3.Digest == p1.Digest {
		t.Errorf("changed byte, same digest %s", p3.Digest)
	}
	// A comment changes the bytes and so the digest: it is the file that is recorded.
	p4, err := Parse("a.yml", append([]byte("# comment\n"), data...))
	if err != nil {
		t.Fatal(err)
	}
	if p4.Digest == p1.Digest {
		t.Errorf("comment added, same digest %s", p4.Digest)
	}
}

func TestLoadFileAs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "policy.yml")
	if err := os.WriteFile(good, []byte(head), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := LoadFileAs(good, good)
	if err != nil {
		t.Fatalf("LoadFileAs() error: %v", err)
	}
	if p.File != good || len(p.Rules) != 1 || p.Digest != Digest([]byte(head)) {
		t.Errorf("LoadFileAs() = %+v", p)
	}

	missing := filepath.Join(dir, "nope.yml")
	_, err = LoadFileAs(missing, missing)
	if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), `failed to read policy file "`+missing+`": `) {
		t.Errorf("LoadFileAs(missing) error = %v", err)
	}

	big := filepath.Join(dir, "big.yml")
	if err := os.WriteFile(big, []byte(head+strings.Repeat("#", 2*MaxPolicySize)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadFileAs(big, big)
	if err == nil || !strings.Contains(err.Error(), big+":1:1: policy file is larger than 1 MiB") {
		t.Errorf("LoadFileAs(big) error = %v", err)
	}
}

func TestParseAliasBomb(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("a: &a [x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 20; i++ {
		prev, cur := string(rune('a'+i-1)), string(rune('a'+i))
		b.WriteString(cur + ": &" + cur + " [" + strings.Repeat("*"+prev+", ", 8) + "*" + prev + "]\n")
	}
	// Expanded, the document would hold 9^20 nodes: a parser that expanded
	// it would not return at all, so no clock is needed to tell.
	_, err := Parse("bomb.yml", []byte(b.String()))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Parse() error = %v", err)
	}
	want := `bomb.yml:2:8: YAML aliases are not allowed (*a): write the value out`
	if !strings.Contains(err.Error(), want) {
		t.Errorf("Parse() error does not contain %q:\n%.500s", want, err)
	}
}
