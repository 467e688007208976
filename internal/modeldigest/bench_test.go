package modeldigest_test

import (
	"crypto/sha256"
	"io"
	"testing"

	"github.com/mlreg/mlreg-action/internal/modeldigest"
)

// The hashing alone, without a store: Compute over 20 streamed files of
// 8 MiB, against the plain replay (each file read through one buffer into
// sha256, one after the other). bench/cmd/mlreg-bench-digest measures the
// whole path through MLflow's artifact proxy.
//
//	go test -run '^$' -bench . -benchmem ./internal/modeldigest/

const benchFiles, benchSize = 20, 8 << 20

func BenchmarkCompute(b *testing.B) {
	src := streamSource{n: benchFiles, size: benchSize}
	b.SetBytes(benchFiles * benchSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := modeldigest.Compute(b.Context(), src, modeldigest.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReplaySequential(b *testing.B) {
	b.SetBytes(benchFiles * benchSize)
	b.ReportAllocs()
	buf := make([]byte, modeldigest.DefaultBufferSize)
	for b.Loop() {
		for range benchFiles {
			h := sha256.New()
			if _, err := io.CopyBuffer(h, struct{ io.Reader }{&patternReader{left: benchSize}}, buf); err != nil {
				b.Fatal(err)
			}
			h.Sum(nil)
		}
	}
}
