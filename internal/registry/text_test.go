package registry

import (
	"testing"
)

func TestQuoteFilterValue(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "churn", want: "'churn'"},
		{in: "my model", want: "'my model'"},
		{in: `say "hi"`, want: `'say "hi"'`},
		{in: "bob's", want: `"bob's"`},
		{in: `a'b"c`, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := QuoteFilterValue(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("QuoteFilterValue(%q) error = %v, wantErr %v", tc.in, err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("QuoteFilterValue(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
