package mlflow

import (
	"strings"
	"testing"
)

// The verdicts are MLflow 3.17.2's: each name was run through
// mlflow.utils.validation._validate_model_name.
func TestCheckModelName(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, want string // want: "" for a valid name, else a substring of the error
	}{
		{"fraud-model", ""},
		{"main.fraud.fraud_model", ""},
		{"a..", ""},
		{".hidden", ""},
		{"a b", ""},
		{"modèle", ""},
		{"", "must not be empty"},
		{" ", "must not be empty"},
		{"\u00a0", "must not be empty"},
		{"\x1c\u3000", "must not be empty"},
		{"a/b", `"a/b" may not contain '/' or ':'`},
		{"a:b", `may not contain '/' or ':'`},
		{".", `"." is not a valid MLflow name`},
		{"..", `".." is not a valid MLflow name`},
		{"..a", `"..a" is not a valid MLflow name`},
	}
	for _, tc := range cases {
		err := CheckModelName(tc.name)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckModelName(%q) = %v, want nil", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("CheckModelName(%q) = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}
