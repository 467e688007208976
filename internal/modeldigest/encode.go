package modeldigest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// MarshalText writes the manifest in the format of `sha256sum` (one line
// per file: the digest, two spaces, the path), so that it can be stored
// beside a record to name the files that changed, and checked by hand with
// `sha256sum -c` in the model directory. A path holding a backslash or a
// line break is escaped as GNU sha256sum escapes it (the line starts with a
// backslash; "\\" and "\n" stand for them).
func (m *Manifest) MarshalText() ([]byte, error) {
	var b bytes.Buffer
	for _, f := range m.files {
		p := f.Path
		if strings.ContainsAny(p, "\\\n") {
			b.WriteByte('\\')
			p = strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(p)
		}
		b.WriteString(f.Hex())
		b.WriteString("  ")
		b.WriteString(p)
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

// ParseManifest reads what MarshalText wrote. Sizes are unknown (-1).
func ParseManifest(data []byte) (*Manifest, error) {
	var files []FileDigest
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		f, err := parseLine(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("failed to parse manifest line %d: %w", n, err)
		}
		files = append(files, f)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("failed to parse manifest: %w", err)
	}
	return NewManifest(files)
}

func parseLine(line string) (FileDigest, error) {
	escaped := strings.HasPrefix(line, `\`)
	if escaped {
		line = line[1:]
	}
	h, p, ok := strings.Cut(line, "  ")
	if !ok {
		return FileDigest{}, fmt.Errorf("want <sha256 hex>  <path>, got %q", line)
	}
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != sha256.Size {
		return FileDigest{}, fmt.Errorf("invalid sha256 %q", h)
	}
	if escaped {
		if p, err = unescapePath(p); err != nil {
			return FileDigest{}, err
		}
	}
	f := FileDigest{Path: p, Size: -1}
	copy(f.SHA256[:], b)
	return f, nil
}

func unescapePath(p string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '\\' {
			b.WriteByte(p[i])
			continue
		}
		if i+1 == len(p) {
			return "", fmt.Errorf("path %q ends in a lone backslash", p)
		}
		i++
		switch p[i] {
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		default:
			return "", fmt.Errorf("path %q has an unknown escape \\%c", p, p[i])
		}
	}
	return b.String(), nil
}
