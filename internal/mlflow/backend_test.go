package mlflow

import (
	"strings"
	"testing"
)

func TestLockName(t *testing.T) {
	t.Parallel()
	if got := LockName("fraud"); got != "mlreg-lock.fraud" {
		t.Errorf("LockName(fraud) = %q", got)
	}
	a, b := strings.Repeat("a", 300)+"x", strings.Repeat("a", 300)+"y"
	la, lb := LockName(a), LockName(b)
	if len(la) > 250 || la == lb || !strings.HasPrefix(la, "mlreg-lock."+strings.Repeat("a", 200)+".") || LockName(a) != la {
		t.Errorf("LockName of long names: %q (%d chars) and %q; want distinct, stable names of at most 250 characters", la, len(la), lb)
	}
}
